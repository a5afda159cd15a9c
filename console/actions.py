"""The life cycle of every remediation: guard, confirm, recheck, execute, audit.

Independent of Textual: the confirmation is a callable (the app passes one that pushes
`screens.confirm.ConfirmScreen` and waits for it), so the whole sequence is tested with
plain asyncio. An action is data (`ActionPlan`): what will be done, shown exactly as it
will be done, plus two coroutines made by the adapter: `recheck` (is the world still as
the operator saw it?) and `execute`.

Order, and why:

1. read-only -> refused, audited; the operator is never asked.
2. production and not armed -> refused, audited (an expiry noticed here is audited too).
3. the audit log cannot be opened -> refused: an action we cannot record is not run.
4. confirm -> False is audited as cancelled; nothing runs.
5. armed still? (the dialog may have stayed open past the arming's end)
6. recheck -> a reason is a refusal; nothing runs.
7. execute under a timeout -> succeeded / failed / timeout.
8. the audit record is fsynced before `run_action` returns, i.e. before the result is
   shown. If that write fails, the outcome says loudly that the action happened but was
   not audited.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.errors import SourceError, SourceTimeout
from console.arming import ArmState
from console.audit import AuditError, AuditLog, AuditRecord, Outcome
from console.operator import OperatorContext

log = logging.getLogger(__name__)

Recheck = Callable[[], Awaitable[str | None]]
Execute = Callable[[], Awaitable["str | ExecResult"]]
Confirm = Callable[["ActionPlan"], Awaitable[bool]]

INTERRUPTED = "interrupted by operator"


class Stopped(SourceError):
    """Raised by `execute` when the operator stopped the action on purpose (ctrl+c):
    audited as cancelled, not failed. The message says how far it got (exact counts,
    an exit code); `audit_execution`, when set, carries the facts."""

    kind = "stopped"


class NotStarted(Stopped):
    """Stopped by the operator before anything was done."""

    kind = "not-started"


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What `execute` may return instead of a plain message: the message plus facts for
    the audit record's `execution` field (a command's exit code, duration, last lines).

    The plan keeps `execution` small (a few KB): it is written in one audit line.
    A failing `execute` can carry the same facts on its exception as `audit_execution`.
    """

    message: str
    execution: Mapping[str, Any] = field(default_factory=dict)


def _execution_of(value: object) -> dict[str, Any] | None:
    facts = getattr(value, "audit_execution", None)
    if facts is None and isinstance(value, ExecResult):
        facts = value.execution
    return dict(facts) if isinstance(facts, Mapping) and facts else None


