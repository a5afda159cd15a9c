"""Every branch of the action life cycle, with real asyncio and a real audit file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.errors import NotFound, SourceError, SourceTimeout
from console.actions import (
    INTERRUPTED,
    ActionOutcome,
    ActionPlan,
    ActionPolicy,
    Risk,
    arm_record,
    effective_plan,
    risk_for,
    run_action,
)
from console.arming import ArmState
from console.audit import AuditLog
from console.operator import OperatorContext

OPERATOR = OperatorContext(
    user="oncall", sudo_user=None, ssh_client="10.0.0.9", hostname="h", pid=1
)
T0 = 1_700_000_000.0
ConfirmFn = Callable[[ActionPlan], Awaitable[bool]]


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Backend:
    """Counts what the plan's coroutines did; stands in for the adapter's side."""

    def __init__(self) -> None:
        self.rechecks = 0
        self.executions = 0
        self.started = asyncio.Event()

    async def recheck_ok(self) -> str | None:
        self.rechecks += 1
        return None

    async def execute_ok(self) -> str:
        self.executions += 1
        self.started.set()
        await asyncio.sleep(0.05)
        return "backend 4242 terminated"

    def plan(self, **kw: Any) -> ActionPlan:
        values: dict[str, Any] = {
            "action": "pg.terminate",
            "target": "main",
            "title": "Terminate backend 4242",
            "preview": "SELECT pg_terminate_backend(4242)",
            "recheck": self.recheck_ok,
            "execute": self.execute_ok,
            "params": {"pid": 4242},
            "timeout": 2.0,
        }
        values.update(kw)
        return ActionPlan(**values)


class Confirm:
    """The dialog's stand-in: answers a fixed value and remembers what it was shown."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.shown: list[ActionPlan] = []

    async def __call__(self, plan: ActionPlan) -> bool:
        self.shown.append(plan)
        return self.answer


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "state" / "audit.jsonl")


def records(audit: AuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.path.read_text().splitlines()]


async def run(
    plan: ActionPlan, audit: AuditLog, confirm: ConfirmFn | None = None, **kw: Any
) -> ActionOutcome:
    """run_action with this file's operator, a yes-saying dialog and a fixed clock."""
    kw = {"read_only": False, "arm": None, "clock": Clock(), **kw}
    return await run_action(
        plan, confirm=confirm or Confirm(), audit=audit, operator=OPERATOR, **kw
    )


# ---------------------------------------------------------------- guards


async def test_read_only_refuses_without_asking(audit: AuditLog) -> None:
    backend, confirm = Backend(), Confirm()
    outcome = await run(backend.plan(), audit, confirm, read_only=True)
    assert outcome.status == "refused-read-only"
    assert "Read-only" in outcome.message
    assert confirm.shown == [] and backend.rechecks == 0 and backend.executions == 0
    (rec,) = records(audit)
    assert rec["outcome"] == "refused-read-only"
    assert rec["action"] == "pg.terminate" and rec["target"] == "main"
    assert rec["preview"] == "SELECT pg_terminate_backend(4242)"


async def test_disarmed_production_refuses(audit: AuditLog) -> None:
    backend, confirm = Backend(), Confirm()
    outcome = await run(backend.plan(), audit, confirm, arm=ArmState(production=True))
    assert outcome.status == "refused-disarmed"
    assert confirm.shown == [] and backend.executions == 0
    assert [r["outcome"] for r in records(audit)] == ["refused-disarmed"]


async def test_armed_production_asks_high_risk_with_the_target_name(audit: AuditLog) -> None:
    backend, confirm, clock = Backend(), Confirm(), Clock()
    arm = ArmState(production=True)
    arm.arm("INC-7 runaway query", 15, clock())
    outcome = await run(backend.plan(), audit, confirm, arm=arm, clock=clock)
    assert outcome.succeeded
    (shown,) = confirm.shown
    assert shown.risk is Risk.HIGH and shown.confirm_token == "main"
    assert records(audit)[-1]["params"] == {"pid": 4242, "risk": "high"}


