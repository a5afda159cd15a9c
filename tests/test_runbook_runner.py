"""The subprocess runner against real processes: exits, signals, timeouts, floods, cancel."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from adapters.runbook.output import OutputBatch, OutputCapture
from adapters.runbook.runner import RunSpec, run_command

PY = sys.executable
MB = 1024 * 1024

pytestmark = pytest.mark.timeout(60)


def spec(*argv: str, **kw: object) -> RunSpec:
    values: dict[str, object] = {"timeout": 20.0, "grace": 1.0}
    values.update(kw)
    return RunSpec(argv=argv, **values)  # type: ignore[arg-type]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def test_success_streams_lines_and_counts() -> None:
    batches: list[OutputBatch] = []
    result = await run_command(
        spec("sh", "-c", "echo one; echo two >&2; printf three"), on_output=batches.append
    )
    assert result.status == "succeeded" and result.exit_code == 0 and result.signal is None
    assert result.lines == 3 and result.bytes == len("one\ntwo\nthree")
    assert result.last_lines == ("one", "two", "three")
    shown = [line for batch in batches for line in batch.lines]
    assert shown == ["one", "two", "three"]  # stderr joined in order, last partial line kept
    assert "exit 0" in result.describe(20, 1)


async def test_failure_keeps_exit_code_and_last_lines() -> None:
    result = await run_command(spec("sh", "-c", "for i in 1 2 3; do echo l$i; done; exit 3"))
    assert result.status == "failed" and result.exit_code == 3
    assert result.last_lines == ("l1", "l2", "l3")
    assert result.describe(20, 1).startswith("exit 3 after")


async def test_timeout_sends_sigterm_to_the_group() -> None:
    started = time.monotonic()
    # The shell waits for a child: SIGTERM must reach the child too (its own group).
    result = await run_command(
        spec("sh", "-c", "echo started; sleep 30; echo never", timeout=0.5, grace=5.0)
    )
    elapsed = time.monotonic() - started
    assert result.status == "timeout" and result.signal == "SIGTERM"
    assert not result.escalated
    assert elapsed < 3.0, elapsed
    assert result.last_lines == ("started",)
    assert "timed out after 0.5 s" in result.describe(0.5, 5.0)


async def test_a_child_that_ignores_sigterm_gets_sigkill_after_grace(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = await run_command(
        spec(
            "sh",
            "-c",
            f"trap '' TERM; sleep 60 & echo $! > {pidfile}; wait",
            timeout=0.3,
            grace=0.7,
        )
    )
    elapsed = time.monotonic() - started
    assert result.status == "timeout" and result.escalated and result.signal == "SIGKILL"
    assert 0.9 <= elapsed < 5.0, elapsed
    assert "killed by SIGKILL after 0.7 s grace" in result.describe(0.3, 0.7)
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while pid_alive(child) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not pid_alive(child), "the background child survived the group SIGKILL"


async def test_cancel_event_stops_it_quickly() -> None:
    cancel = asyncio.Event()
    task = asyncio.create_task(run_command(spec("sleep", "60", grace=2.0), cancel=cancel))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    cancel.set()
    result = await task
    assert time.monotonic() - started < 1.5
    assert result.status == "cancelled" and result.signal == "SIGTERM"
    assert "stopped by the operator" in result.describe(300, 2)


async def test_cancelling_the_coroutine_kills_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(
        run_command(spec("sh", "-c", f"trap '' TERM; echo $$ > {pidfile}; sleep 60"))
    )
    while not pidfile.exists() or not pidfile.read_text().strip():
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    shell = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while pid_alive(shell) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not pid_alive(shell)


async def test_command_not_found_is_a_result() -> None:
    result = await run_command(spec("ops-console-no-such-command-xyz"))
    assert result.status == "not-found"
    assert result.describe(1, 1) == "command not found: ops-console-no-such-command-xyz"


async def test_missing_cwd_is_a_result(tmp_path: Path) -> None:
    result = await run_command(spec("true", cwd=tmp_path / "gone"))
    assert result.status == "not-found"
    assert "working directory" in result.describe(1, 1)


async def test_file_without_exec_bit_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = await run_command(spec(str(script)))
    assert result.status == "not-executable", result
    assert result.describe(1, 1).startswith(f"not executable: {script}")


async def test_killed_by_a_signal() -> None:
    result = await run_command(spec("sh", "-c", "echo bye; kill -9 $$"))
    assert result.status == "killed" and result.signal == "SIGKILL" and result.exit_code is None
    assert result.last_lines == ("bye",)
    assert result.describe(1, 1).startswith("killed by SIGKILL")
    assert signal.SIGKILL.name == result.signal


FLOOD = (
    "import sys\n"
    "line = b'x' * 511 + b'\\n'\n"
    "block = line * 2048\n"  # 1 MiB
    "for _ in range(50): sys.stdout.buffer.write(block)\n"
)


async def test_50_mb_of_output_is_counted_exactly_in_bounded_memory() -> None:
    batches = 0
    shown = 0

    def on_output(batch: OutputBatch) -> None:
        nonlocal batches, shown
        batches += 1
        shown += len(batch.lines)

    tracemalloc.start()
    try:
        result = await run_command(spec(PY, "-c", FLOOD), on_output=on_output)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "succeeded"
    assert result.bytes == 50 * MB and result.lines == 50 * 2048
    assert len(result.last_lines) == 20 and result.last_lines[-1] == "x" * 511
    assert peak < 12 * MB, f"peak {peak / MB:.1f} MiB"
    assert shown < result.lines  # the panel got the newest lines, not all 100k
    assert batches >= 1


async def test_a_50_mb_line_without_newline_stays_bounded() -> None:
    script = "import sys\nfor _ in range(50): sys.stdout.buffer.write(b'y' * 1048576)\n"
    tracemalloc.start()
    try:
        result = await run_command(spec(PY, "-c", script))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "succeeded"
    assert result.bytes == 50 * MB and result.lines == 1
    (last,) = result.last_lines
    assert last == "y" * 4096 + "…"  # cut at the line cap, marked
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MiB"


def test_capture_handles_any_chunking() -> None:
    data = b"alpha\r\nbeta\n\ngamma-long-line\ndelta"
    whole = OutputCapture(line_cap=8)
    whole.feed(data)
    whole.close()
    split = OutputCapture(line_cap=8)
    for i in range(len(data)):
        split.feed(data[i : i + 1])
    split.close()
    expected = ("alpha", "beta", "", "gamma-lo…", "delta")
    assert whole.last_lines(10) == split.last_lines(10) == expected
    assert whole.total_lines == split.total_lines == 5
    assert whole.total_bytes == split.total_bytes == len(data)


def test_capture_flood_keeps_only_the_newest_for_the_panel() -> None:
    capture = OutputCapture(ring=5, pending_cap=3)
    capture.feed(b"".join(b"%d\n" % i for i in range(1000)))
    batch = capture.take_batch()
    assert batch is not None
    assert batch.lines == ("997", "998", "999") and batch.skipped == 997
    assert batch.total_lines == 1000
    assert capture.last_lines(5) == ("995", "996", "997", "998", "999")
    assert capture.take_batch() is None


async def test_env_and_cwd_reach_the_command(tmp_path: Path) -> None:
    result = await run_command(
        spec("sh", "-c", 'echo "$OPS_RB_TEST"; pwd', cwd=tmp_path, env={"OPS_RB_TEST": "v1"})
    )
    assert result.last_lines == ("v1", str(tmp_path))


async def test_stdin_is_closed() -> None:
    result = await run_command(spec("sh", "-c", "read x && echo got || echo eof", timeout=5))
    assert result.last_lines == ("eof",)


async def test_a_background_child_holding_the_pipe_does_not_hang_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = await run_command(spec("sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo done"))
    try:
        assert result.status == "succeeded" and result.last_lines == ("done",)
        assert result.detail is not None and "kept the output open" in (result.detail or "")
        assert time.monotonic() - started < 5.0
    finally:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the test's own leftover


def test_runner_imports_no_textual_or_rich() -> None:
    import subprocess

    code = (
        "import sys, adapters.runbook.runner, adapters.runbook.output; "
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [PY, "-c", code], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    loaded = set(out.strip().split(","))
    assert "textual" not in loaded and "rich" not in loaded, loaded & {"textual", "rich"}
