"""The `health:` section of a target: HTTP(S) and TCP checks of the services.

Read strictly like the rest of the config (see `console.config_yaml`): unknown keys,
wrong types, HTTP settings on a TCP check, a CA bundle with verification off and
duplicate check names are errors naming file, line and key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode

from console.config_yaml import (
    MASK,
    NULL_TAG,
    STR_TAG,
    Reader,
    boolean,
    choice,
    first_use,
    join,
    optional_integer,
    optional_number,
    optional_text,
    required,
    text,
)

METHODS = ("GET", "HEAD", "POST", "PUT", "OPTIONS")
CHECK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
INTERVAL_MIN = 1.0
LIMIT_MAX = 3600.0


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """One health check: an HTTP(S) request (`url`) or a TCP connection (`host`, `port`)."""

    name: str
    """Unique in the target; how the check is shown and selected."""
    url: str | None = None
    """http:// or https:// URL of an HTTP check."""
    method: str = "GET"
    """GET, HEAD, POST, PUT or OPTIONS."""
    headers: tuple[tuple[str, str], ...] = ()
    """Request headers; values may be secrets (write `${VAR}`) and are never printed."""
    expect_status: tuple[int, ...] = ()
    """Acceptable status codes; empty: any 2xx."""
    expect_json: tuple[tuple[str, Any], ...] = ()
    """(dotted path, value) the JSON body must hold, e.g. `services.database: connected`."""
    body_contains: str | None = None
    """Text the body must contain (within the first 64 KB)."""
    version_path: str | None = "version"
    """Dotted path of the service's version in a JSON body, shown on screen; None: none."""
    host: str | None = None
    """Host of a TCP check (a database, a cache)."""
    port: int | None = None
    """Port of a TCP check."""
    timeout: float = 5.0
    """Seconds one check may take, connection to the last byte read."""
    interval: float = 10.0
    """Seconds between two starts of the check (at least 1)."""
    verify: bool = True
    """Verify the TLS certificate; false is marked "insecure" on screen."""
    ca_bundle: Path | None = None
    """CA bundle (PEM) that verifies this check's server instead of the system's."""
    follow_redirects: bool = False
    """Follow up to 5 redirects; otherwise a 3xx is reported with where it points."""
    latency_warn_ms: float = 2000.0
    """Degraded above this latency (milliseconds)."""
    critical_after: int = 3
    """Down after this many consecutive failures; fewer is degraded."""
    cert_warn_days: float = 30.0
    """Degraded when the certificate expires within this many days."""
    cert_critical_days: float = 7.0
    """Down when the certificate expires within this many days (or has expired)."""

    @property
    def kind(self) -> str:
        return "http" if self.url is not None else "tcp"

    @property
    def insecure(self) -> bool:
        return self.url is not None and self.url.lower().startswith("https:") and not self.verify

    def redacted(self) -> dict[str, Any]:
        """Shaped like the file, header values masked (they often hold tokens). Only the
        settings that apply: a TCP check shows none of the HTTP ones (the file may not
        set them on it either, so the output still loads as a config)."""
        out: dict[str, Any] = {"name": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name" or (value is None and f.name != "version_path"):
                continue
            if self.kind == "tcp" and f.name in HTTP_ONLY:
                continue
            if f.name == "headers":
                out["headers"] = {k: MASK for k, _ in value}
            elif f.name == "expect_json":
                out["expect_json"] = dict(value)
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            elif isinstance(value, Path):
                out[f.name] = str(value)
            else:
                out[f.name] = value
        return out


FIELD_NAMES = tuple(f.name for f in fields(HealthCheckConfig))
HTTP_ONLY = (
    "method",
    "headers",
    "expect_status",
    "expect_json",
    "body_contains",
    "version_path",
    "verify",
    "ca_bundle",
    "follow_redirects",
    "cert_warn_days",
    "cert_critical_days",
)


def read_health(r: Reader, node: Node, path: str, source: Path) -> tuple[HealthCheckConfig, ...]:
    """The target's `health:` list of checks, in the order the screen shows them."""
    items = r.sequence(node, path, "a list of checks, e.g. `health: [{name: api, url: ...}]`")
    checks: list[HealthCheckConfig] = []
    names: dict[str, Node] = {}
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if not isinstance(item, MappingNode):
            r.report(item, item_path, "expected a mapping of check settings (name, url...)")
            continue
        check = _read_check(r, item, item_path, source)
        if check is None:
            continue
        if first_use(r, names, check.name, item, join(item_path, "name"), "check"):
            checks.append(check)
    return tuple(checks)


_seconds = required(optional_number(at_most=LIMIT_MAX), "a number of seconds")


def _read_check(r: Reader, node: Node, path: str, source: Path) -> HealthCheckConfig | None:
    f = r.fields(node, path, FIELD_NAMES)
    name = r.get(f, "name", path, optional_text, None)
    if name is None:
        r.report(f.get("name", node), join(path, "name"), "every check needs a name")
        return None
    if not CHECK_NAME.fullmatch(name) or len(name) > 64:
        r.report(
            f["name"],
            join(path, "name"),
            "bad check name: up to 64 letters, digits, '_', '.', ':', '-', "
            "starting with a letter or digit",
        )
    url = r.get(f, "url", path, _url, None)
    host = r.get(f, "host", path, optional_text, None)
    port = r.get(f, "port", path, optional_integer(1, 65535), None)
    if url is None and "url" not in f and host is None and port is None:
        r.report(node, path, "a check needs `url` (HTTP) or `host` and `port` (TCP)")
    if url is not None and ("host" in f or "port" in f):
        r.report(f.get("host", f.get("port")), path, "give `url` or `host`/`port`, not both")
    if url is None and "url" not in f:
        if (host is None) != (port is None):
            missing = "port" if port is None else "host"
            r.report(node, join(path, missing), "a TCP check needs both `host` and `port`")
        for key in HTTP_ONLY:
            if key in f:
                r.report(f[key], join(path, key), "only for HTTP checks (those with a `url`)")
    verify = r.get(f, "verify", path, boolean, True)
    ca_raw = r.get(f, "ca_bundle", path, optional_text, None)
    ca_bundle = _ca_bundle(r, f, path, ca_raw, source, verify, url)
    warn = r.get(f, "cert_warn_days", path, _days, 30.0)
    critical = r.get(f, "cert_critical_days", path, _days, 7.0)
    if critical > warn:
        r.report(
            f.get("cert_critical_days", node),
            join(path, "cert_critical_days"),
            f"must not be more than cert_warn_days ({warn:g})",
        )
    return HealthCheckConfig(
        name=name,
        url=url,
        method=r.get(f, "method", path, _method, "GET"),
        headers=_headers(r, f["headers"], join(path, "headers")) if "headers" in f else (),
        expect_status=r.get(f, "expect_status", path, _statuses, ()),
        expect_json=_expect_json(r, f["expect_json"], join(path, "expect_json"))
        if "expect_json" in f
        else (),
        body_contains=r.get(f, "body_contains", path, optional_text, None),
        version_path=r.get(f, "version_path", path, optional_text, None)
        if "version_path" in f
        else "version",
        host=host,
        port=port,
        timeout=r.get(f, "timeout", path, _seconds, 5.0),
        interval=r.get(f, "interval", path, _interval, 10.0),
        verify=verify,
        ca_bundle=ca_bundle,
        follow_redirects=r.get(f, "follow_redirects", path, boolean, False),
        latency_warn_ms=r.get(
            f, "latency_warn_ms", path, required(optional_number(), "milliseconds"), 2000.0
        ),
        critical_after=r.get(
            f, "critical_after", path, required(optional_integer(1, 100), "a count"), 3
        ),
        cert_warn_days=warn,
        cert_critical_days=critical,
    )


def _ca_bundle(
    r: Reader,
    f: dict[str, Node],
    path: str,
    raw: str | None,
    source: Path,
    verify: bool,
    url: str | None,
) -> Path | None:
    if raw is None:
        return None
    where = join(path, "ca_bundle")
    if not verify:
        r.report(f["ca_bundle"], where, "a CA bundle with `verify: false` is never used")
    if url is not None and not url.lower().startswith("https:"):
        r.report(f["ca_bundle"], where, "a CA bundle is only used over TLS: use an https:// url")
    bundle = Path(raw).expanduser()
    if not bundle.is_absolute():
        bundle = source.parent.absolute() / bundle
    if not bundle.is_file():
        r.report(f["ca_bundle"], where, f"no such file: {bundle}")
    return bundle


def _interval(r: Reader, node: Node) -> float:
    value = required(optional_number(at_most=LIMIT_MAX), "a number of seconds")(r, node)
    if value < INTERVAL_MIN:
        r.fail(f"must be at least {INTERVAL_MIN:g} s, got {value:g}")
    return value


def _days(r: Reader, node: Node) -> float:
    return required(optional_number(above=-1e-9), "a number of days")(r, node)


def _method(r: Reader, node: Node) -> str:
    value = choice(METHODS)(r, _upper(node))
    if value is None:
        r.fail("expected an HTTP method, got nothing")
    return value


def _upper(node: Node) -> Node:
    if isinstance(node, ScalarNode) and node.tag == STR_TAG:
        return ScalarNode(node.tag, node.value.upper(), node.start_mark, node.end_mark)
    return node


def _url(r: Reader, node: Node) -> str | None:
    url = optional_text(r, node)
    if url is None:
        r.fail("expected an http:// or https:// URL, got nothing")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        r.fail(f"malformed URL {url!r}: {exc}")
    if parts.scheme.lower() not in ("http", "https"):
        r.fail(f"expected an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        r.fail(f"the URL {url!r} has no host")
    if parts.password:
        r.fail("no password in the URL: use an `Authorization` header with ${VAR}")
    return url


def _statuses(r: Reader, node: Node) -> tuple[int, ...]:
    nodes = node.value if not isinstance(node, ScalarNode) else [node]
    if not isinstance(nodes, list):
        r.fail("expected a status code or a list of them")
    codes: list[int] = []
    for item in nodes:
        code = optional_integer(100, 599)(r, item)
        if code is not None:
            codes.append(code)
    return tuple(codes)


def _headers(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, key_node, value_node in r.items(node, path, "a mapping of header names to values"):
        where = join(path, name)
        if not _HEADER_NAME.fullmatch(name):
            r.report(key_node, where, "not a valid HTTP header name")
            continue
        # not `describe(value)` in messages: the value is likely a token
        value = r.convert(value_node, where, required(optional_text, "a header value"), "")
        if any(c in value for c in "\r\n\0"):
            r.report(value_node, where, "a header value cannot hold line breaks")
            continue
        out.append((name, value))
    return tuple(out)


def _expect_json(r: Reader, node: Node, path: str) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    for key, _key_node, value_node in r.items(node, path, "a mapping of JSON paths to values"):
        value = r.convert(value_node, join(path, key), _json_scalar, None)
        out.append((key, value))
    return tuple(out)


def _json_scalar(r: Reader, node: Node) -> Any:
    """A string, number, boolean or null. A quoted value stays a string (`"2"` is not 2)."""
    if not isinstance(node, ScalarNode):
        r.fail("expected a single value (string, number, true/false or null)")
    if node.tag == STR_TAG and node.style in ("'", '"'):
        return text(r, node) if node.value else ""
    tag, value = r.scalar(node, "a value")
    if tag == NULL_TAG:
        return None
    if tag == STR_TAG:
        return value
    return SafeConstructor().construct_object(ScalarNode(tag, value))
