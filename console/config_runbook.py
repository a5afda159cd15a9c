"""The `runbook:` section of a target: operator commands run through the action life cycle.

Read strictly like the rest of the config (see `console.config_yaml`). What is checked
here, and why:

- `argv` is a list: the command runs without a shell unless `shell: true` is written, and
  then `argv` is exactly one string, run as `/bin/sh -c STRING` (the preview says so).
- Parameters (`{container}`, `{service}`, `{target}`) are substituted only as *whole* argv
  elements. `--name={container}` is refused: a selected name must stay one argument,
  never merge into an option or another argument. Other braces are literal text
  (`--format '{{.Names}}'`), and are never substituted.
- `env` values may be secrets: `redacted()` (what `ops-console config check` prints) and
  the previews and audit records show the variable names only.
- A rollback is always high risk: `risk: low` on one is refused, not obeyed.
- `key` is one plain letter or digit, never a Ctrl-chord, and never a key the console
  already uses everywhere or on the runbook screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.bindings import SPECS
from console.config_yaml import (
    MASK,
    NULL_TAG,
    Reader,
    boolean,
    choice,
    close_match,
    first_use,
    join,
    optional_number,
    optional_text,
    required,
    text,
)

PARAMS = ("container", "service", "target")
KINDS = ("command", "rollback")
RISKS = ("low", "high")
DEFAULT_TIMEOUT = 300.0
TIMEOUT_MAX = 24 * 3600.0

ACTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM = re.compile(r"\{([A-Za-z_]*)\}")
_FIELDS = (
    "name",
    "description",
    "argv",
    "shell",
    "cwd",
    "env",
    "timeout",
    "risk",
    "kind",
    "key",
)


def reserved_keys() -> frozenset[str]:
    """Keys a runbook action may not take: every app-wide key and the runbook screen's."""
    keys: set[str] = set()
    for spec in SPECS:
        if spec.id.startswith(("screen.", "app.", "runbook.")):
            keys.update(k.strip() for k in spec.key.split(","))
    return frozenset(keys)


@dataclass(frozen=True, slots=True)
class RunbookActionConfig:
    """One runbook action: a command the operator runs through the action life cycle."""

    name: str
    """Unique in its target; letters, digits, '_', '.', '-'. Typed to confirm a HIGH
    risk run, and recorded in the audit log as `runbook.NAME`."""
    argv: tuple[str, ...]
    """The command and its arguments; `{container}`, `{service}`, `{target}` as whole
    elements are filled from what is selected."""
    description: str = ""
    """Shown next to the name on the runbook screen and in the confirmation."""
    shell: bool = False
    """Run `argv[0]` (the only element) with `/bin/sh -c`. Off by default."""
    cwd: Path | None = None
    """Working directory; `~` expanded, relative to the config file. None: the console's."""
    env: tuple[tuple[str, str], ...] = ()
    """Variables added to the console's environment; values are never shown."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds before the command is stopped (SIGTERM, then SIGKILL after a grace)."""
    risk: Literal["low", "high"] = "low"
    """"low": `y` confirms; "high": the action's name is typed. Default: low for a
    command; a rollback is always high (`risk: low` on one is an error). Production
    targets always ask for the typed name."""
    kind: Literal["command", "rollback"] = "command"
    """"rollback": also bound to `R` (at most one per target)."""
    key: str | None = None
    """A plain letter or digit that runs this action from the runbook screen."""

    @property
    def params(self) -> tuple[str, ...]:
        """The parameters this action needs from the selection, in argv order."""
        return tuple(p for p in (param_of(a) for a in self.argv) if p is not None)

    @property
    def env_names(self) -> tuple[str, ...]:
        """The names of the added variables: what previews and the audit show."""
        return tuple(name for name, _ in self.env)

    def redacted(self) -> dict[str, Any]:
        """This action shaped like the file, environment values masked."""
        return {
            "name": self.name,
            "description": self.description,
            "argv": list(self.argv),
            "shell": self.shell,
            "cwd": None if self.cwd is None else str(self.cwd),
            "env": dict.fromkeys(self.env_names, MASK),
            "timeout": self.timeout,
            "risk": self.risk,
            "kind": self.kind,
            "key": self.key,
        }


def param_of(element: str) -> str | None:
    """The parameter name if `element` is exactly `{name}` of a known parameter."""
    match = _PARAM.fullmatch(element)
    return match.group(1) if match and match.group(1) in PARAMS else None


def _element_problem(element: str) -> str | None:
    """Why an argv element cannot be used, or None.

    A known parameter inside a larger element (`--name={container}`) is refused: the
    value must stay one element of its own. An element that is exactly `{word}` for an
    unknown word is most likely a typo. Other braces are literal text (docker's
    `--format '{{.Names}}'`, a Python or jq snippet).
    """
    if param_of(element) is not None:
        return None
    whole = _PARAM.fullmatch(element)
    if whole is not None:
        close = close_match(whole.group(1), PARAMS)
        hint = f" (did you mean '{{{close}}}'?)" if close else ""
        return f"unknown parameter {element!r}{hint}: parameters are " + ", ".join(
            f"{{{p}}}" for p in PARAMS
        )
    embedded = [p for p in PARAMS if f"{{{p}}}" in element]
    if embedded:
        return (
            f"{element!r}: {{{embedded[0]}}} must be a whole argv element, e.g. "
            f"['--name', '{{{embedded[0]}}}'], never part of one, so a selected name "
            "cannot merge into an option or another argument"
        )
    return None


