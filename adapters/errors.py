"""Typed failures of outside sources, each with a message fit for the screen.

Every adapter maps its driver's exceptions onto these, so the app can decide how to
retry (a wrong password is not retried like a refused connection) without knowing
which driver raised what.
"""

from __future__ import annotations


class SourceError(Exception):
    """A failure talking to an outside system. `str(err)` is shown to the operator."""

    #: Whether polling again soon can help (a refused connection: yes; a wrong password: no).
    retryable: bool = True
    kind: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(SourceError):
    """The server could not be reached or the connection was lost."""

    kind = "unreachable"


class AuthFailed(SourceError):
    """Credentials were refused or the database/user does not exist."""

    kind = "auth"
    retryable = False


class PermissionDenied(SourceError):
    """The server answered but refused the operation for lack of privilege."""

    kind = "permission"
    retryable = False


class SourceTimeout(SourceError):
    """The call did not finish in its time budget."""

    kind = "timeout"


class NotFound(SourceError):
    """The thing asked for (a pid, a key, a container) does not exist (any more)."""

    kind = "not-found"
    retryable = False


class QueryFailed(SourceError):
    """The server answered with an error not covered above."""

    kind = "query"
