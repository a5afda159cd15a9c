"""What a check expects of an answer: status codes, JSON values by path, a substring.

Pure functions over the bytes already read, so they are tested without a server.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any

MISSING = object()
VERSION_MAX = 64


def status_ok(code: int, expected: Sequence[int]) -> bool:
    """Whether `code` is acceptable: one of `expected`, or any 2xx when it is empty."""
    return code in expected if expected else 200 <= code < 300


def describe_expected(expected: Sequence[int]) -> str:
    return ", ".join(str(c) for c in expected) if expected else "2xx"


def lookup(document: Any, path: str) -> Any:
    """The value at dotted `path` (`services.database`, `checks.0.status`), or MISSING."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(actual) == float(expected)
    return bool(actual == expected)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def check_json(document: Any, expectations: Sequence[tuple[str, object]]) -> list[str]:
    """One message per expectation the document does not meet (empty: all met)."""
    problems: list[str] = []
    for path, expected in expectations:
        actual = lookup(document, path)
        if actual is MISSING:
            problems.append(f"{path} missing, expected {_shown(expected)}")
        elif not _same(actual, expected):
            problems.append(f"{path} is {_shown(actual)}, expected {_shown(expected)}")
    return problems


def version_of(document: Any, path: str | None) -> str | None:
    """The version shown for the service: a scalar at `path`, as text, bounded."""
    if path is None:
        return None
    value = lookup(document, path)
    if value is MISSING or isinstance(value, (dict, list)) or value is None:
        return None
    text = str(value)
    return text[:VERSION_MAX]


def parse_json(body: bytes) -> tuple[Any, str | None]:
    """(document, None), or (None, why the body is not JSON)."""
    try:
        return json.loads(body.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, f"body is not UTF-8 text ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except RecursionError:
        return None, "body is not JSON that can be read (nested too deeply)"


def decode_content(raw: bytes, encoding: str | None, limit: int) -> tuple[bytes, str | None]:
    """The body decoded from its Content-Encoding, at most `limit` bytes of it.

    Decompression is bounded too: a small gzip body cannot expand into gigabytes.
    """
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return raw[:limit], None
    wbits = {"gzip": 47, "x-gzip": 47, "deflate": 15}.get(name)
    if wbits is None:
        return b"", f"body is {name}-encoded: not decoded"
    try:
        return zlib.decompressobj(wbits).decompress(raw, limit), None
    except zlib.error as exc:
        if name == "deflate":  # some servers send raw deflate without the zlib header
            try:
                return zlib.decompressobj(-15).decompress(raw, limit), None
            except zlib.error:
                pass
        return b"", f"body is not valid {name}: {exc}"
