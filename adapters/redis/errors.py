"""redis-py's exceptions mapped onto `adapters.errors`, with messages fit for the screen.

This module and `adapters.redis.client` are the only ones that import redis-py; the
rest of the package sees `SourceError`s.

| redis-py                                   | ours                                          |
|--------------------------------------------|-----------------------------------------------|
| AuthenticationError (WRONGPASS, NOAUTH, …) | AuthFailed (not retryable)                    |
| BusyLoadingError (LOADING)                 | ServerLoading, an Unreachable (retryable)     |
| TimeoutError, asyncio.TimeoutError         | SourceTimeout                                 |
| ConnectionError, EOF, OSError              | Unreachable                                   |
| NoPermissionError (NOPERM)                 | PermissionDenied                              |
| ResponseError "unknown (sub)command"       | CommandUnavailable (renamed or disabled)      |
| ReadOnlyError, OutOfMemoryError, other     | QueryFailed                                   |
"""

from __future__ import annotations

import asyncio
import errno
import ssl

from redis import exceptions as rx

from adapters.errors import (
    AuthFailed,
    PermissionDenied,
    QueryFailed,
    SourceError,
    SourceTimeout,
    Unreachable,
)

__all__ = [
    "CommandUnavailable",
    "ServerLoading",
    "is_server_reply",
    "map_error",
    "unavailable_note",
]


class ServerLoading(Unreachable):
    """The server answers but refuses data commands while it loads its dataset (LOADING)."""

    kind = "loading"
    retryable = True


class CommandUnavailable(QueryFailed):
    """The command is renamed, disabled (managed services) or unknown to this version."""

    kind = "unavailable"
    retryable = False


def is_server_reply(exc: BaseException) -> bool:
    """True if `exc` is an error *reply* from the server (the connection is still usable).

    redis-py raises some replies (LOADING, NOAUTH, WRONGPASS, max clients) as
    ConnectionError subclasses; they carry the reply's code in `status_code`, which a
    real transport failure does not.
    """
    if isinstance(exc, rx.ResponseError):
        return True
    return isinstance(exc, rx.RedisError) and getattr(exc, "status_code", None) is not None


def map_error(exc: BaseException, target: str) -> SourceError:
    """Map one exception raised while talking to `target` (a description) onto ours."""
    if isinstance(exc, SourceError):
        return exc
    text = _text(exc)
    low = text.lower()
    if isinstance(exc, rx.BusyLoadingError) or low.startswith("loading"):
        return ServerLoading(f"{target}: server is loading its dataset")
    if isinstance(exc, rx.AuthenticationWrongNumberOfArgsError):
        return AuthFailed(f"{target}: the server does not take a username (Redis < 6): {text}")
    if isinstance(exc, (rx.AuthenticationError, rx.AuthorizationError)) or _has_code(
        exc, "WRONGPASS", "NOAUTH"
    ):
        code = getattr(exc, "status_code", None)
        detail = f"{code} {text}" if code and code != "ERR" else text
        return AuthFailed(f"{target}: authentication failed: {detail}")
    if isinstance(exc, rx.NoPermissionError):
        return PermissionDenied(f"{target}: permission denied: {text}")
    if isinstance(exc, (rx.TimeoutError, asyncio.TimeoutError, TimeoutError)):
        return SourceTimeout(f"{target}: no answer in time ({text or 'timeout'})")
    if isinstance(exc, rx.ResponseError):
        if "unknown command" in low or "unknown subcommand" in low:
            return CommandUnavailable(f"{target}: {text}")
        if isinstance(exc, rx.ReadOnlyError):
            return QueryFailed(f"{target}: read-only replica: {text}")
        if isinstance(exc, rx.OutOfMemoryError):
            return QueryFailed(f"{target}: out of memory (maxmemory reached): {text}")
        return QueryFailed(f"{target}: {text}")
    if isinstance(exc, ssl.SSLError):
        return Unreachable(f"{target}: TLS failed: {exc}")
    if isinstance(exc, (rx.ConnectionError, OSError, EOFError)):
        return Unreachable(f"{target}: {_connection_text(exc, text)}")
    if isinstance(exc, rx.RedisError):
        return QueryFailed(f"{target}: {text}")
    return QueryFailed(f"{target}: unexpected {type(exc).__name__}: {text}")


def unavailable_note(command: str, err: SourceError) -> str:
    """The per-field note shown when an optional command fails ("SLOWLOG unavailable: …")."""
    if isinstance(err, CommandUnavailable):
        why = "unknown command (renamed or disabled)"
    elif isinstance(err, PermissionDenied):
        why = "no permission (ACL)"
    elif isinstance(err, ServerLoading):
        why = "server is loading its dataset"
    else:
        why = err.message.split(": ", 1)[-1]
    return f"{command} unavailable: {why}"


def _text(exc: BaseException) -> str:
    return " ".join(str(a) for a in exc.args).strip() if exc.args else str(exc)


def _has_code(exc: BaseException, *codes: str) -> bool:
    code = getattr(exc, "status_code", None)
    return code in codes or any(_text(exc).startswith(c) for c in codes)


def _connection_text(exc: BaseException, text: str) -> str:
    """A short reason: 'connection refused' rather than redis-py's full sentence."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed: {cause}"
    if isinstance(cause, OSError) and cause.errno is not None:
        if cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        if cause.errno == errno.ENOENT:
            return "no such socket file"
        return (cause.strerror or text).lower()
    if "closed by server" in text.lower():
        return "connection closed by the server"
    return text or "connection failed"
