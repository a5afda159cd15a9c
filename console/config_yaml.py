"""A strict YAML reader that remembers where every value came from.

`yaml.safe_load` gives plain dicts and forgets line numbers, so an error could only say
"port is wrong". Here the file is *composed* with the safe loader (nodes keep their
`start_mark`) and walked by hand: every problem names the file, the line and the dotted
key path, duplicate keys are caught (PyYAML silently keeps the last one), and `${VAR}`
interpolation happens on the text before it is converted to a number or a boolean.

Problems are collected, not raised one at a time, so an operator fixing a broken config
over SSH sees every mistake in one run. `Reader.finish()` raises them all together.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar
from urllib.parse import SplitResult, urlsplit

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

T = TypeVar("T")

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"


class ConfigError(Exception):
    """The configuration cannot be used. `str(err)` is the full message for the operator.

    One line per problem, each `FILE:LINE: key.path: what is wrong`; `problems` holds the
    same lines as a tuple.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        super().__init__("\n".join(self.problems))


class Invalid(Exception):
    """A value failed conversion; caught by `Reader.get`, which records where."""


# --- interpolation -------------------------------------------------------------------

# `$$` or `${...}`; a `$` followed by anything else is kept literally, so a password
# such as `pa$word` survives without escaping.
_DOLLAR = re.compile(r"\$(?:\$|\{([^}]*)\}|\{)")
_VAR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Replace `${VAR}` and `${VAR:-default}` from `env`; `$$` is a literal `$`.

    As in the shell, `:-` uses the default when VAR is unset *or empty*. Substituted
    values are not interpolated again. Raises `Invalid` for an unset VAR without a
    default or a malformed `${...}`.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = match.group(1)
        if body is None:
            raise Invalid("unterminated '${' (write '$$' for a literal '$')")
        var = _VAR.fullmatch(body)
        if var is None:
            raise Invalid(
                f"bad interpolation '${{{body}}}': expected ${{NAME}} or ${{NAME:-default}}"
            )
        name, default = var.group(1), var.group(2)
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            raise Invalid(
                f"environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )
        return value

    return _DOLLAR.sub(substitute, text)


# --- reading the file ----------------------------------------------------------------


def compose_file(path: Path, label: str) -> Node | None:
    """The YAML node tree of `path` (None for an empty file); `label` names it in errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read config file: {exc.strerror or exc}") from None
    return compose_text(text, label)


def compose_text(text: str, label: str) -> Node | None:
    """Compose YAML text with the safe loader; syntax errors become one-line `ConfigError`s."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_error_message(exc, label)) from None
    except yaml.YAMLError as exc:  # ReaderError (control characters) carries no mark
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None


def _yaml_error_message(exc: yaml.MarkedYAMLError, label: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    what = exc.problem or "syntax error"
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        what += f" ({exc.context} on line {exc.context_mark.line + 1})"
    return f"{where}: invalid YAML: {what}"


# --- walking the nodes ---------------------------------------------------------------


def describe(node: Node) -> str:
    """How a value is shown in 'expected X, got Y' messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "nothing (null)"
    return repr(node.value)


def close_match(word: str, choices: Collection[str]) -> str | None:
    """The choice `word` was most likely meant to be, if any is close enough."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggestion(word: str, choices: Collection[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest choice, else the list of valid choices."""
    close = close_match(word, choices)
    if close:
        return f" (did you mean '{close}'?)"
    return f" (expected one of: {', '.join(sorted(choices))})" if choices else ""


def join(path: str, key: str) -> str:
    """Dotted key path: `targets` + `prod` -> `targets.prod`."""
    return f"{path}.{key}" if path else key


Converter = Callable[["Reader", Node], T]


class Reader:
    """Walks composed nodes, converting values and collecting located problems."""

    def __init__(self, label: str, env: Mapping[str, str]) -> None:
        self.label = label
        self.env = env
        self._problems: list[tuple[int, str]] = []

    @property
    def problems(self) -> list[str]:
        """Problems so far, in file order (they are found section by section)."""
        return [message for _, message in sorted(self._problems, key=lambda p: p[0])]

    def report(self, node: Node | None, path: str, message: str) -> None:
        """Record a problem at `node`'s line under key `path`."""
        line = node.start_mark.line + 1 if node is not None else 0
        where = f"{self.label}:{line}" if line else self.label
        self._problems.append(
            (line, f"{where}: {path}: {message}" if path else f"{where}: {message}")
        )

    def finish(self) -> None:
        """Raise every recorded problem as one `ConfigError`, if there is any."""
        if self._problems:
            raise ConfigError(self.problems)

    def fail(self, message: str) -> NoReturn:
        raise Invalid(message)

    # mappings

    def items(self, node: Node, path: str, what: str = "a mapping") -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping with free-form keys, in file order.

        A null value (a section whose entries are all commented out) is an empty
        mapping. Duplicate and non-scalar keys are reported and skipped.
        """
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return []
        if not isinstance(node, MappingNode):
            self.report(node, path, f"expected {what}, got {describe(node)}")
            return []
        seen: dict[str, Node] = {}
        out: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.report(key_node, path, f"keys must be plain names, got {describe(key_node)}")
                continue
            key = key_node.value
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.report(key_node, join(path, key), f"duplicate key (first set on line {first})")
                continue
            seen[key] = key_node
            out.append((key, key_node, value_node))
        return out

    def sequence(self, node: Node, path: str, what: str = "a list") -> list[Node]:
        """The item nodes of a list, in file order. A null value (every item commented
        out) is an empty list; anything else is reported as not being `what`."""
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return []
        if not isinstance(node, SequenceNode):
            self.report(node, path, f"expected {what}, got {describe(node)}")
            return []
        return list(node.value)

    def fields(self, node: Node, path: str, known: Collection[str]) -> dict[str, Node]:
        """Value nodes by key of a mapping whose keys must be among `known`."""
        out: dict[str, Node] = {}
        for key, key_node, value_node in self.items(node, path):
            if key in known:
                out[key] = value_node
            elif key == "<<":
                self.report(key_node, path, "YAML merge keys ('<<') are not supported")
            else:
                self.report(key_node, join(path, key), "unknown key" + suggestion(key, known))
        return out

    def get(
        self, fields: Mapping[str, Node], key: str, path: str, convert: Converter[T], default: T
    ) -> T:
        """`fields[key]` converted; `default` if absent, or reported and `default` if invalid."""
        node = fields.get(key)
        if node is None:
            return default
        return self.convert(node, join(path, key), convert, default)

    def convert(self, node: Node, path: str, convert: Converter[T], default: T) -> T:
        """Run `convert` on `node`, reporting a failure at its line under `path`."""
        try:
            return convert(self, node)
        except Invalid as exc:
            self.report(node, path, str(exc))
            return default

    # scalars

    def scalar(self, node: Node, expected: str) -> tuple[str, str]:
        """(tag, text) of a scalar after interpolation.

        A string whose text was interpolated or quoted is re-resolved as if it had been
        written plain, so `port: ${PGPORT:-5432}` and `port: "5432"` both give an int.
        """
        if not isinstance(node, ScalarNode):
            self.fail(f"expected {expected}, got {describe(node)}")
        if node.tag != STR_TAG:
            return node.tag, node.value
        text = interpolate(node.value, self.env)
        return _RESOLVER.resolve(ScalarNode, text, (True, False)), text


_RESOLVER = Resolver()


def _construct(tag: str, text: str) -> object:
    return SafeConstructor().construct_object(ScalarNode(tag, text))


def _got(node: Node, text: str) -> str:
    """The offending value; shows the raw text too when interpolation changed it."""
    if isinstance(node, ScalarNode) and node.value != text:
        return f"{text!r} (from {node.value!r})"
    return repr(text)


# --- converters: (reader, node) -> value, raising Invalid ----------------------------


def text(r: Reader, node: Node) -> str:
    """A non-empty string. Plain numbers and booleans keep their text as written."""
    value = optional_text(r, node)
    if value is None:
        r.fail("expected a non-empty string, got nothing")
    return value


def optional_text(r: Reader, node: Node) -> str | None:
    """A string, or None for null or an empty value (so `${VAR:-}` means "not set")."""
    if not isinstance(node, ScalarNode):
        r.fail(f"expected a string, got {describe(node)}")
    if node.tag == NULL_TAG:
        return None
    value = interpolate(node.value, r.env) if node.tag == STR_TAG else node.value
    return value or None


def boolean(r: Reader, node: Node) -> bool:
    """`true`/`false` (YAML 1.1 also reads yes/no/on/off)."""
    tag, value = r.scalar(node, "true or false")
    if tag != BOOL_TAG:
        r.fail(f"expected true or false, got {_got(node, value)}")
    return bool(_construct(tag, value))


def optional_integer(low: int, high: int | None = None) -> Converter[int | None]:
    """An integer in [low, high] (no upper bound if `high` is None), or None for null/empty."""

    def convert(r: Reader, node: Node) -> int | None:
        tag, value = r.scalar(node, "an integer")
        if tag == NULL_TAG:
            return None
        if tag != INT_TAG:
            r.fail(f"expected an integer, got {_got(node, value)}")
        try:
            number = int(_construct(tag, value))  # type: ignore[call-overload]
        except (ConstructorError, ValueError):
            r.fail(f"expected an integer, got {_got(node, value)}")
        if high is None and number < low:
            r.fail(f"must be at least {low}, got {number}")
        if high is not None and not low <= number <= high:
            r.fail(f"must be between {low} and {high}, got {number}")
        return number

    return convert


def optional_number(*, above: float = 0.0, at_most: float = math.inf) -> Converter[float | None]:
    """A finite number > `above` and <= `at_most`, or None for null/empty."""

    def convert(r: Reader, node: Node) -> float | None:
        tag, value = r.scalar(node, "a number")
        if tag == NULL_TAG:
            return None
        number = _to_float(tag, value)
        if number is None or not math.isfinite(number):
            r.fail(f"expected a number, got {_got(node, value)}")
        if number <= above:
            r.fail(f"must be greater than {above:g}, got {number:g}")
        if number > at_most:
            r.fail(f"must be at most {at_most:g}, got {number:g}")
        return number

    return convert


def _to_float(tag: str, value: str) -> float | None:
    if tag == BOOL_TAG:  # bool is an int in Python; `refresh: yes` is a mistake
        return None
    if tag in (INT_TAG, FLOAT_TAG):
        return float(_construct(tag, value))  # type: ignore[arg-type]
    try:  # YAML 1.1 reads `1e3` as a string; Python knows better
        return float(value)
    except ValueError:
        return None


def required(convert: Converter[T | None], expected: str) -> Converter[T]:
    """`convert`, with null rejected: for settings whose default is not None."""

    def strict(r: Reader, node: Node) -> T:
        value = convert(r, node)
        if value is None:
            r.fail(f"expected {expected}, got nothing")
        return value

    return strict


def choice(options: Collection[str]) -> Converter[str | None]:
    """One of `options`, or None for null/empty."""

    def convert(r: Reader, node: Node) -> str | None:
        value = optional_text(r, node)
        if value is not None and value not in options:
            r.fail(f"unknown value {value!r}" + suggestion(value, options))
        return value

    return convert


# --- shared by every section -----------------------------------------------------------

TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""Target names and instance names."""
BAD_NAME = "use letters, digits, '_', '.', '-', starting with a letter or digit"
REFRESH_MAX = 3600.0
MASK = "********"


def resolve_path(raw: str, source: Path) -> Path:
    """`~` expanded; a relative path is taken from the config file's directory, not the
    working directory, which differs with every SSH session."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else source.parent.absolute() / path


def checked_url(r: Reader, url: str, schemes: Collection[str]) -> SplitResult:
    """`url` split, after the checks every URL setting needs: a scheme among `schemes`
    and a parseable host and port. Messages show the URL password-masked."""
    shown = redact_dsn(url)
    scheme, sep, _ = url.partition("://")
    if not sep:
        *first, last = [f"{s}://" for s in schemes]
        listed = f"{', '.join(first)} or {last}" if first else last
        r.fail(f"expected a URL starting with {listed}, got {shown!r}")
    if scheme.lower() not in schemes:
        r.fail(f"unknown scheme {scheme!r} in {shown!r}" + suggestion(scheme.lower(), schemes))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:  # a bad port, an unbalanced [ ...
        r.fail(f"malformed URL {shown!r}: {exc}")
    return parts


# userinfo password in a URI: scheme://user:SECRET@host. The secret runs to the *last* `@`,
# so a password with an unescaped '/', '?' or '@' is still masked whole (at worst a URL
# with '@' in its query is over-masked, never a secret shown).
_URI_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)(.*)(@)", re.DOTALL)
# password=... in a URI query or a keyword DSN; values may be 'quoted with \' escapes'
_KEY_PASSWORD = re.compile(r"((?<![\w])(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)")


def redact_dsn(dsn: str) -> str:
    """`dsn` with every password (URI userinfo, `password=`, `sslpassword=`) masked.

    Also used for Redis URLs (`redis://user:SECRET@host`, `?password=`)."""
    masked = _URI_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), dsn, count=1)
    return _KEY_PASSWORD.sub(lambda m: m.group(1) + MASK, masked)


def first_use(
    r: Reader, names: dict[str, Node], name: str, node: Node, path: str, noun: str
) -> bool:
    """Record `name` as given at `node`; report a duplicate (with the line it was first
    used on) and return False when it was seen before."""
    if name in names:
        first = names[name].start_mark.line + 1
        r.report(node, path, f"duplicate {noun} name {name!r} (first used on line {first})")
        return False
    names[name] = node
    return True


def named_entries(
    r: Reader,
    node: Node,
    path: str,
    keys: Collection[str],
    *,
    noun: str,
    owner: str,
    settings: str,
    expected: str,
    example: str,
    default_name: str,
) -> list[tuple[str, dict[str, Node], str]]:
    """(name, fields, path) of each entry of a list of mappings known by a unique `name`
    (Redis instances, Docker hosts): the name may be left out only when the list has one
    entry (`default_name` then); bad and duplicate names are reported.

    In messages: `noun` names an entry's name ("instance"), `owner` the thing ("Redis
    instance"), `settings` its mapping ("instance settings"), `expected` the whole list,
    `example` the form to write instead of a lone value ("- url: redis://...").
    """
    items = r.sequence(node, path, expected)
    out: list[tuple[str, dict[str, Node], str]] = []
    names: dict[str, Node] = {}
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if isinstance(item, ScalarNode) and item.tag != NULL_TAG:
            # not `describe(item)`: the value is likely a URL with a password in it
            r.report(
                item,
                item_path,
                f"expected a mapping of {settings}, got a single value (write `{example}`)",
            )
            continue
        f = r.fields(item, item_path, keys)
        name = r.get(f, "name", item_path, optional_text, None)
        if name is None:
            if len(items) > 1:
                r.report(
                    f.get("name", item),
                    join(item_path, "name"),
                    f"required when a target lists more than one {owner}",
                )
            name = default_name
        elif not TARGET_NAME.fullmatch(name):
            r.report(f["name"], join(item_path, "name"), f"bad {noun} name: {BAD_NAME}")
        else:
            first_use(r, names, name, f["name"], join(item_path, "name"), noun)
        out.append((name, f, item_path))
    return out