async def test_audit_log_unusable_refuses_before_asking(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    broken = AuditLog(tmp_path / "file" / "audit.jsonl")
    backend, confirm = Backend(), Confirm()
    outcome = await run(backend.plan(), broken, confirm)
    assert outcome.status == "refused-audit" and not outcome.audited
    assert "could not be audited" in outcome.message
    assert confirm.shown == [] and backend.executions == 0


# ---------------------------------------------------------------- confirm, recheck


async def test_cancel_at_confirm_executes_nothing(audit: AuditLog) -> None:
    backend, confirm = Backend(), Confirm(answer=False)
    outcome = await run(backend.plan(), audit, confirm)
    assert outcome.status == "cancelled"
    assert len(confirm.shown) == 1
    assert backend.rechecks == 0 and backend.executions == 0
    assert [r["outcome"] for r in records(audit)] == ["cancelled"]


async def test_a_broken_dialog_cancels(audit: AuditLog) -> None:
    backend = Backend()

    async def broken(plan: ActionPlan) -> bool:
        raise RuntimeError("no screen")

    outcome = await run(backend.plan(), audit, broken)
    assert outcome.status == "cancelled" and "no screen" in outcome.message
    assert backend.rechecks == 0 and backend.executions == 0
    assert records(audit)[0]["outcome"] == "cancelled"


async def test_recheck_refusal_executes_nothing(audit: AuditLog) -> None:
    backend = Backend()

    async def moved() -> str | None:
        return "pid 4242 now belongs to another backend (started 10:42:01)"

    outcome = await run(backend.plan(recheck=moved), audit)
    assert outcome.status == "refused-recheck"
    assert "another backend" in outcome.message
    assert backend.executions == 0
    (rec,) = records(audit)
    assert rec["outcome"] == "refused-recheck" and "another backend" in rec["error"]


async def test_recheck_error_or_timeout_refuses(audit: AuditLog) -> None:
    backend = Backend()

    async def unreachable() -> str | None:
        raise SourceError("connection refused")

    async def slow() -> str | None:
        await asyncio.sleep(10)
        return None

    async def buggy() -> str | None:
        raise KeyError("pid")

    first = await run(backend.plan(recheck=unreachable), audit)
    second = await run(backend.plan(recheck=slow, timeout=0.1), audit)
    third = await run(backend.plan(recheck=buggy), audit)
    assert first.status == second.status == third.status == "refused-recheck"
    assert "connection refused" in first.message
    assert "timed out" in second.message and "KeyError" in third.message
    assert backend.executions == 0
    assert [r["outcome"] for r in records(audit)] == ["refused-recheck"] * 3


# ---------------------------------------------------------------- execute


async def test_success_is_audited_with_duration_before_returning(audit: AuditLog) -> None:
    backend = Backend()
    outcome = await run(backend.plan(), audit)
    # Read synchronously, right after the return: the record must already be on disk.
    (rec,) = records(audit)
    assert outcome.status == "succeeded" and outcome.audited
    assert outcome.message == "backend 4242 terminated"
    assert outcome.duration_ms is not None and outcome.duration_ms >= 50
    assert rec["outcome"] == "succeeded" and rec["duration_ms"] == outcome.duration_ms
    assert rec["error"] is None and rec["user"] == "oncall" and rec["ssh_client"] == "10.0.0.9"
    assert rec["ts"] == "2023-11-14T22:13:20.000Z"
    assert backend.rechecks == 1 and backend.executions == 1


async def test_timeout_is_audited(audit: AuditLog) -> None:
    backend = Backend()

    async def hangs() -> str:
        backend.executions += 1
        await asyncio.sleep(10)
        return "never"

    outcome = await run(backend.plan(execute=hangs, timeout=0.1), audit)
    assert outcome.status == "timeout"
    assert "may still have happened" in outcome.message  # the result is unknown: say so
    (rec,) = records(audit)
    assert rec["outcome"] == "timeout" and 90 <= rec["duration_ms"] < 2000


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no backend with pid 4242"), "failed"),
        (SourceTimeout("the server did not answer in 5 s"), "timeout"),  # outcome unknown
        (RuntimeError("adapter bug"), "failed"),  # a bug is recorded, not a crash
    ],
)
async def test_failure_is_audited_with_the_error(
    audit: AuditLog, error: Exception, status: str
) -> None:
    async def fails() -> str:
        raise error

    outcome = await run(Backend().plan(execute=fails), audit)
    assert outcome.status == status and str(error) in (outcome.error or "")
    (rec,) = records(audit)
    assert rec["outcome"] == status and rec["error"] == outcome.error
    assert rec["duration_ms"] is not None


async def test_interrupt_while_executing_is_audited_and_reraised(audit: AuditLog) -> None:
    backend = Backend()

    async def long_work() -> str:
        backend.started.set()
        await asyncio.sleep(10)
        return "never"

    task = asyncio.create_task(run(backend.plan(execute=long_work), audit))
    await backend.started.wait()
    task.cancel()  # what ctrl+c does to the action's worker
    with pytest.raises(asyncio.CancelledError):
        await task
    (rec,) = records(audit)
    assert rec["outcome"] == "failed" and rec["error"] == INTERRUPTED


async def test_interrupt_while_confirming_is_audited_as_cancelled(audit: AuditLog) -> None:
    backend, asked = Backend(), asyncio.Event()

    async def waits_forever(plan: ActionPlan) -> bool:
        asked.set()
        await asyncio.sleep(10)
        return True

    task = asyncio.create_task(run(backend.plan(), audit, waits_forever))
    await asked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(r["outcome"], r["error"]) for r in records(audit)] == [("cancelled", INTERRUPTED)]
    assert backend.executions == 0