def read_runbook(r: Reader, node: Node, path: str, source: Path) -> tuple[RunbookActionConfig, ...]:
    """The target's `runbook:` list."""
    items = r.sequence(node, path, "a list of actions, e.g. `runbook: [{name: ..., argv: [...]}]`")
    actions: list[RunbookActionConfig] = []
    names: dict[str, Node] = {}
    keys: dict[str, Node] = {}
    rollback: Node | None = None
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if not isinstance(item, MappingNode):
            r.report(item, item_path, "expected a mapping of action settings (name, argv, ...)")
            continue
        f = r.fields(item, item_path, _FIELDS)
        action = _read_action(r, f, item, item_path, source)
        if action is None:
            continue
        first_use(r, names, action.name, f["name"], join(item_path, "name"), "action")
        if action.key is not None:
            if action.key in keys:
                first = keys[action.key].start_mark.line + 1
                r.report(
                    f["key"],
                    join(item_path, "key"),
                    f"key {action.key!r} is already used by another action (line {first})",
                )
            keys.setdefault(action.key, f["key"])
        if action.kind == "rollback":
            if rollback is not None:
                r.report(
                    f["kind"],
                    join(item_path, "kind"),
                    "only one rollback action per target: `R` must know which one to run "
                    f"(the first is on line {rollback.start_mark.line + 1})",
                )
            rollback = rollback or f["kind"]
        actions.append(action)
    return tuple(actions)


def _read_action(
    r: Reader, f: dict[str, Node], item: Node, path: str, source: Path
) -> RunbookActionConfig | None:
    if "name" not in f:
        r.report(item, path, "every action needs a `name`")
    if "argv" not in f:
        r.report(item, path, "every action needs an `argv` list (the command and its arguments)")
    name = r.get(f, "name", path, _action_name, None)
    argv = r.get(f, "argv", path, _argv, None)
    shell = r.get(f, "shell", path, boolean, False)
    kind = r.get(f, "kind", path, choice(KINDS), None) or "command"
    risk = r.get(f, "risk", path, choice(RISKS), None)
    cwd_text = r.get(f, "cwd", path, optional_text, None)
    if shell and argv is not None and len(argv) != 1:
        r.report(
            f["argv"],
            join(path, "argv"),
            "with `shell: true`, argv must be exactly one string (the shell command line), "
            f"got {len(argv)} elements",
        )
    if kind == "rollback" and risk == "low":
        r.report(
            f["risk"],
            join(path, "risk"),
            "a rollback is always high risk (its name is typed to confirm): remove `risk: low`",
        )
    if shell and argv is not None and any(param_of(a) for a in argv):
        r.report(f["argv"], join(path, "argv"), "parameters cannot be used with `shell: true`")
    if name is None or argv is None:
        return None
    return RunbookActionConfig(
        name=name,
        argv=argv,
        description=r.get(f, "description", path, optional_text, None) or "",
        shell=shell,
        cwd=None if cwd_text is None else _resolve_path(cwd_text, source),
        env=_read_env(r, f["env"], join(path, "env")) if "env" in f else (),
        timeout=r.get(f, "timeout", path, _timeout, DEFAULT_TIMEOUT),
        risk=risk or ("high" if kind == "rollback" else "low"),  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        key=r.get(f, "key", path, _key, None),
    )


def _resolve_path(raw: str, source: Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else source.parent.absolute() / path


_timeout = required(optional_number(at_most=TIMEOUT_MAX), "a number of seconds")


def _action_name(r: Reader, node: Node) -> str:
    name = text(r, node)
    if not ACTION_NAME.fullmatch(name):
        r.fail(
            f"bad action name {name!r}: use letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def _argv(r: Reader, node: Node) -> tuple[str, ...]:
    if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
        r.fail(
            "expected a list of strings, e.g. [kubectl, rollout, undo, deployment/web] "
            "(write `shell: true` and a one-element list to run a shell command line)"
        )
    items = node.value if isinstance(node, SequenceNode) else []
    if not items:
        r.fail("expected a non-empty list: the command and its arguments")
    argv: list[str] = []
    for element in items:
        value = text(r, element)
        problem = _element_problem(value)
        if problem:
            r.fail(problem)
        argv.append(value)
    return tuple(argv)


def _read_env(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    env: list[tuple[str, str]] = []
    for name, key_node, value_node in r.items(node, path, "a mapping of variable names to values"):
        item_path = join(path, name)
        if not ENV_NAME.fullmatch(name):
            r.report(key_node, item_path, "bad variable name: letters, digits and '_'")
            continue
        # Not `describe(value)` on errors: the value may be a secret.
        if not isinstance(value_node, ScalarNode):
            r.report(value_node, item_path, "expected a string value")
            continue
        value = r.convert(value_node, item_path, optional_text, None)
        env.append((name, value or ""))
    return tuple(env)


def _key(r: Reader, node: Node) -> str | None:
    key = optional_text(r, node)
    if key is None:
        return None
    lowered = key.lower()
    if "+" in key and any(mod in lowered for mod in ("ctrl", "alt", "meta", "shift", "super")):
        r.fail("runbook actions must stay on plain keys, not chords (pressed by reflex)")
    if len(key) != 1 or not key.isascii() or not key.isalnum():
        r.fail(f"expected one plain letter or digit, got {key!r}")
    if key in reserved_keys():
        r.fail(
            f"key {key!r} is already used by the console (its screens, quit, arming, "
            "or the runbook screen's own keys): pick another letter"
        )
    return key