class Risk(enum.Enum):
    """How much a confirmation must ask: LOW takes `y`, HIGH takes the typed token."""

    LOW = "low"
    HIGH = "high"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ActionPlan:
    """One remediation, fully described before anything is done.

    `preview` is the exact operation ("SELECT pg_terminate_backend(4242)"); `details`
    are (label, value) pairs whose values may be untrusted text (query, user names):
    the dialog sanitises them. `confirm_token` is what the operator types for HIGH risk
    (the pid, the target name). `recheck` returns None when the world is still as
    confirmed, else a refusal reason; `execute` returns a result message and raises
    `SourceError` on failure. `timeout` (seconds) bounds `recheck` and `execute` each.
    """

    action: str
    target: str
    title: str
    preview: str
    recheck: Recheck
    execute: Execute
    details: tuple[tuple[str, str], ...] = ()
    risk: Risk = Risk.LOW
    confirm_token: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.risk is Risk.HIGH and not self.confirm_token:
            raise ValueError(f"{self.action}: a HIGH risk action needs a confirm_token")
        if self.timeout <= 0:
            raise ValueError(f"{self.action}: timeout must be positive")


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What happened, for the screen. `status` is the audit outcome or "refused-audit".

    `message` is written for the operator; `audited` is False when no audit record
    could be written (then `audit_error` says why and `message` says so first).
    """

    status: str
    message: str
    error: str | None = None
    duration_ms: float | None = None
    audited: bool = True
    audit_error: str | None = None

    @property
    def succeeded(self) -> bool:
        """True only when the action ran and reported success."""
        return self.status == "succeeded"


def risk_for(plan: ActionPlan, production: bool) -> Risk:
    """The risk the confirmation must treat `plan` with: any production action is HIGH."""
    return Risk.HIGH if production or plan.risk is Risk.HIGH else Risk.LOW


def effective_plan(plan: ActionPlan, production: bool) -> ActionPlan:
    """`plan` as it must be confirmed on this target: raised to HIGH on production.

    A plan raised to HIGH without a token of its own is confirmed by typing the
    target's name, as the design asks for production targets.
    """
    risk = risk_for(plan, production)
    if risk is plan.risk:
        return plan
    return replace(plan, risk=risk, confirm_token=plan.confirm_token or plan.target)


@dataclass(frozen=True, slots=True)
class ActionPolicy:
    """The guard in front of every action: read-only mode and production arming."""

    read_only: bool
    arm: ArmState | None = None

    @property
    def production(self) -> bool:
        """Whether the target is production (only known through its arming state)."""
        return self.arm is not None and self.arm.production

    def refusal(self, now: float) -> tuple[Outcome, str] | None:
        """(outcome, message) if an action must be refused at `now`, else None."""
        if self.read_only:
            return "refused-read-only", "Read-only: write actions are disabled on this target."
        if self.arm is not None and not self.arm.is_armed(now):
            return (
                "refused-disarmed",
                "This production target is not armed: press W and give a reason first.",
            )
        return None


async def run_action(
    plan: ActionPlan,
    *,
    confirm: Confirm,
    audit: AuditLog,
    operator: OperatorContext,
    read_only: bool,
    arm: ArmState | None,
    clock: Callable[[], float] = time.time,
) -> ActionOutcome:
    """Guard, confirm, recheck, execute and audit `plan`; never raises for its failures.

    `confirm` shows `plan` (already raised to HIGH on production) and returns True to go
    ahead. Every outcome except "refused-audit" is appended to `audit` (fsynced) before
    this returns. `asyncio.CancelledError` (ctrl+c while waiting) is audited with the
    error "interrupted by operator" — as "cancelled" before execution started, as
    "failed" during it — and re-raised.
    """
    policy = ActionPolicy(read_only=read_only, arm=arm)
    plan = effective_plan(plan, policy.production)
    notes: list[str] = []

    notes.append(await _check_expiry(arm, audit, operator, plan.target, clock))
    refusal = policy.refusal(clock())
    if refusal is not None:
        status, message = refusal
        return await _finish(audit, operator, plan, clock, status, message, notes=notes)

    try:
        await audit.check_writable_async()
    except AuditError as err:
        message = f"Not run: the action could not be audited ({err})."
        return ActionOutcome("refused-audit", message, error=str(err), audited=False)

    try:
        confirmed = await confirm(plan)
    except asyncio.CancelledError:
        _audit_now(audit, operator, plan, clock, "cancelled", INTERRUPTED)
        raise
    except Exception as err:
        # The dialog could not be shown or answered: nothing was confirmed.
        log.exception("confirmation of %s failed", plan.action)
        error = f"the confirmation failed: {type(err).__name__}: {err}"
        message = f"Cancelled, nothing done: {error}"
        return await _finish(audit, operator, plan, clock, "cancelled", message, error)
    if not confirmed:
        return await _finish(audit, operator, plan, clock, "cancelled", "Cancelled: nothing done.")

    # The dialog may have stayed open while the arming ran out.
    refusal = policy.refusal(clock())
    if refusal is not None:
        notes.append(await _check_expiry(arm, audit, operator, plan.target, clock))
        status, message = refusal
        return await _finish(audit, operator, plan, clock, status, message, notes=notes)

    try:
        reason = await asyncio.wait_for(plan.recheck(), plan.timeout)
    except asyncio.CancelledError:
        # Nothing was executed yet: cancelled, not failed.
        _audit_now(audit, operator, plan, clock, "cancelled", INTERRUPTED)
        raise
    except TimeoutError:
        reason = f"the recheck timed out after {plan.timeout:g} s"
    except SourceError as err:
        reason = f"the recheck failed: {err}"
    except Exception as err:
        log.exception("recheck of %s raised", plan.action)
        reason = f"the recheck failed: unexpected {type(err).__name__}: {err}"
    if reason is not None:
        message = f"Refused, nothing done: {reason}"
        return await _finish(audit, operator, plan, clock, "refused-recheck", message, reason)

    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(plan.execute(), plan.timeout)
    except asyncio.CancelledError:
        duration = _ms_since(started)
        _audit_now(audit, operator, plan, clock, "failed", INTERRUPTED, duration)
        raise
    except TimeoutError:
        # The request may have reached the server: say that the result is unknown.
        error = f"no answer within {plan.timeout:g} s; the operation may still have happened"
        message = f"Timed out: {error}. Check before retrying."
        duration = _ms_since(started)
        return await _finish(audit, operator, plan, clock, "timeout", message, error, duration)
    except SourceTimeout as err:
        # The adapter's own time limit: as unknown as ours.
        message = f"Timed out: {err}. The operation may still have happened: check first."
        duration = _ms_since(started)
        return await _finish(
            audit,
            operator,
            plan,
            clock,
            "timeout",
            message,
            str(err),
            duration,
            execution=_execution_of(err),
        )
    except Stopped as err:
        return await _finish(
            audit,
            operator,
            plan,
            clock,
            "cancelled",
            f"Cancelled: {err}",
            str(err),
            _ms_since(started),
            execution=_execution_of(err),
        )
    except SourceError as err:
        message = f"Failed: {err}"
        duration = _ms_since(started)
        return await _finish(
            audit,
            operator,
            plan,
            clock,
            "failed",
            message,
            str(err),
            duration,
            execution=_execution_of(err),
        )
    except Exception as err:
        # A bug in an adapter must not end the console before the attempt is recorded.
        log.exception("action %s raised", plan.action)
        error = f"unexpected {type(err).__name__}: {err}"
        duration = _ms_since(started)
        return await _finish(
            audit, operator, plan, clock, "failed", f"Failed: {error}", error, duration
        )
    duration = _ms_since(started)
    execution = _execution_of(result)
    message = result.message if isinstance(result, ExecResult) else result
    return await _finish(
        audit, operator, plan, clock, "succeeded", message, None, duration, execution=execution
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _record(
    operator: OperatorContext,
    plan: ActionPlan,
    now: float,
    outcome: Outcome,
    error: str | None = None,
    duration_ms: float | None = None,
    result: str | None = None,
    execution: dict[str, Any] | None = None,
) -> AuditRecord:
    return AuditRecord.create(
        operator,
        now=now,
        target=plan.target,
        action=plan.action,
        outcome=outcome,
        params={**plan.params, "risk": plan.risk.value},
        preview=plan.preview,
        error=error,
        duration_ms=duration_ms,
        result=result,
        execution=execution,
    )


async def _finish(
    audit: AuditLog,
    operator: OperatorContext,
    plan: ActionPlan,
    clock: Callable[[], float],
    status: Outcome,
    message: str,
    error: str | None = None,
    duration_ms: float | None = None,
    *,
    notes: list[str] | None = None,
    execution: dict[str, Any] | None = None,
) -> ActionOutcome:
    """Append the record (in a thread: fsync may take a while) and build the outcome."""
    result = message if status == "succeeded" else None
    record = _record(operator, plan, clock(), status, error, duration_ms, result, execution)
    try:
        # If the task is cancelled while waiting here, the thread still completes the
        # write: the record is not lost, only this coroutine stops waiting for it.
        await audit.append_async(record)
    except AuditError as err:
        return _unaudited(status, message, error, duration_ms, err)
    extra = [note for note in notes or () if note]
    if extra:
        message = " ".join([*extra, message])
    return ActionOutcome(status, message, error, duration_ms)


def _unaudited(
    status: str,
    message: str,
    error: str | None,
    duration_ms: float | None,
    err: AuditError,
) -> ActionOutcome:
    if status == "succeeded":
        lead = "DONE BUT NOT AUDITED"
    elif status in ("failed", "timeout"):
        lead = "ATTEMPTED BUT NOT AUDITED"
    else:
        lead = "NOT AUDITED"
    loud = f"{lead}: the audit log could not be written ({err}). {message}"
    return ActionOutcome(status, loud, error, duration_ms, audited=False, audit_error=str(err))


def _audit_now(
    audit: AuditLog,
    operator: OperatorContext,
    plan: ActionPlan,
    clock: Callable[[], float],
    outcome: Outcome,
    error: str,
    duration_ms: float | None = None,
) -> None:
    """Append synchronously: used while being cancelled, when awaiting is unreliable."""
    try:
        audit.append(_record(operator, plan, clock(), outcome, error, duration_ms))
    except AuditError:
        log.exception("could not audit the interrupted action %s", plan.action)


async def _check_expiry(
    arm: ArmState | None,
    audit: AuditLog,
    operator: OperatorContext,
    target: str,
    clock: Callable[[], float],
) -> str:
    """Audit an arming that ran out (once); return a note for the operator or ""."""
    if arm is None:
        return ""
    reason = arm.reason  # `expired` clears it
    now = clock()
    if not arm.expired(now):
        return ""
    record = arm_record(operator, target, "arm-expired", reason=reason, now=now)
    try:
        await audit.append_async(record)
    except AuditError as err:
        return f"(The end of the arming could not be audited: {err}.)"
    return ""


def arm_record(
    operator: OperatorContext,
    target: str,
    outcome: Outcome,
    *,
    reason: str | None = None,
    minutes: float | None = None,
    now: float | None = None,
) -> AuditRecord:
    """The audit record of an arming event: "armed", "disarmed" or "arm-expired"."""
    if outcome not in ("armed", "disarmed", "arm-expired"):
        raise ValueError(f"not an arming outcome: {outcome}")
    params: dict[str, Any] = {} if minutes is None else {"minutes": minutes}
    preview = {
        "armed": f"arm write actions on {target} for {minutes or 0:g} min",
        "disarmed": f"disarm write actions on {target}",
        "arm-expired": f"arming of write actions on {target} ran out",
    }[outcome]
    return AuditRecord.create(
        operator,
        now=now,
        target=target,
        action="app.arm",
        outcome=outcome,
        params=params,
        preview=preview,
        reason=reason,
    )
