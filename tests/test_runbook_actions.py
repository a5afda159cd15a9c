"""Runbook plans through the real life cycle (`run_action`), real subprocesses, real audit."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.runbook.output import OutputBatch
from console.actions import ActionPlan, Risk, run_action
from console.arming import ArmState
from console.audit import AuditLog
from console.config_runbook import RunbookActionConfig
from console.operator import OperatorContext
from console.runbook_actions import runbook_plan, secret_masker

OPERATOR = OperatorContext(user="oncall", sudo_user=None, ssh_client=None, hostname="h", pid=1)
pytestmark = pytest.mark.timeout(60)


async def yes(plan: ActionPlan) -> bool:
    return True


async def no(plan: ActionPlan) -> bool:
    return False


def audit_lines(log: AuditLog) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


async def run(
    tmp_path: Path,
    action: RunbookActionConfig,
    argv: tuple[str, ...] | None = None,
    *,
    confirm=yes,
    read_only: bool = False,
    cancel: asyncio.Event | None = None,
    grace: float = 1.0,
    shown: list[str] | None = None,
    on_output: Callable[[OutputBatch], None] | None = None,
    on_start: Callable[[str], None] | None = None,
):
    log = AuditLog(tmp_path / "audit.jsonl")

    def show(batch: OutputBatch) -> None:
        if shown is not None:
            shown.extend(line.text for line in batch.lines)

    plan = runbook_plan(
        action,
        argv or action.argv,
        target="t",
        on_output=on_output or show,
        on_start=on_start,
        cancel=cancel,
        grace=grace,
    )
    outcome = await run_action(
        plan, confirm=confirm, audit=log, operator=OPERATOR, read_only=read_only, arm=None
    )
    return outcome, audit_lines(log)


async def test_success_audits_exit_code_duration_and_last_lines(tmp_path: Path) -> None:
    action = RunbookActionConfig(
        name="hello", argv=("sh", "-c", "for i in $(seq 1 30); do echo line $i; done")
    )
    shown: list[str] = []
    outcome, (record,) = await run(tmp_path, action, shown=shown)
    assert outcome.succeeded and "hello: exit 0" in outcome.message
    assert shown[-1] == "line 30" and len(shown) == 30
    assert record["action"] == "runbook.hello" and record["outcome"] == "succeeded"
    assert record["preview"] == "sh -c 'for i in $(seq 1 30); do echo line $i; done'"
    execution = record["execution"]
    assert execution["exit_code"] == 0 and execution["output_lines"] == 30
    assert execution["last_lines"] == [f"line {i}" for i in range(11, 31)]
    assert execution["duration_s"] >= 0 and record["duration_ms"] >= 0


async def test_failure_is_audited_failed_with_the_exit_code(tmp_path: Path) -> None:
    action = RunbookActionConfig(name="bad", argv=("sh", "-c", "echo oops >&2; exit 2"))
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.status == "failed" and "exit 2" in outcome.message
    assert record["outcome"] == "failed" and record["error"].startswith("exit 2 after")
    assert record["execution"]["exit_code"] == 2
    assert record["execution"]["last_lines"] == ["stderr: oops"]
    assert record["execution"]["stderr_lines"] == 1 and record["execution"]["stdout_lines"] == 0


INTERLEAVED = (
    "echo step 1; sleep 0.1; echo 'warning: slow' >&2; sleep 0.1; echo step 2; sleep 0.1; "
    "echo 'fatal: gave up' >&2; exit 1"
)


async def test_streams_are_counted_and_stderr_marked_in_the_audit(tmp_path: Path) -> None:
    action = RunbookActionConfig(name="mixed", argv=("sh", "-c", INTERLEAVED))
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.status == "failed" and "2 of the lines on stderr" in outcome.message
    execution = record["execution"]
    # The totals as before, and the split per stream beside them.
    assert execution["output_lines"] == 4
    assert execution["output_bytes"] == len("step 1\nwarning: slow\nstep 2\nfatal: gave up\n")
    assert (execution["stdout_lines"], execution["stderr_lines"]) == (2, 2)
    assert execution["stdout_bytes"] == len("step 1\nstep 2\n")
    assert execution["stderr_bytes"] == len("warning: slow\nfatal: gave up\n")
    assert execution["last_lines"] == [
        "step 1",
        "stderr: warning: slow",
        "step 2",
        "stderr: fatal: gave up",
    ]


async def test_hostile_bytes_on_stderr_are_inert_in_the_panel_feed_and_audit(
    tmp_path: Path,
) -> None:
    """Escape sequences and controls on stderr: the audit keeps them visible and inert;
    the panel gets the raw text (it sanitises what it draws), masked like stdout."""
    script = (
        "printf 'evil \\033]0;pwned\\007 \\033[2J\\342\\200\\256 bell\\007 %s\\n' \"$TOKEN\" >&2"
    )
    action = RunbookActionConfig(
        name="hostile", argv=("sh", "-c", script), env=(("TOKEN", "s3cr3t-value"),)
    )
    lines: list[tuple[str, str]] = []

    def panel(batch: OutputBatch) -> None:
        lines.extend((line.stream, line.text) for line in batch.lines)

    outcome, (record,) = await run(tmp_path, action, on_output=panel)
    assert outcome.succeeded
    assert lines == [("stderr", "evil \x1b]0;pwned\x07 \x1b[2J\u202e bell\x07 ********")]
    (last,) = record["execution"]["last_lines"]
    assert last == "stderr: evil ␛]0;pwned␇ ␛[2J<U+202E> bell␇ ********"
    text = (tmp_path / "audit.jsonl").read_text()
    assert "\\u001b" not in text and "s3cr3t-value" not in text


async def test_timeout_is_audited_as_timeout(tmp_path: Path) -> None:
    action = RunbookActionConfig(
        name="slow", argv=("sh", "-c", "trap '' TERM; sleep 30"), timeout=0.3
    )
    outcome, (record,) = await run(tmp_path, action, grace=0.5)
    assert outcome.status == "timeout"
    assert record["outcome"] == "timeout"
    assert "killed by SIGKILL after 0.5 s grace" in record["error"]
    assert record["execution"]["escalated_to_sigkill"] is True


async def test_killed_by_a_signal_is_audited(tmp_path: Path) -> None:
    action = RunbookActionConfig(name="suicide", argv=("sh", "-c", "kill -9 $$"))
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.status == "failed" and "killed by SIGKILL" in outcome.message
    assert record["execution"]["signal"] == "SIGKILL"


async def test_not_found_is_refused_at_recheck(tmp_path: Path) -> None:
    action = RunbookActionConfig(name="nf", argv=("ops-console-missing-cmd", "x"))
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.status == "refused-recheck"
    assert "command not found: ops-console-missing-cmd" in outcome.message
    assert record["outcome"] == "refused-recheck"


async def test_not_executable_is_refused_at_recheck(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    action = RunbookActionConfig(name="ne", argv=(str(script),))
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.status == "refused-recheck" and "not executable" in outcome.message
    assert record["error"] == f"not executable: {script}"


async def test_relative_command_resolves_from_cwd(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    script = scripts / "rollback.sh"
    script.write_text("#!/bin/sh\necho rolled back in $(pwd)\n")
    script.chmod(0o755)
    action = RunbookActionConfig(name="rb", argv=("./rollback.sh",), cwd=scripts)
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.succeeded, outcome
    assert record["execution"]["last_lines"] == [f"rolled back in {scripts}"]


async def test_flood_is_audited_bounded(tmp_path: Path) -> None:
    script = "import sys\nsys.stdout.buffer.write((b'z' * 1000 + b'\\n') * 50000)\n"
    action = RunbookActionConfig(name="flood", argv=(sys.executable, "-c", script))
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.succeeded
    execution = record["execution"]
    assert execution["output_lines"] == 50000 and execution["output_bytes"] == 50000 * 1001
    assert len(execution["last_lines"]) == 20
    assert all(len(line) <= 300 for line in execution["last_lines"])
    assert (tmp_path / "audit.jsonl").stat().st_size < 16_000


async def test_cancel_event_stops_and_audits(tmp_path: Path) -> None:
    cancel = asyncio.Event()
    action = RunbookActionConfig(name="sleep", argv=("sleep", "60"))
    task = asyncio.create_task(run(tmp_path, action, cancel=cancel))
    await asyncio.sleep(0.5)
    cancel.set()
    outcome, (record,) = await asyncio.wait_for(task, 5)
    # Stopped on purpose: cancelled, in the message and the audit alike, not failed.
    assert outcome.status == "cancelled"
    assert outcome.message.startswith("Cancelled: stopped by the operator after ")
    assert record["outcome"] == "cancelled" and record["execution"]["status"] == "cancelled"
    assert record["error"].startswith("stopped by the operator after ")
    assert record["execution"]["signal"] == "SIGTERM" and record["duration_ms"] > 0


async def test_declined_confirmation_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    action = RunbookActionConfig(name="touch", argv=("touch", str(marker)))
    outcome, (record,) = await run(tmp_path, action, confirm=no)
    assert outcome.status == "cancelled" and record["outcome"] == "cancelled"
    assert not marker.exists()


async def test_read_only_refuses_without_asking(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    action = RunbookActionConfig(name="touch", argv=("touch", str(marker)))
    asked: list[ActionPlan] = []

    async def confirm(plan: ActionPlan) -> bool:
        asked.append(plan)
        return True

    outcome, (record,) = await run(tmp_path, action, confirm=confirm, read_only=True)
    assert outcome.status == "refused-read-only" and not asked and not marker.exists()
    assert record["outcome"] == "refused-read-only"


async def test_env_values_never_reach_preview_or_audit(tmp_path: Path) -> None:
    action = RunbookActionConfig(
        name="envy", argv=("sh", "-c", 'test -n "$SECRET_X"'), env=(("SECRET_X", "hunter2"),)
    )
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.succeeded  # the value reached the command
    text = (tmp_path / "audit.jsonl").read_text()
    assert "hunter2" not in text and record["params"]["env"] == ["SECRET_X"]


async def test_preview_shows_the_directory_it_runs_in(tmp_path: Path, monkeypatch) -> None:
    here = tmp_path / "console-cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    action = RunbookActionConfig(name="where", argv=("pwd",))
    plan = runbook_plan(action, action.argv, target="t")
    assert dict(plan.details)["cwd"] == f"{here} (the console's working directory)"
    assert Path(dict(plan.details)["cwd"].split(" ")[0]).is_absolute()
    monkeypatch.chdir(tmp_path)  # the console moves on: it still runs where it said
    outcome, (record,) = await run(tmp_path, action)
    assert outcome.succeeded and record["execution"]["last_lines"] == [str(tmp_path)]
    log = AuditLog(tmp_path / "audit2.jsonl")
    outcome = await run_action(
        plan, confirm=yes, audit=log, operator=OPERATOR, read_only=False, arm=None
    )
    assert outcome.succeeded and audit_lines(log)[0]["execution"]["last_lines"] == [str(here)]
    own = RunbookActionConfig(name="there", argv=("pwd",), cwd=tmp_path)
    assert dict(runbook_plan(own, own.argv, target="t").details)["cwd"] == str(tmp_path)


def test_plan_risk_and_tokens() -> None:
    low = RunbookActionConfig(name="a", argv=("true",))
    high = RunbookActionConfig(name="undo", argv=("true",), kind="rollback", risk="high")
    assert runbook_plan(low, low.argv, target="t").risk is Risk.LOW
    plan = runbook_plan(high, high.argv, target="t")
    assert plan.risk is Risk.HIGH and plan.confirm_token == "undo"
    assert runbook_plan(high, high.argv, target="prod", production=True).confirm_token == "prod"
    assert plan.title == "Roll back with runbook action undo"
    assert plan.timeout > high.timeout  # the runner owns the timeout, not the life cycle


async def test_production_disarmed_refuses(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    action = RunbookActionConfig(name="a", argv=("true",))
    plan = runbook_plan(action, action.argv, target="prod", production=True)
    outcome = await run_action(
        plan,
        confirm=yes,
        audit=log,
        operator=OPERATOR,
        read_only=False,
        arm=ArmState(production=True),
    )
    assert outcome.status == "refused-disarmed"


async def test_ctrl_c_before_the_start_runs_nothing(tmp_path: Path) -> None:
    """ctrl+c pressed while the recheck ran: the event is set when execute begins."""
    marker = tmp_path / "ran"
    action = RunbookActionConfig(name="touch", argv=("touch", str(marker)))
    cancel = asyncio.Event()
    cancel.set()
    started: list[str] = []
    outcome, (record,) = await run(tmp_path, action, cancel=cancel, on_start=started.append)
    assert not marker.exists() and not started
    assert outcome.status == "cancelled" and record["outcome"] == "cancelled"
    assert "before it started; nothing was run" in outcome.message
    assert record["execution"] == {"status": "not-started"}
    assert "nothing was run" in record["error"]


def test_a_rollback_is_high_risk_even_if_built_low() -> None:
    """The config refuses `risk: low` on a rollback; the plan does not trust it either."""
    action = RunbookActionConfig(name="undo", argv=("true",), kind="rollback", risk="low")
    plan = runbook_plan(action, action.argv, target="t")
    assert plan.risk is Risk.HIGH and plan.confirm_token == "undo"


async def test_a_failing_panel_does_not_fail_a_successful_command(tmp_path: Path) -> None:
    calls = 0

    def panel(batch: OutputBatch) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("panel detached")

    def begin(command: str) -> None:
        raise RuntimeError("no panel to begin on")

    action = RunbookActionConfig(
        name="ok", argv=("sh", "-c", "echo one; sleep 0.5; echo two; exit 0")
    )
    outcome, (record,) = await run(tmp_path, action, on_output=panel, on_start=begin)
    assert calls >= 1
    assert outcome.succeeded, outcome
    assert record["outcome"] == "succeeded" and "unexpected" not in (record["error"] or "")
    assert record["execution"]["exit_code"] == 0
    assert record["execution"]["last_lines"] == ["one", "two"]


async def test_env_secrets_are_masked_in_the_panel_and_the_audit(tmp_path: Path) -> None:
    action = RunbookActionConfig(
        name="leak",
        argv=("sh", "-c", "echo token=$TOKEN; echo short=$S; echo got $TOKEN here"),
        env=(("TOKEN", "s3cr3t-value"), ("S", "ab")),
    )
    shown: list[str] = []
    outcome, (record,) = await run(tmp_path, action, shown=shown)
    assert outcome.succeeded
    assert shown == ["token=********", "short=ab", "got ******** here"]
    # "token=" lines are also caught by the audit's own redaction; "got … here" only by
    # the runbook's masking.
    assert record["execution"]["last_lines"][1:] == ["short=ab", "got ******** here"]
    assert "s3cr3t-value" not in (tmp_path / "audit.jsonl").read_text()
    assert "s3cr3t-value" not in outcome.message


def test_masking_takes_the_longest_secret_first() -> None:
    mask = secret_masker({"A": "abcd", "B": "abcdefgh", "C": "x"})
    assert mask("abcdefgh abcd x") == "******** ******** x"
    assert secret_masker({})("abcd") == "abcd"
