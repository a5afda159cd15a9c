"""The audit log on a real filesystem, with real concurrent processes."""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import stat
import time
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest

from console import audit as audit_module
from console.audit import AuditError, AuditLog, AuditRecord, format_ts, redact_text
from console.operator import OperatorContext

OPERATOR = OperatorContext(
    user="oncall", sudo_user="alice", ssh_client="10.1.2.3", hostname="db-1", pid=4321
)
FIELDS = {f.name for f in fields(AuditRecord)}


def record(seq: int = 0, **kw: object) -> AuditRecord:
    values: dict[str, object] = {
        "target": "prod-main",
        "action": "pg.terminate",
        "outcome": "succeeded",
        "params": {"pid": 4242, "seq": seq},
        "preview": "SELECT pg_terminate_backend(4242)",
        "duration_ms": 12.5,
        "now": 1_700_000_000.0 + seq,
    }
    values.update(kw)
    return AuditRecord.create(OPERATOR, **values)  # type: ignore[arg-type]


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("ascii").splitlines()]


def test_one_json_line_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ops-console" / "audit.jsonl"
    AuditLog(path).append(record(error="boom\nsecond line", reason=None))
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1  # the newline in error is escaped
    (data,) = lines_of(path)
    assert set(data) == FIELDS
    assert data["user"] == "oncall" and data["sudo_user"] == "alice"
    assert data["ssh_client"] == "10.1.2.3" and data["hostname"] == "db-1"
    assert data["outcome"] == "succeeded" and data["duration_ms"] == 12.5
    assert data["preview"] == "SELECT pg_terminate_backend(4242)"
    ts = str(data["ts"])
    assert ts.endswith("Z")
    assert datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() == 1_700_000_000.0


def test_file_and_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "audit.jsonl"
    AuditLog(path).append(record())
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0


def test_append_fsyncs_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.jsonl"
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(audit_module.os, "fsync", fsync)
    log = AuditLog(path)
    log.append(record(0))  # new file: the file and its directory are synced
    assert synced == [str(path), str(tmp_path)]
    synced.clear()
    log.append(record(1))
    assert synced == [str(path)]


def test_outcome_must_be_known() -> None:
    with pytest.raises(ValueError):
        record(outcome="done")


def test_format_ts() -> None:
    assert format_ts(0) == "1970-01-01T00:00:00.000Z"
    assert format_ts(1.2345) == "1970-01-01T00:00:01.234Z"


# ---------------------------------------------------------------- concurrency

PER_WRITER = 2000
BLOB = 6000  # bytes per record: more than PIPE_BUF and than one page


def _writer(path: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    log = AuditLog(Path(path))
    start.wait()
    letter = "ab"[writer]
    for seq in range(PER_WRITER):
        log.append(record(seq, params={"writer": writer, "seq": seq, "blob": letter * BLOB}))


def test_two_processes_append_without_interleaving(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(path), n, start)) for n in (0, 1)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(timeout=90)
        assert proc.exitcode == 0
    raw = path.read_text("ascii").splitlines()
    assert len(raw) == 2 * PER_WRITER
    seen: dict[int, list[int]] = {0: [], 1: []}
    writers_in_order = []
    for line in raw:
        data = json.loads(line)  # every line parses: no torn or merged lines
        params = data["params"]
        writer = params["writer"]
        assert params["blob"] == "ab"[writer] * BLOB
        seen[writer].append(params["seq"])
        writers_in_order.append(writer)
    assert seen[0] == list(range(PER_WRITER))
    assert seen[1] == list(range(PER_WRITER))
    # The two really ran at the same time (otherwise the test proves nothing).
    switches = sum(a != b for a, b in itertools.pairwise(writers_in_order))
    assert switches > 10


# ---------------------------------------------------------------- redaction


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append(
        record(
            outcome="failed",
            params={
                "pid": 4242,
                "password": "hunter2",
                "dsn": "postgresql://bob:s3cr3t@db.internal:5432/app",
                "nested": {"api_token": "tok-123", "list": ["redis://:p4ss@cache:6379/0"]},
                "PGPASSWORD": "pgpw-9",
                "query": "ALTER ROLE app WITH ENCRYPTED PASSWORD 'sq''lpw' VALID UNTIL 'x'",
            },
            preview="psql 'postgresql://bob:s3cr3t@db.internal/app' -c 'SELECT 1'",
            error='connection failed: host=db password=s3cr3t user=bob; {"secret": "xyz-7"}',
            reason="see https://admin:w3bpw@grafana/d/1",
        )
    )
    text = path.read_text("ascii")
    for secret in ("hunter2", "s3cr3t", "tok-123", "p4ss", "pgpw-9", "xyz-7", "w3bpw", "lpw"):
        assert secret not in text, secret
    data = lines_of(path)[0]
    assert data["params"]["pid"] == 4242  # type: ignore[index]
    assert "bob" in str(data["preview"])  # the user name stays: it is not a secret
    assert "db.internal" in text
    assert "VALID UNTIL" in text  # only the password literal goes


