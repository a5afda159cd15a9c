"""Judge an HTTP answer against what its check expects, whichever client fetched it.

`Answer` is the response head, decoded; `judge_answer` turns it and the bounded body
into a `CheckResult` (status, JSON expectations, substring, version, read errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.health.expect import (
    check_json,
    decode_content,
    describe_expected,
    parse_json,
    status_ok,
    version_of,
)
from adapters.health.models import CheckResult, CheckSpec, ErrorKind

BODY_LIMIT = 64 * 1024
HEADERS_MAX = 64  # response headers kept for the detail view
HEADER_VALUE_MAX = 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """The head of a response, decoded: what the judging needs, whoever fetched it."""

    status_code: int
    reason_phrase: str
    headers: tuple[tuple[str, str], ...]  # lower-case names, in order, repeats kept
    final_url: str | None = None  # where redirects led, when followed

    def header(self, name: str) -> str | None:
        """Every value of header `name` (lower case), joined as httpx joins them."""
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None


def _kept_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if len(headers) <= HEADERS_MAX and all(
        len(k) <= HEADER_VALUE_MAX and len(v) <= HEADER_VALUE_MAX for k, v in headers
    ):
        return headers
    return tuple((k[:HEADER_VALUE_MAX], v[:HEADER_VALUE_MAX]) for k, v in headers[:HEADERS_MAX])


def judge_answer(
    spec: CheckSpec,
    started: float,
    latency: float,
    answer: Answer,
    raw: bytes,
    truncated: bool,
    read_error: str | None,
) -> CheckResult:
    """The result of one HTTP run: `raw` is at most `BODY_LIMIT` bytes of the body as
    sent (before its Content-Encoding is undone), `read_error` why it stopped short."""
    body, decode_error = decode_content(raw, answer.header("content-encoding"), BODY_LIMIT)
    text = body.decode("utf-8", errors="replace")
    base: dict[str, Any] = {
        "status_code": answer.status_code,
        "reason_phrase": answer.reason_phrase,
        "headers": _kept_headers(answer.headers),
        "body": text,
        "body_bytes": len(raw),
        "body_truncated": truncated,
        "final_url": answer.final_url,
    }
    kind: ErrorKind | None = None
    error: str | None = None
    problems: list[str] = []
    version: str | None = None
    if not status_ok(answer.status_code, spec.expect_status):
        kind = "status"
        error = f"HTTP {answer.status_code}, expected {describe_expected(spec.expect_status)}"
        location = answer.header("location")
        if location and 300 <= answer.status_code < 400:
            error += f" (redirect to {location[:200]}; redirects are not followed)"
    content_type = (answer.header("content-type") or "").lower()
    needs_json = bool(spec.expect_json) or (
        spec.version_path is not None and "json" in content_type
    )
    document: Any = None
    json_error: str | None = None
    if needs_json and not truncated and decode_error is None and read_error is None:
        document, json_error = parse_json(body)
        version = version_of(document, spec.version_path) if json_error is None else None
    if kind is None and read_error is not None:
        kind = "timeout" if read_error.startswith("body not complete") else "protocol"
        error = read_error
    if kind is None and spec.expect_json:
        if truncated:
            kind = "not-json"
            error = f"body larger than {BODY_LIMIT // 1024} KB (truncated): JSON not checked"
        elif decode_error is not None:
            kind, error = "not-json", decode_error
        elif json_error is not None:
            kind, error = "not-json", json_error
        else:
            problems = check_json(document, spec.expect_json)
            if problems:
                kind, error = "json", "; ".join(problems)
    if kind is None and spec.body_contains is not None and spec.body_contains not in text:
        kind = "body"
        error = f"body does not contain {spec.body_contains!r}" + (
            f" (only the first {BODY_LIMIT // 1024} KB read)" if truncated else ""
        )
    return CheckResult(
        spec.name,
        started,
        kind is None,
        latency,
        error_kind=kind,
        error=error,
        version=version,
        json_problems=tuple(problems),
        **base,
    )
