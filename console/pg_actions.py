"""Cancel and terminate of a PostgreSQL backend, as `ActionPlan`s.

The plan is built from the row the operator selected; its identity (pid, backend_start
and, for cancel, query_start) is what gets rechecked right before executing, so a pid
that ended or was reused by a new backend is refused, never killed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from adapters.postgres.actions import cancel_sql, terminate_sql
from adapters.postgres.models import Backend, BackendIdentity
from console.actions import ActionPlan, Risk
from widgets.formatting import duration

if TYPE_CHECKING:
    from adapters.postgres.actions import PostgresActions

#: Seconds for the recheck and for the cancel/terminate call each.
ACTION_TIMEOUT = 10.0


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else duration(seconds)


def build_pg_plan(
    kind: str,
    backend: Backend,
    waiters: int,
    *,
    target: str,
    connect: Callable[[], Awaitable[PostgresActions]],
) -> ActionPlan:
    """The plan for `kind` ("cancel" or "terminate") of the selected `backend`.

    Terminating a backend that others wait on is HIGH risk: the pid must be typed.
    (Any action on a production target is raised to HIGH by the life cycle itself.)
    `connect` opens the action connection only when the recheck runs, so a refused
    or cancelled action never connects.
    """
    pid = backend.pid
    identity = BackendIdentity(pid, backend.backend_start, backend.query_start)
    cancel = kind == "cancel"
    preview = cancel_sql(pid) if cancel else terminate_sql(pid)
    title = (
        f"Cancel the running query of backend {pid}"
        if cancel
        else f"Terminate backend {pid} (its connection is closed, its transaction rolled back)"
    )
    # Most telling first: on a small terminal the dialog scrolls the rest.
    details: list[tuple[str, str]] = [
        ("pid", str(pid)),
        ("user", backend.user or "-"),
        ("application", backend.application or "-"),
        ("query age", _age(backend.query_age)),
        ("query", backend.query or ""),
        ("state", backend.state or "-"),
        ("transaction age", _age(backend.xact_age)),
        ("database", backend.database or "-"),
        ("client", backend.client_addr or "local socket"),
    ]
    if waiters:
        details.insert(0, ("BLOCKS", f"{waiters} session(s) wait on this backend"))
    risk = Risk.HIGH if (not cancel and waiters) else Risk.LOW

    async def recheck() -> str | None:
        return await (await connect()).recheck(identity, for_cancel=cancel)

    async def execute() -> str:
        actions = await connect()
        done = await (actions.cancel(pid) if cancel else actions.terminate(pid))
        if not done:
            # The server returns false when the pid is no longer a backend to signal.
            return f"PostgreSQL did not signal pid {pid}: it had already ended."
        if cancel:
            return f"Cancel request sent to pid {pid}."
        return f"Backend {pid} terminated" + (
            f"; {waiters} waiting session(s) released." if waiters else "."
        )

    return ActionPlan(
        action=f"pg.{kind}",
        target=target,
        title=title,
        preview=preview,
        recheck=recheck,
        execute=execute,
        details=tuple(details),
        risk=risk,
        confirm_token=str(pid),
        params={
            "pid": pid,
            "user": backend.user,
            "database": backend.database,
            "application": backend.application,
            "backend_start": backend.backend_start.isoformat() if backend.backend_start else None,
            "query_start": backend.query_start.isoformat() if backend.query_start else None,
            "waiters": waiters,
            "query": (backend.query or "")[:2000],
        },
        timeout=ACTION_TIMEOUT,
    )