async def test_audit_failure_after_execution_is_loud(audit: AuditLog) -> None:
    backend = Backend()

    async def then_break_the_log() -> str:
        backend.executions += 1
        # The log becomes unwritable while the action runs (a directory in its place).
        audit.path.unlink(missing_ok=True)
        audit.path.mkdir(parents=True)
        return "backend 4242 terminated"

    outcome = await run(backend.plan(execute=then_break_the_log), audit)
    assert backend.executions == 1
    assert outcome.status == "succeeded" and not outcome.audited
    assert outcome.message.startswith("DONE BUT NOT AUDITED")
    assert outcome.audit_error and str(audit.path) in outcome.audit_error


# ---------------------------------------------------------------- arming


async def test_arming_expiry_is_audited_once_and_refuses(audit: AuditLog) -> None:
    clock, backend = Clock(), Backend()
    arm = ArmState(production=True)
    arm.arm("INC-9", 1, clock())
    clock.now += 61
    first = await run(backend.plan(), audit, arm=arm, clock=clock)
    second = await run(backend.plan(), audit, arm=arm, clock=clock)
    assert first.status == second.status == "refused-disarmed"
    assert [r["outcome"] for r in records(audit)] == [
        "arm-expired",
        "refused-disarmed",
        "refused-disarmed",
    ]
    assert records(audit)[0]["reason"] == "INC-9"
    assert backend.executions == 0


async def test_arming_that_runs_out_during_the_dialog_refuses(audit: AuditLog) -> None:
    clock, backend = Clock(), Backend()
    arm = ArmState(production=True)
    arm.arm("INC-9", 1, clock())

    async def slow_operator(plan: ActionPlan) -> bool:
        clock.now += 120  # the dialog stayed open for two minutes
        return True

    outcome = await run(backend.plan(), audit, slow_operator, arm=arm, clock=clock)
    assert outcome.status == "refused-disarmed"
    assert backend.rechecks == 0 and backend.executions == 0
    assert [r["outcome"] for r in records(audit)] == ["arm-expired", "refused-disarmed"]


def test_arm_state_life_cycle() -> None:
    arm = ArmState(production=True)
    assert arm.needed and not arm.is_armed(T0) and arm.remaining(T0) is None
    with pytest.raises(ValueError):
        arm.arm("   ", 15, T0)
    with pytest.raises(ValueError):
        arm.arm("ok", 0, T0)
    arm.arm("  INC-1  ", 15, T0)
    assert arm.reason == "INC-1"
    assert arm.is_armed(T0 + 899) and arm.remaining(T0 + 60) == 840
    assert not arm.expired(T0 + 899)
    assert not arm.is_armed(T0 + 900) and arm.remaining(T0 + 900) is None
    assert arm.expired(T0 + 900) and not arm.expired(T0 + 901)  # reported once
    arm.arm("INC-2", 5, T0 + 1000)
    arm.disarm()  # a deliberate disarm is not an expiry
    assert not arm.is_armed(T0 + 1001) and not arm.expired(T0 + 99_999)
    relaxed = ArmState(production=False)  # not production: always armed, no clock shown
    assert not relaxed.needed and relaxed.is_armed(T0) and relaxed.remaining(T0) is None
    rec = arm_record(OPERATOR, "main", "armed", reason="INC-3", minutes=15, now=T0)
    assert rec.outcome == "armed" and rec.reason == "INC-3" and rec.params == {"minutes": 15}
    with pytest.raises(ValueError):
        arm_record(OPERATOR, "main", "succeeded")


def test_risk_and_policy_rules() -> None:
    backend = Backend()
    low = backend.plan()
    assert risk_for(low, production=False) is Risk.LOW
    assert risk_for(low, production=True) is Risk.HIGH
    assert effective_plan(low, production=False) is low
    raised = effective_plan(low, production=True)
    assert raised.risk is Risk.HIGH and raised.confirm_token == "main"
    high = backend.plan(risk=Risk.HIGH, confirm_token="4242")
    assert effective_plan(high, production=True).confirm_token == "4242"
    with pytest.raises(ValueError):
        backend.plan(risk=Risk.HIGH)  # HIGH without a token could never be confirmed
    with pytest.raises(ValueError):
        backend.plan(timeout=0)
    assert ActionPolicy(read_only=True).refusal(T0) is not None
    assert ActionPolicy(read_only=False).refusal(T0) is None
    prod = ArmState(production=True)
    assert ActionPolicy(read_only=False, arm=prod).refusal(T0)[0] == "refused-disarmed"  # type: ignore[index]
    prod.arm("why", 1, T0)
    assert ActionPolicy(read_only=False, arm=prod).refusal(T0) is None
