"""LogFollower against the real engine: streams, timestamps, bounds, and a prompt stop."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from adapters.docker.log_stream import Dechunker, Demuxer, LineAssembler
from adapters.docker.logs import LogBatch, LogFollower
from adapters.docker.models import LogLine
from tests.docker_situations import wait_until

pytest_plugins = ("tests.docker_situations",)

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


def factory() -> docker.DockerClient:
    return docker.from_env(timeout=10)


def collect(follower: LogFollower, until: Any, timeout: float = 10.0) -> list[LogLine]:
    """Drain on a timer (as the UI does) until `until(lines)` holds."""
    lines: list[LogLine] = []
    deadline = time.monotonic() + timeout
    while True:
        batch = follower.drain()
        lines.extend(batch.lines)
        if until(lines) or batch.ended:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {[line.text for line in lines][-5:]}")
        time.sleep(0.05)


def follow(container: Any, **kwargs: Any) -> LogFollower:
    follower = LogFollower(factory, container.id, **kwargs)
    follower.start()
    return follower


def test_stdout_and_stderr_are_told_apart_with_timestamps(containers: Any) -> None:
    c = containers.run(command=["sh", "-c", "echo to-out; echo to-err >&2; exec sleep 600"])
    f = follow(c)
    try:
        lines = collect(f, lambda ls: len(ls) >= 2)
    finally:
        f.stop()
    by_text = {line.text: line for line in lines}
    assert by_text["to-out"].stream == "stdout"
    assert by_text["to-err"].stream == "stderr"
    for line in lines:
        assert line.timestamp is not None and line.timestamp.endswith("Z")
        assert line.timestamp[:4].isdigit() and "T" in line.timestamp
        assert not line.truncated


def test_invalid_utf8_replaced_and_escapes_kept_raw(containers: Any) -> None:
    script = r"printf 'bad\377byte\n'; printf '\033]52;c;aGk=\007\033[2Jend\n'; exec sleep 600"
    c = containers.run(command=["sh", "-c", script])
    f = follow(c)
    try:
        lines = collect(f, lambda ls: len(ls) >= 2)
    finally:
        f.stop()
    assert lines[0].text == "bad\ufffdbyte"
    # Raw on purpose: the view sanitises (widgets/safe_text.py), the adapter keeps data.
    assert lines[1].text == "\x1b]52;c;aGk=\x07\x1b[2Jend"


def test_one_megabyte_line_is_truncated_and_the_next_line_is_intact(containers: Any) -> None:
    script = "head -c 1048576 /dev/zero | tr '\\0' a; echo; echo next; exec sleep 600"
    c = containers.run(command=["sh", "-c", script])
    f = follow(c, max_line_bytes=4096)
    try:
        lines = collect(f, lambda ls: any(line.text == "next" for line in ls))
    finally:
        f.stop()
    assert len(lines) == 2, [(len(x.text), x.truncated) for x in lines]
    assert lines[0].truncated and lines[0].text == "a" * 4096
    assert lines[1].text == "next" and not lines[1].truncated


def test_tail_and_since(containers: Any, docker_client: Any) -> None:
    script = "for i in 1 2 3 4 5; do echo early$i; done; sleep 2; echo late; exec sleep 600"
    c = containers.run(command=["sh", "-c", script])
    wait_until(lambda: b"late" in c.logs(), timeout=10, what="late line")

    f = follow(c, tail=2, follow=False)
    lines = collect(f, lambda ls: False)
    assert [line.text for line in lines] == ["early5", "late"]
    assert f.drain().ended

    # since: the timestamp of the late line minus a little (between early and late).
    late_ts = next(line.timestamp for line in lines if line.text == "late")
    from adapters.docker.actions import parse_time

    since = parse_time(late_ts)
    assert since is not None
    f = follow(c, since=since - 0.5, tail=None, follow=False)
    lines = collect(f, lambda ls: False)
    assert [line.text for line in lines] == ["late"]


def test_tty_container_is_all_stdout(containers: Any) -> None:
    c = containers.run(
        command=["sh", "-c", "echo tty-out; echo tty-err >&2; exec sleep 600"], tty=True
    )
    f = follow(c)
    try:
        lines = collect(f, lambda ls: len(ls) >= 2)
    finally:
        f.stop()
    assert {line.text for line in lines} == {"tty-out", "tty-err"}  # \r of the tty removed
    assert {line.stream for line in lines} == {"stdout"}
    assert all(line.timestamp for line in lines)


@pytest.mark.timeout(150)
def test_flood_keeps_the_buffer_bounded_and_counts_drops(containers: Any) -> None:
    total = 100_000
    c = containers.run(
        command=["sh", "-c", f"yes 'flood line of some length' | head -n {total}; exec sleep 600"],
        nano_cpus=500_000_000,
    )
    f = follow(c, tail=None, buffer_lines=1000)
    started = time.monotonic()
    peak = 0
    worst_gap = 0.0  # how long this thread (standing in for the UI) waited for the GIL
    try:
        while f.lines_read < total and time.monotonic() - started < 90:
            peak = max(peak, len(f._lines))
            before = time.monotonic()
            time.sleep(0.01)
            worst_gap = max(worst_gap, time.monotonic() - before - 0.01)
        elapsed = time.monotonic() - started
        batch = f.drain()
    finally:
        f.stop()
    assert f.lines_read == total
    assert peak <= 1000 and len(batch.lines) == 1000
    assert batch.dropped == total - 1000 == f.lines_dropped
    assert batch.lines[-1].text == "flood line of some length"
    assert worst_gap < 0.5, f"the reader starved the main thread for {worst_gap:.3f} s"
    print(
        f"\nflood: {total} lines read in {elapsed:.2f} s = {total / elapsed:,.0f} lines/s; "
        f"worst main-thread delay {worst_gap * 1000:.1f} ms"
    )


def test_drain_in_batches_reports_drops_once(containers: Any) -> None:
    c = containers.run(command=["sh", "-c", "seq 1 50; exec sleep 600"])
    f = follow(c, buffer_lines=10)
    try:
        wait_until(lambda: f.lines_read >= 50, timeout=10, what="50 lines")
        first = f.drain(max_lines=4)
        second = f.drain()
    finally:
        f.stop()
    assert [line.text for line in first.lines] == ["41", "42", "43", "44"]
    assert first.dropped == 40 and second.dropped == 0
    assert [line.text for line in second.lines] == [str(i) for i in range(45, 51)]


def test_stop_on_a_quiet_followed_container_ends_the_thread_at_once(containers: Any) -> None:
    c = containers.run(command=["sh", "-c", "echo only-line; exec sleep 600"])
    f = follow(c)
    collect(f, lambda ls: len(ls) >= 1)
    time.sleep(0.3)  # the reader is now blocked in recv on a quiet stream
    assert f.running
    t0 = time.monotonic()
    f.stop()
    assert time.monotonic() - t0 < 0.2, "stop() must return at once"
    assert f.join(1.0), "the reader thread did not end within 1 s"
    batch = f.drain()
    assert batch.ended and batch.error is None


def test_stream_ends_when_the_container_exits(containers: Any) -> None:
    c = containers.run(command=["sh", "-c", "echo bye; sleep 1; printf 'no-newline'"])
    f = follow(c)
    lines = collect(f, lambda ls: False, timeout=15)
    # The engine's followed stream may end before the last partial line (docker logs -f
    # does the same); it is in the log, and a plain read returns it as a line.
    assert lines[0].text == "bye"
    assert f.join(1.0)
    f = follow(c, follow=False)
    lines = collect(f, lambda ls: False, timeout=15)
    assert [line.text for line in lines] == ["bye", "no-newline"]


def test_missing_container_is_an_error_not_a_crash() -> None:
    f = LogFollower(factory, "opsc-test-does-not-exist-a2")
    f.start()
    assert f.join(10)
    batch: LogBatch = f.drain()
    assert batch.ended and batch.error == "the container no longer exists"


def test_process_with_a_running_follower_exits_promptly(containers: Any) -> None:
    c = containers.run(command=["sh", "-c", "echo ready; exec sleep 600"])
    script = textwrap.dedent(
        f"""
        import time, docker
        from adapters.docker.logs import LogFollower
        f = LogFollower(lambda: docker.from_env(timeout=10), {c.id!r})
        f.start()
        deadline = time.monotonic() + 10
        while not f.drain().lines and time.monotonic() < deadline:
            time.sleep(0.05)
        print("following", flush=True)
        """
    )
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    assert out.returncode == 0, out.stderr
    assert "following" in out.stdout
    assert time.monotonic() - t0 < 10


def test_engine_split_pieces_are_joined_then_cut_at_the_limit(containers: Any) -> None:
    # The engine cuts a line longer than 16 KiB into pieces, each a frame with its own
    # timestamp: they are one line again, cut at max_line_bytes (the default: 16 KiB).
    script = (
        "head -c 40000 /dev/zero | tr '\\0' a; echo; "
        "head -c 20000 /dev/zero | tr '\\0' b; echo; echo after; exec sleep 600"
    )
    c = containers.run(command=["sh", "-c", script])
    f = follow(c)
    g = follow(c, max_line_bytes=32_768)
    try:
        cut = collect(f, lambda ls: any(line.text == "after" for line in ls))
        joined = collect(g, lambda ls: any(line.text == "after" for line in ls))
    finally:
        f.stop()
        g.stop()
    assert [(len(x.text), x.truncated) for x in cut] == [(16_384, True), (16_384, True), (5, False)]
    assert cut[0].text == "a" * 16_384 and cut[1].text == "b" * 16_384
    assert [(len(x.text), x.truncated) for x in joined] == [
        (32_768, True),
        (20_000, False),
        (5, False),
    ]
    assert joined[1].text == "b" * 20_000 and joined[1].timestamp  # the first piece's


def chunked(payloads: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def parse(body: bytes, pieces: list[int], tty: bool = False, limit: int = 64) -> list[LogLine]:
    """The follower's own parser on `body` cut at `pieces` offsets (as reads would)."""
    out: list[LogLine] = []
    assemblers = {name: LineAssembler(name, limit, out) for name in ("stdout", "stderr")}
    feed = assemblers["stdout"].feed_tty if tty else Demuxer(assemblers).feed
    dechunker = Dechunker()
    for start, end in zip([0, *pieces], [*pieces, len(body)], strict=True):
        data = dechunker.feed(body[start:end])
        if data:
            feed(data)
    assert dechunker.finished
    for assembler in assemblers.values():
        assembler.flush()
    return out


