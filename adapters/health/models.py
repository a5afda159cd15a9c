"""Plain frozen dataclasses of the health checks: what to check, what one check found,
and what the console knows about each check over time.

Raw values only (seconds, epoch times, strings as received): colours, wording and
sanitising of the untrusted text (headers, bodies, certificate names) happen in the
widgets. Nothing here imports a driver, so widgets may import it freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["up", "degraded", "down", "unknown"]
STATES: tuple[State, ...] = ("up", "degraded", "down", "unknown")

#: Why a check failed. Each reads as itself on screen, never as a generic failure.
ErrorKind = Literal[
    "dns",  # the host name does not resolve
    "refused",  # nothing listens on the port
    "unreachable",  # no route, network down, connection reset...
    "timeout",  # no (complete) answer within the check's timeout
    "tls-expired",  # the server's certificate has expired
    "tls-hostname",  # the certificate is for another host name
    "tls-self-signed",  # self-signed (or signed by a CA we do not trust)
    "tls-untrusted",  # signed by an issuer we cannot verify
    "tls",  # any other TLS failure (protocol, handshake)
    "protocol",  # the server broke HTTP (closed without a response, garbage)
    "redirects",  # too many redirects
    "status",  # an HTTP status that is not expected
    "not-json",  # a JSON expectation, and the body is not JSON (or was truncated)
    "json",  # the JSON body does not match an expectation
    "body",  # the expected substring is not in the body
    "error",  # anything else
]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """What one check does. `url` for HTTP(S); `host` and `port` for TCP."""

    name: str
    url: str | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    expect_status: tuple[int, ...] = ()  # empty: any 2xx
    expect_json: tuple[tuple[str, object], ...] = ()  # (dotted path, expected value)
    body_contains: str | None = None
    version_path: str | None = "version"
    timeout: float = 5.0
    interval: float | None = None  # how often it runs (keeps its connection that long)
    verify: bool = True
    ca_bundle: str | None = None
    follow_redirects: bool = False
    host: str | None = None
    port: int | None = None

    @property
    def kind(self) -> Literal["http", "tcp"]:
        return "http" if self.url is not None else "tcp"

    @property
    def target(self) -> str:
        """Where the check goes: its URL, or host:port."""
        return self.url if self.url is not None else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The peer certificate of an HTTPS endpoint (from a separate, cached handshake)."""

    subject: str | None = None
    issuer: str | None = None
    not_after: float | None = None  # epoch seconds; None: unknown
    error: str | None = None  # why the certificate could not be read

    def days_left(self, now: float) -> float | None:
        return None if self.not_after is None else (self.not_after - now) / 86400.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of one check. `ok` says whether the service answered as expected."""

    name: str
    at: float  # wall clock when the check started
    ok: bool
    latency: float | None  # seconds until the status line (HTTP) or the connection (TCP)
    error_kind: ErrorKind | None = None
    error: str | None = None  # the message for the screen
    status_code: int | None = None
    reason_phrase: str | None = None
    version: str | None = None  # from the JSON body, at `version_path`
    headers: tuple[tuple[str, str], ...] = ()  # response headers, bounded
    body: str | None = None  # a bounded prefix of the body, decoded
    body_bytes: int = 0  # bytes read (at most the limit)
    body_truncated: bool = False
    json_problems: tuple[str, ...] = ()
    cert: CertInfo | None = None
    final_url: str | None = None  # where redirects led, when followed

    @property
    def answered(self) -> bool:
        """The endpoint answered (a status line or a TCP connection), failing or not."""
        return self.status_code is not None or (self.ok and self.latency is not None)


@dataclass(frozen=True, slots=True)
class StateChange:
    """One entry in a check's history: from `at` on, the check was `state`."""

    at: float
    state: State
    reason: str


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """What the console knows about one check: its state, why, and its recent past."""

    name: str
    kind: Literal["http", "tcp"]
    target: str
    insecure: bool  # TLS verification turned off for this check
    interval: float
    state: State = "unknown"
    reason: str = "no result yet"
    flapping: bool = False
    consecutive_failures: int = 0
    last: CheckResult | None = None
    latencies: tuple[float, ...] = ()  # seconds, oldest first, answered results only
    p95: float | None = None  # seconds, over `latencies`
    changes: tuple[StateChange, ...] = ()  # oldest first, bounded
    results: int = 0
    running: bool = False

    def cert_days(self, now: float) -> float | None:
        cert = self.last.cert if self.last is not None else None
        return None if cert is None else cert.days_left(now)


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Every check of a target, in config order."""

    checks: tuple[CheckStatus, ...]
    taken_at: float

    def counts(self) -> dict[State, int]:
        out: dict[State, int] = dict.fromkeys(STATES, 0)
        for check in self.checks:
            out[check.state] += 1
        return out

    def get(self, name: str) -> CheckStatus | None:
        return next((c for c in self.checks if c.name == name), None)