def test_redact_text_keeps_ordinary_text() -> None:
    assert redact_text("SELECT pg_terminate_backend(4242)") == "SELECT pg_terminate_backend(4242)"
    assert redact_text("redis://cache:6379/0") == "redis://cache:6379/0"
    assert redact_text("x postgres://u:pw@h/db y") == "x postgres://u:***@h/db y"


@pytest.mark.parametrize("unit", ["a", "x://", "x://x:", 'password="', "token: ", "password '"])
def test_redaction_stays_linear_on_long_text(unit: str) -> None:
    # Query text and log lines can be huge; a backtracking pattern would freeze the UI.
    text = unit * (400_000 // len(unit))
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------- reading back


def test_recent_is_newest_first(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for seq in range(5):
        log.append(record(seq))
    assert [r.params["seq"] for r in log.recent(3)] == [4, 3, 2]
    assert [r.params["seq"] for r in log.recent()] == [4, 3, 2, 1, 0]
    assert log.recent(0) == []


def test_recent_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "nothing.jsonl").recent() == []


def test_recent_skips_malformed_lines_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    good = [record(seq).to_json() for seq in range(3)]
    path.write_bytes(
        (
            f"{good[0]}\n{{not json\n"
            f'["an array"]\n{good[1]}\n'
            '{"ts": "x", "outcome": "nonsense"}\n'
            f"\n{good[2]}\n"
        ).encode()
        + b"\xff\xfe garbage\n"
        + b'{"ts": "torn'  # a write cut short by a crash: no newline
    )
    log = AuditLog(path)
    records, notes = log.recent_with_notes()
    assert [r.params["seq"] for r in records] == [2, 1, 0]
    assert len(notes) == 5
    assert all(str(path) in note for note in notes)
    with caplog.at_level(logging.WARNING, logger="console.audit"):
        assert len(log.recent()) == 3
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 5


def test_recent_skips_an_over_long_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(
        f"{record(0).to_json()}\n" + "x" * (3 * 1024 * 1024) + f"\n{record(1).to_json()}\n"
    )
    records, notes = AuditLog(path).recent_with_notes()
    assert [r.params["seq"] for r in records] == [1, 0]
    assert len(notes) == 1 and "over-long" in notes[0]


def test_recent_reads_only_the_tail_of_a_large_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    with path.open("w") as out:
        # A corrupt head: reading it would add a note (and cost time).
        out.write("{corrupt head " + "z" * 100 + "\n")
        block = "".join(f"{record(seq).to_json()}\n" for seq in range(1000))
        for _ in range(100):  # ~30 MB
            out.write(block)
        for seq in range(1000, 1050):
            out.write(f"{record(seq).to_json()}\n")
    size = path.stat().st_size
    assert size > 20 * 1024 * 1024
    read = 0
    real_pread = os.pread

    def pread(fd: int, n: int, offset: int) -> bytes:
        nonlocal read
        read += n
        return real_pread(fd, n, offset)

    monkeypatch.setattr(audit_module.os, "pread", pread)
    started = time.perf_counter()
    records, notes = AuditLog(path).recent_with_notes(200)
    elapsed = time.perf_counter() - started
    assert [r.params["seq"] for r in records[:50]] == list(range(1049, 999, -1))
    assert len(records) == 200
    assert notes == []
    assert read < 256 * 1024, read  # a few blocks out of ~30 MB
    assert elapsed < 1.0


# ---------------------------------------------------------------- write failures


def test_parent_is_a_file_raises_audit_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    log = AuditLog(blocker / "audit.jsonl")
    with pytest.raises(AuditError, match=r"audit\.jsonl"):
        log.append(record())
    with pytest.raises(AuditError):
        log.check_writable()


def test_path_is_a_directory_raises_audit_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot open"):
        AuditLog(tmp_path).append(record())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_raises_audit_error() -> None:
    # /dev/full accepts the open and fails every write with ENOSPC: a real full disk.
    log = AuditLog(Path("/dev/full"))
    log.check_writable()  # opening works; only the write tells
    with pytest.raises(AuditError, match="no space left"):
        log.append(record())


# ---------------------------------------------------------------- operator


def test_operator_from_env() -> None:
    op = OperatorContext.from_env(
        {"SSH_CONNECTION": "10.9.8.7 51234 10.0.0.5 22", "SUDO_USER": "alice", "USER": "fake"}
    )
    assert op.ssh_client == "10.9.8.7"
    assert op.sudo_user == "alice"
    assert op.user != "fake" or os.environ.get("USER") == "fake"  # from the uid, not $USER
    assert op.pid == os.getpid()
    assert op.hostname
    assert OperatorContext.from_env({"SSH_CLIENT": "fe80::1 5555 22"}).ssh_client == "fe80::1"
    bare = OperatorContext.from_env({})
    assert bare.ssh_client is None and bare.sudo_user is None