TS = b"2024-05-01T12:00:00.123456789Z "


def test_parser_gives_the_same_lines_whatever_the_reads() -> None:
    # The engine's bytes (chunked transfer, 8-byte frames, timestamps) cut at every
    # offset: the lines must not depend on where a read ended.
    messages = [
        frame(1, TS + b"plain\n"),
        frame(2, TS + b"to stderr\r\n"),
        frame(1, TS + b"bad \xff utf8\n"),
        frame(1, TS + b"x" * 100 + b"\n"),  # over the 64-byte limit: cut
        frame(1, TS + b"first piece "),  # a split line: two frames, two timestamps
        frame(1, TS + b"second piece\n"),
        frame(1, TS + b"\n"),  # an empty line
        frame(1, TS + b"no newline at the end"),
    ]
    body = chunked(messages)
    expected = [
        ("stdout", "plain", False),
        ("stderr", "to stderr", False),
        ("stdout", "bad \ufffd utf8", False),
        ("stdout", "x" * 64, True),
        ("stdout", "first piece second piece", False),
        ("stdout", "", False),
        ("stdout", "no newline at the end", False),
    ]
    whole = parse(body, [])
    assert [(x.stream, x.text, x.truncated) for x in whole] == expected
    assert all(x.timestamp == TS[:-1].decode() for x in whole)
    for cut in range(1, len(body)):
        assert parse(body, [cut]) == whole, cut
    assert parse(body, list(range(1, len(body)))) == whole  # one byte per read


