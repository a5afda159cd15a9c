"""The subprocess runner against real processes: exits, signals, timeouts, floods, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from adapters.runbook.group import group_members, signal_group
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
    assert result.last_streams == ("stdout", "stderr", "stdout")
    shown = [(line.text, line.stream) for batch in batches for line in batch.lines]
    # In order, each with its stream; the last partial line kept.
    assert shown == [("one", "stdout"), ("two", "stderr"), ("three", "stdout")]
    assert (result.stdout_lines, result.stderr_lines) == (2, 1)
    assert (result.stdout_bytes, result.stderr_bytes) == (len("one\nthree"), len("two\n"))
    assert "exit 0" in result.describe(20, 1) and "1 of the lines on stderr" in result.describe(
        20, 1
    )


INTERLEAVED = (
    "echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-2; sleep 0.1; "
    "echo err-2 >&2; printf part; sleep 0.1; echo err-3 >&2; sleep 0.1; echo ial; "
    "sleep 0.1; printf 'no newline' >&2"
)


async def test_interleaved_streams_keep_their_order_and_their_streams() -> None:
    """Lines written a moment apart on two pipes arrive in the order they were written;
    a stderr line in the middle of a stdout line does not split it."""
    batches: list[OutputBatch] = []
    result = await run_command(spec("sh", "-c", INTERLEAVED), on_output=batches.append)
    expected = [
        ("out-1", "stdout"),
        ("err-1", "stderr"),
        ("out-2", "stdout"),
        ("err-2", "stderr"),
        ("err-3", "stderr"),
        ("partial", "stdout"),
        ("no newline", "stderr"),
    ]
    shown = [(line.text, line.stream) for batch in batches for line in batch.lines]
    assert shown == expected
    assert list(zip(result.last_lines, result.last_streams, strict=True)) == expected
    assert result.lines == 7 and (result.stdout_lines, result.stderr_lines) == (3, 4)
    assert result.stdout_bytes == len("out-1\nout-2\npartial\n")
    assert result.stderr_bytes == len("err-1\nerr-2\nerr-3\nno newline")
    assert result.bytes == result.stdout_bytes + result.stderr_bytes
    assert batches[-1].stderr_lines == 4 and batches[-1].total_lines == 7


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


STDERR_LINE_AND_STDOUT_LINES = (
    "import sys\n"
    "for i in range(50):\n"
    "    sys.stderr.buffer.write(b'e' * 1048576); sys.stderr.flush()\n"
    "    sys.stdout.buffer.write(b'out %d\\n' % i); sys.stdout.flush()\n"
)


async def test_a_50_mb_stderr_line_beside_stdout_lines_stays_bounded() -> None:
    """Each stream has its own partial line: stderr's 50 MB line is cut at the cap, and
    stdout's lines, read in between, are whole and in order."""
    batches: list[OutputBatch] = []
    tracemalloc.start()
    try:
        result = await run_command(
            spec(PY, "-c", STDERR_LINE_AND_STDOUT_LINES), on_output=batches.append
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "succeeded"
    assert result.stderr_bytes == 50 * MB and result.stderr_lines == 1
    assert result.stdout_lines == 50 and result.lines == 51
    assert result.bytes == result.stdout_bytes + result.stderr_bytes
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MiB"
    shown = [line for batch in batches for line in batch.lines]
    assert [line.text for line in shown if line.stream == "stdout"] == [
        f"out {i}" for i in range(50)
    ]
    (long,) = [line for line in shown if line.stream == "stderr"]
    assert long.cut and long.text == "e" * 4096
    assert result.last_lines[-1] == "e" * 4096 + "…" and result.last_streams[-1] == "stderr"


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
    assert [line.text for line in batch.lines] == ["997", "998", "999"]
    assert batch.skipped == 997
    assert batch.total_lines == 1000
    assert capture.last_lines(5) == ("995", "996", "997", "998", "999")
    assert capture.take_batch() is None


def test_capture_keeps_a_partial_line_per_stream() -> None:
    capture = OutputCapture(line_cap=8)
    capture.feed(b"ab", "stdout")
    capture.feed(b"X\nY", "stderr")  # a whole stderr line between two halves of stdout's
    capture.feed(b"c\nd", "stdout")
    capture.feed(b"123456789\n", "stderr")  # completes "Y…", cut at the cap
    capture.close("stdout")
    assert capture.last_entries(10) == (
        ("X", "stderr"),
        ("abc", "stdout"),
        ("Y1234567…", "stderr"),
        ("d", "stdout"),
    )
    batch = capture.take_batch()
    assert batch is not None
    assert [(line.text, line.stream, line.cut) for line in batch.lines] == [
        ("X", "stderr", False),
        ("abc", "stdout", False),
        ("Y1234567", "stderr", True),
        ("d", "stdout", False),
    ]
    assert capture.lines_by_stream == {"stdout": 2, "stderr": 2}
    assert capture.bytes_by_stream == {"stdout": 5, "stderr": 13}
    assert batch.total_lines == 4 and batch.stderr_lines == 2


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


async def _wait_dead(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not pid_alive(pid)


def _kill_leftover(pidfile: Path) -> None:
    """The test's own leftover, if the runner failed to stop it."""
    if pidfile.exists() and pidfile.read_text().strip():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


async def test_a_group_member_ignoring_sigterm_is_killed_when_the_leader_obeys(
    tmp_path: Path,
) -> None:
    """The leader exits on SIGTERM; a child that ignores it (and let go of the pipe)
    must still get SIGKILL after the grace, not be left running."""
    pidfile = tmp_path / "pid"
    script = (
        "(trap '' TERM; exec sleep 30) >/dev/null 2>&1 & "
        f"echo $! > {pidfile}; "
        "trap 'exit 0' TERM; while :; do sleep .1; done"
    )
    try:
        started = time.monotonic()
        result = await run_command(spec("bash", "-c", script, timeout=1.0, grace=1.0))
        elapsed = time.monotonic() - started
        sleeper = int(pidfile.read_text())
        assert await _wait_dead(sleeper), "the SIGTERM-ignoring child survived"
        assert result.status == "timeout" and result.escalated
        assert result.exit_code == 0 and result.signal is None  # the leader obeyed
        text = result.describe(1.0, 1.0)
        assert "exit 0 after SIGTERM" in text and "SIGKILL" in text, text
        assert "None" not in text
        assert 1.9 <= elapsed < 6.0, elapsed
    finally:
        _kill_leftover(pidfile)


async def test_timeout_describes_how_it_stopped() -> None:
    result = await run_command(spec("sleep", "30", timeout=0.3, grace=2.0))
    assert result.describe(0.3, 2.0).startswith("timed out after 0.3 s: stopped by SIGTERM")
    trapped = await run_command(
        spec("bash", "-c", "trap 'exit 3' TERM; while :; do sleep .1; done", timeout=0.3)
    )
    assert trapped.status == "timeout" and not trapped.escalated
    assert "timed out after 0.3 s: exit 3 after SIGTERM" in trapped.describe(0.3, 1.0)


async def test_background_processes_left_after_a_normal_exit_are_reported(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "pid"
    try:
        result = await run_command(
            spec("sh", "-c", f"sleep 30 >/dev/null 2>&1 & echo $! > {pidfile}; echo done")
        )
        assert result.status == "succeeded" and result.last_lines == ("done",)
        assert pid_alive(int(pidfile.read_text()))  # reported, not killed silently
        assert "1 background process still running in the command's group" in (result.detail or "")
        assert "still running" in result.describe(20, 1)
    finally:
        _kill_leftover(pidfile)


async def test_no_leftover_note_when_the_group_is_empty() -> None:
    # The background job ends before the leader does: nothing is left, nothing said.
    result = await run_command(spec("sh", "-c", "sleep 0.1 & wait; echo ok"))
    assert result.succeeded and result.detail is None


async def test_a_failing_output_callback_does_not_end_the_run() -> None:
    calls = 0
    shown: list[str] = []

    def on_output(batch: OutputBatch) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the panel is gone")
        shown.extend(line.text for line in batch.lines)

    result = await run_command(
        spec("sh", "-c", "echo first; sleep 0.6; echo second; exit 5"),
        on_output=on_output,
        flush_interval=0.1,
    )
    assert result.status == "failed" and result.exit_code == 5
    assert result.last_lines == ("first", "second")
    assert calls >= 2 and shown == ["second"]  # later batches still delivered


async def test_the_final_batch_callback_failing_is_not_raised() -> None:
    def on_output(batch: OutputBatch) -> None:
        raise RuntimeError("boom")

    # Fast enough that the only batch is the final one, delivered after the exit.
    result = await run_command(spec("echo", "hi"), on_output=on_output, flush_interval=30)
    assert result.succeeded and result.last_lines == ("hi",)


async def test_output_is_read_when_the_pipe_fd_is_above_1024() -> None:
    """`select.select` cannot watch fd >= 1024; a busy console may have that many open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the fd limit ({hard}) is too low to push the pipe past 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    fillers: list[int] = []
    try:
        probe = os.open(os.devnull, os.O_RDONLY)
        fillers.append(probe)
        while fillers[-1] < 1030:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        result = await run_command(spec("sh", "-c", "echo high; echo fd", timeout=10))
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result.succeeded and result.last_lines == ("high", "fd")
    assert result.detail is None  # read to its end, not given up on


def test_a_refused_group_signal_is_reported_not_swallowed() -> None:
    """A group whose members run as another user (root under sudo): the kernel says
    EPERM. A forked child turned `nobody` checks a root-owned group."""
    if os.geteuid() != 0:
        pytest.skip("needs root to check as another user")
    import subprocess

    root_group = subprocess.Popen(["sleep", "30"], start_new_session=True)
    read_fd, write_fd = os.pipe()
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the fork
            try:
                os.setgid(65534)
                os.setuid(65534)
                refusal = signal_group(root_group.pid, signal.SIGTERM)
                members = group_members(root_group.pid)
                os.write(write_fd, f"{refusal}\n{members}\n".encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        os.waitpid(child, 0)
        with os.fdopen(read_fd) as f:
            refusal, members = f.read().splitlines()
        assert "SIGTERM to the command's process group was refused (permission denied" in refusal
        assert members in ("1", "None")  # alive either way, never "gone"
        assert root_group.poll() is None  # the refusal was real
    finally:
        root_group.kill()
        root_group.wait()


def test_describe_a_command_that_could_not_be_reaped() -> None:
    """A process stuck in the kernel cannot be produced on demand: the wording only."""
    from adapters.runbook.runner import RunResult

    stuck = RunResult(
        status="timeout",
        argv0="mount",
        exit_code=None,
        signal=None,
        duration=12.0,
        lines=0,
        bytes=0,
        last_lines=(),
        escalated=True,
        detail="the command (pid 42) could not be reaped",
    )
    text = stuck.describe(5, 2)
    assert text.startswith("timed out after 5 s: SIGKILL sent after 2 s grace")
    assert "could not be reaped" in text and "None" not in text
