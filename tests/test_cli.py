"""The CLI as a user meets it: real subprocesses, no TTY, exit codes, messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console.commands import parse_command

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )


def test_version_and_help() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("ops-console ")
    out = run_cli("--help")
    assert out.returncode == 0
    for flag in ("--config", "--target", "--read-only", "--refresh", "--no-mouse"):
        assert flag in out.stdout


def test_without_a_terminal_exits_with_one_line(tmp_path: Path) -> None:
    out = run_cli(env={"XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)})
    assert out.returncode == 3
    assert out.stderr.count("\n") == 1
    assert "needs an interactive terminal" in out.stderr
    assert "\x1b" not in out.stderr + out.stdout  # nothing was drawn


def test_invalid_config_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  prod:\n    postgres:\n      prot: 5432\n")
    out = run_cli("--config", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{bad}:4" in out.stderr and "prot" in out.stderr


def test_config_check_prints_redacted(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "targets:\n  prod:\n    production: true\n    postgres:\n"
        "      dsn: postgresql://app:${SECRET_PW}@db.internal/app\n"
    )
    out = run_cli("config", "check", "--config", str(cfg), env={"SECRET_PW": "hunter2"})
    assert out.returncode == 0, out.stderr
    assert "hunter2" not in out.stdout
    assert "db.internal" in out.stdout and "OK" in out.stdout
    missing = run_cli("config", "check", "--config", str(cfg), env={"SECRET_PW": ""})
    # An empty value is still set; only an unset variable is an error.
    assert missing.returncode == 0


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path: Path) -> None:
    """`ops-console config check | head -1`: the reader is gone before everything is
    written; no BrokenPipeError traceback, the exit status of a tool cut by SIGPIPE."""
    cfg = tmp_path / "c.yaml"
    checks = "".join(f"      - {{name: c{i}, host: h{i}, port: {i + 1}}}\n" for i in range(200))
    cfg.write_text(f"targets:\n  prod:\n    health:\n{checks}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (("config", "check", "--config", str(cfg)), ("config", "example"), ("--help",)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "console", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader leaves before the first line is written
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=30)
        assert stderr == "", (args, stderr)
        # argparse drops a failed write of its help itself (and exits 0).
        assert code == (0 if args == ("--help",) else 141), (args, code)
    # And through a real shell pipe, as typed:
    line = f"{sys.executable} -m console config check --config {cfg} | head -1"
    out = subprocess.run(
        ["sh", "-c", line], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30
    )
    assert out.stdout == f"# {cfg}: OK\n" and out.stderr == "", out


def test_bad_refresh_is_refused() -> None:
    out = run_cli("--refresh", "0")
    assert out.returncode == 2 and "refresh" in out.stderr


def test_command_line_parsing() -> None:
    assert parse_command(":pg").screen == "postgres"
    assert parse_command("audit").screen == "audit"
    assert parse_command(":target prod").arg == "prod"
    assert parse_command(":theme").error is not None
    assert parse_command(":q").name == "quit"
    assert "Unknown command" in (parse_command(":nuke all").error or "")
