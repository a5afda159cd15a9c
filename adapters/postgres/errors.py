"""asyncpg / socket / timeout failures mapped onto the console's typed SourceErrors.

The single place that knows asyncpg's exception classes. Every message is one line fit for
the screen ("connection refused at 127.0.0.1:5433", 'database "nope" does not exist'); the
server's own wording is kept where it is already clear, because operators search for it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import asyncpg
from asyncpg import exceptions as pgexc

from adapters.errors import (
    AuthFailed,
    PermissionDenied,
    QueryFailed,
    SourceError,
    SourceTimeout,
    Unreachable,
)

_MAX_MESSAGE = 300

#: Server errors meaning "this server cannot serve us right now": retry later.
_SERVER_GONE = (
    pgexc.AdminShutdownError,  # pg_terminate_backend() or a fast shutdown
    pgexc.CrashShutdownError,
    pgexc.CannotConnectNowError,  # starting up, shutting down, in recovery
    pgexc.TooManyConnectionsError,
    pgexc.PostgresConnectionError,  # 08xxx, includes ConnectionDoesNotExistError
)
#: Failures a retry cannot fix: wrong credentials, unknown role or database.
_AUTH = (
    pgexc.InvalidAuthorizationSpecificationError,  # includes InvalidPasswordError, pg_hba
    pgexc.InvalidCatalogNameError,  # database does not exist
    pgexc.InvalidRoleSpecificationError,
)


def map_error(
    exc: BaseException,
    *,
    where: str | None = None,
    timeout: float | None = None,
    connecting: bool = False,
) -> SourceError:
    """Translate a driver/socket/timeout exception into the matching SourceError.

    `where` names the target ("127.0.0.1:5432") for messages the driver leaves vague;
    `timeout` is the budget that ran out, for timeout messages; `connecting` marks failures
    while opening the connection, where a timeout means "unreachable" rather than "slow".
    """
    at = f" at {where}" if where else ""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, pgexc.QueryCanceledError):
        # 57014 is both statement_timeout and someone cancelling our query; say which.
        if "timeout" in (exc.message or ""):
            return SourceTimeout(_line(f"{exc.message}{at}"))
        return QueryFailed(_line(f"our query was cancelled{at}: {exc.message}"))
    if isinstance(exc, pgexc.LockNotAvailableError):  # lock_timeout
        return SourceTimeout(_line(exc.message or "lock wait timed out"))
    if isinstance(exc, _SERVER_GONE):
        return Unreachable(_line(_server_message(exc) + at))
    if isinstance(exc, _AUTH):
        return AuthFailed(_line(_server_message(exc)))
    if isinstance(exc, pgexc.InsufficientPrivilegeError):
        return PermissionDenied(_line(_server_message(exc, with_detail=True)))
    if isinstance(exc, asyncpg.PostgresError):
        return QueryFailed(_line(_server_message(exc)))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        budget = f" within {timeout:g} s" if timeout is not None else ""
        if connecting:
            return Unreachable(_line(f"no answer{at}{budget} while connecting"))
        return SourceTimeout(_line(f"no answer{at}{budget}"))
    if isinstance(exc, ssl.SSLError):
        # A certificate or protocol mismatch does not fix itself: not retryable.
        return AuthFailed(_line(f"TLS failed{at}: {exc.reason or exc}"))
    if isinstance(exc, OSError):
        return Unreachable(_line(_os_message(exc, at)))
    if isinstance(exc, pgexc.ClientConfigurationError):
        err = QueryFailed(_line(f"invalid connection settings: {exc}"))
        err.retryable = False
        return err
    if isinstance(exc, asyncpg.InterfaceError):
        if "closed" in str(exc):  # "connection is closed", "connection was closed in the middle"
            return Unreachable(_line(f"connection lost{at}"))
        return QueryFailed(_line(str(exc)))
    return QueryFailed(_line(f"{type(exc).__name__}: {exc}"))


def _server_message(exc: asyncpg.PostgresError, *, with_detail: bool = False) -> str:
    message = exc.message or str(exc) or type(exc).__name__
    if isinstance(exc, pgexc.ConnectionDoesNotExistError):
        message = "connection lost"
    detail = getattr(exc, "detail", None)
    if with_detail and detail:
        message = f"{message}: {detail}"
    return message


def _os_message(exc: OSError, at: str) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused{at}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host{at}: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return f"no server socket{at}"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return f"connection lost{at}"
    return f"{exc.strerror or exc}{at}"


def _line(text: str) -> str:
    """One screen line: whitespace (newlines included) collapsed, length capped."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
