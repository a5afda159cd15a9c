"""Docker SDK and requests failures mapped onto the typed `adapters.errors`.

The SDK wraps the interesting cause several layers deep (DockerException -> requests
ConnectionError -> urllib3 ProtocolError/MaxRetryError -> the OSError), so the mapping
walks the whole chain (`__cause__`, `__context__`, `args`, `reason`) and decides on the
innermost thing it recognises: a missing socket, a refused connection, a socket the user
may not open, a timeout, a TLS failure, or an API error with its status code.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Iterator

from adapters.errors import (
    NotFound,
    PermissionDenied,
    QueryFailed,
    SourceError,
    SourceTimeout,
    Unreachable,
)

__all__ = ["NoEngine", "map_docker_error", "permission_message"]


class NoEngine(Unreachable):
    """No engine is configured and none is where one usually is: polling again every
    refresh cannot help, so this waits like a non-retryable failure (ctrl+r retries)."""

    retryable = False


def permission_message(socket_path: str) -> str:
    """What to tell an operator who may not open the engine's socket."""
    return f"permission denied on {socket_path}: add the user to the docker group or run with sudo"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps, outermost first, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        todo.extend(e for e in inner if isinstance(e, BaseException))


def _is_timeout(exc: BaseException) -> bool:
    import requests
    import urllib3.exceptions

    return isinstance(
        exc,
        TimeoutError | requests.exceptions.Timeout | urllib3.exceptions.TimeoutError,
    )


def map_docker_error(exc: BaseException, *, where: str = "the Docker engine") -> SourceError:
    """The typed error for a failure talking to an engine; `where` names it (no secrets).

    `where` is the endpoint as `DockerHost.endpoint` describes it (a socket path or a
    host), used in the message.
    """
    if isinstance(exc, SourceError):
        return exc
    import docker.errors

    chain = list(exception_chain(exc))
    for item in chain:
        if isinstance(item, docker.errors.NotFound):
            return NotFound(_explain(item) or "no such container (removed)")
        if isinstance(item, docker.errors.APIError):
            status = item.status_code or 0
            text = _explain(item)
            if status in (401, 403):
                return PermissionDenied(f"{where} refused: {text}")
            if status == 409:
                return QueryFailed(f"conflict: {text}")
            return QueryFailed(f"{where} error {status}: {text}" if status else text)
    for item in chain:
        if isinstance(item, ssl.SSLError):
            continue  # its errno is OpenSSL's error code, not EPERM: "docker group" misleads
        if isinstance(item, PermissionError) or (
            isinstance(item, OSError) and item.errno in (errno.EACCES, errno.EPERM)
        ):
            return PermissionDenied(permission_message(_socket_path(where)))
    for item in chain:
        if isinstance(item, FileNotFoundError) or (
            isinstance(item, OSError) and item.errno == errno.ENOENT
        ):
            return Unreachable(f"no Docker engine at {where}: the socket does not exist")
        if isinstance(item, ConnectionRefusedError) or (
            isinstance(item, OSError) and item.errno == errno.ECONNREFUSED
        ):
            return Unreachable(f"no Docker engine at {where}: connection refused")
    for item in chain:
        if _is_timeout(item):
            return SourceTimeout(f"{where} did not answer in time")
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return Unreachable(f"TLS with {where} failed: {item.reason or item}")
    for item in chain:
        if isinstance(item, ConnectionError | EOFError) or (
            isinstance(item, OSError) and item.errno is not None
        ):
            return Unreachable(f"lost the connection to {where}: {_short(item)}")
    import requests

    for item in chain:
        if isinstance(item, requests.exceptions.ConnectionError):
            return Unreachable(f"cannot reach {where}: {_short(item)}")
    if isinstance(exc, docker.errors.DockerException):
        return QueryFailed(f"{where}: {_short(exc)}")
    return QueryFailed(f"{where}: {type(exc).__name__}: {_short(exc)}")


def _explain(err: BaseException) -> str:
    explanation = getattr(err, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or err).strip()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _socket_path(where: str) -> str:
    return where.removeprefix("unix://") if where.startswith("unix://") else where