def test_tty_parser_gives_the_same_lines_whatever_the_reads() -> None:
    lines = [TS + b"one\r\n", TS + b"y" * 80 + b"\r\n", TS + b"\xc3\r\n", TS + b"last"]
    body = chunked([b"".join(lines[:2]), *lines[2:]])
    whole = parse(body, [], tty=True)
    assert [(x.text, x.truncated) for x in whole] == [
        ("one", False),
        ("y" * 64, True),
        ("\ufffd", False),
        ("last", False),
    ]
    for cut in range(1, len(body)):
        assert parse(body, [cut], tty=True) == whole, cut


def test_a_huge_frame_is_never_held_whole() -> None:
    payload = TS + b"z" * 300_000 + b"\n"
    body = chunked([frame(1, payload)[i : i + 4096] for i in range(0, len(payload) + 8, 4096)])
    out: list[LogLine] = []
    assemblers = {name: LineAssembler(name, 1000, out) for name in ("stdout", "stderr")}
    demuxer, dechunker = Demuxer(assemblers), Dechunker()
    held = 0
    for i in range(0, len(body), 65_536):
        demuxer.feed(dechunker.feed(body[i : i + 65_536]))
        held = max(held, len(demuxer.carry), len(assemblers["stdout"].buf))
    assert [(len(x.text), x.truncated) for x in out] == [(1000, True)]
    assert held <= 65_536 + 8
