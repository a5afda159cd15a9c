"""Runbook actions as `ActionPlan`s: a configured command, previewed exactly, run and audited.

The preview is the argv as it will be executed, shell-quoted (`shlex.join`), or
`/bin/sh -c '…'` with "shell: true" called out. Environment variables are shown by name
only: their values may be secrets. The recheck confirms, just before running, that the
executable still resolves and the working directory exists. The execution streams
output to the caller and returns (or raises with) the facts the audit record keeps:
exit code or signal, duration, output counts and the last lines.

The action's environment values may be secrets, and a command may print them (`env`,
`set -x`): every output line is masked before it reaches the panel or the audit.

The audit's `last_lines` are the texts of the last lines, stdout and stderr interleaved
as read; a stderr line is prefixed `stderr: ` (`STDERR_PREFIX`): one list a reader of
the log sees at a glance, kept in the order the lines came. `output_lines` and
`output_bytes` count both streams; `stdout_lines`, `stderr_lines`, `stdout_bytes` and
`stderr_bytes` split them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.errors import NotFound, PermissionDenied, SourceError, SourceTimeout
from adapters.runbook.output import OutputBatch, OutputLine
from adapters.runbook.runner import GRACE, REAP_SECONDS, RunResult, RunSpec, run_command
from console.actions import ActionPlan, ExecResult, NotStarted, Risk, Stopped
from console.config_runbook import MASK, RunbookActionConfig, param_of
from widgets.safe_text import sanitize

SHELL = "/bin/sh"
AUDIT_LINES = 20
AUDIT_LINE_MAX = 300
#: How a stderr line is marked in the audit record's `last_lines`.
STDERR_PREFIX = "stderr: "
#: Slack on top of the command's own timeout and grace before the life cycle gives up:
#: the runner stops the command itself and reports exactly how it ended. Its worst case
#: after the timeout: the grace, two bounded reaping waits, then the grace again for the
#: pipe to drain.
PLAN_SLACK = 2 * REAP_SECONDS + 5.0
#: Shorter values are not masked in output: "1", "eu" or "true" would blank out
#: ordinary words everywhere, and are no secret anyway.
SECRET_MIN = 4
NOT_STARTED = "stopped by the operator before it started; nothing was run"

log = logging.getLogger(__name__)

OnStart = Callable[[str], None]
OnOutput = Callable[[OutputBatch], None]
OnResult = Callable[[RunResult], None]


class MissingParameter(Exception):
    """The action needs a parameter that nothing selected provides; nothing is run."""


class RunbookFailed(SourceError):
    """The command ran and failed: a non-zero exit, or killed by a signal."""

    kind = "failed"


class RunbookStopped(Stopped):
    """The operator stopped the running command on purpose (ctrl+c): not a failure.

    Audited as "cancelled" (the life cycle's outcome for an action the operator stopped),
    matching the record's `execution.status` "cancelled"; the message
    reads "Cancelled: stopped by the operator after …", and `execution` still says how
    far the command got (signal or exit code, duration, output counts, last lines).
    """

    kind = "stopped"


class RunbookNotStarted(NotStarted):
    """The operator stopped the command before it was started: nothing ran."""


class RunbookTimedOut(SourceTimeout):
    """The command ran past its timeout and was stopped."""


class RunbookNotFound(NotFound):
    """The command (or its working directory) does not exist."""


class RunbookNotExecutable(PermissionDenied):
    """The command exists but cannot be executed."""


_ERRORS: dict[str, type[SourceError]] = {
    "failed": RunbookFailed,
    "killed": RunbookFailed,
    "timeout": RunbookTimedOut,
    "cancelled": RunbookStopped,
    "not-found": RunbookNotFound,
    "not-executable": RunbookNotExecutable,
}


def action_id(action: RunbookActionConfig) -> str:
    """The audit log's action name: `runbook.NAME`."""
    return f"runbook.{action.name}"


def substitute(action: RunbookActionConfig, selection: Mapping[str, str]) -> tuple[str, ...]:
    """`action.argv` with each whole `{param}` element replaced from `selection`.

    Raises `MissingParameter` naming what is missing. A value is one argv element
    whatever it holds (spaces, a leading `-`): it is never split or parsed.
    """
    missing = [p for p in action.params if not selection.get(p)]
    if missing:
        needed = ", ".join(f"{{{p}}}" for p in missing)
        raise MissingParameter(
            f"Runbook action {action.name} needs {needed}: select "
            + " and ".join(f"a {p}" for p in missing)
            + " first. Nothing was run."
        )
    out: list[str] = []
    for element in action.argv:
        param = param_of(element)
        out.append(selection[param] if param is not None else element)
    return tuple(out)


def command_argv(action: RunbookActionConfig, argv: tuple[str, ...]) -> tuple[str, ...]:
    """What is executed: `argv`, or `/bin/sh -c LINE` for a `shell: true` action."""
    return (SHELL, "-c", argv[0]) if action.shell else argv


def preview_text(action: RunbookActionConfig, argv: tuple[str, ...]) -> str:
    """The exact command, quoted so it can be pasted into a shell."""
    text = shlex.join(command_argv(action, argv))
    return f"{text}    (shell: true)" if action.shell else text


def executable_problem(argv0: str, cwd: Path | None, env: Mapping[str, str]) -> str | None:
    """Why `argv0` cannot be executed from `cwd` with `env` added, or None."""
    if cwd is not None and not cwd.is_dir():
        return f"working directory {cwd} does not exist"
    if "/" in argv0:
        path = Path(argv0)
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        if not path.exists():
            return f"command not found: {argv0}"
        if path.is_dir() or not os.access(path, os.X_OK):
            return f"not executable: {argv0}"
        return None
    search = env.get("PATH", os.environ.get("PATH", os.defpath))
    if shutil.which(argv0, path=search) is None:
        return f"command not found: {argv0} (not on PATH)"
    return None


def console_cwd() -> Path | None:
    """The console's working directory, absolute; None if it was removed meanwhile."""
    try:
        return Path.cwd()
    except OSError:
        return None


Mask = Callable[[str], str]


def secret_masker(env: Mapping[str, str]) -> Mask:
    """A function that replaces every env value of `SECRET_MIN`+ characters in a line
    with `MASK`. The longest values first: a secret that holds another is masked whole."""
    secrets = sorted({v for v in env.values() if len(v) >= SECRET_MIN}, key=len, reverse=True)
    if not secrets:
        return lambda line: line
    pattern = re.compile("|".join(re.escape(v) for v in secrets))
    return lambda line: pattern.sub(MASK, line)


def execution_facts(result: RunResult, mask: Mask | None = None) -> dict[str, Any]:
    """What the audit record keeps of a run: small, bounded, inert text only.

    `mask` hides secrets in the last lines, before they are cut to length (a cut secret
    would no longer match). Stderr lines are prefixed with `STDERR_PREFIX`.
    """
    masked = (mask(line) for line in result.last_lines) if mask else result.last_lines
    streams = result.last_streams or ("stdout",) * len(result.last_lines)
    last = [
        (STDERR_PREFIX if stream == "stderr" else "") + line
        for line, stream in zip(masked, streams, strict=True)
    ]
    return {
        "status": result.status,
        "exit_code": result.exit_code,
        "signal": result.signal,
        "duration_s": round(result.duration, 3),
        "escalated_to_sigkill": result.escalated,
        "output_lines": result.lines,
        "output_bytes": result.bytes,
        "stdout_lines": result.stdout_lines,
        "stderr_lines": result.stderr_lines,
        "stdout_bytes": result.stdout_bytes,
        "stderr_bytes": result.stderr_bytes,
        "last_lines": [sanitize(line, max_len=AUDIT_LINE_MAX) for line in last],
    }


def _guarded(name: str, callback: Callable[..., None] | None) -> Callable[..., None]:
    """`callback`, but a failure in it (the screen's panel) is logged, never raised: the
    command must still run, and its real result be audited."""

    def call(*args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception("runbook %s callback failed", name)

    return call


def runbook_plan(
    action: RunbookActionConfig,
    argv: tuple[str, ...],
    *,
    target: str,
    production: bool = False,
    selection: Mapping[str, str] | None = None,
    on_start: OnStart | None = None,
    on_output: OnOutput | None = None,
    on_result: OnResult | None = None,
    cancel: asyncio.Event | None = None,
    grace: float = GRACE,
) -> ActionPlan:
    """The plan to run `action` with `argv` (already substituted) on `target`."""
    env = dict(action.env)
    run_argv = command_argv(action, argv)
    preview = preview_text(action, argv)
    # The directory it runs in, absolute, as the preview shows it: the action's own, or
    # the console's working directory now (not whatever it may be by the time it runs).
    cwd = action.cwd if action.cwd is not None else console_cwd()
    spec = RunSpec(argv=run_argv, cwd=cwd, env=env, timeout=action.timeout, grace=grace)

    async def recheck() -> str | None:
        return executable_problem(run_argv[0], cwd, env)

    mask = secret_masker(env)
    started = _guarded("start", on_start)
    finished = _guarded("result", on_result)

    secrets = any(len(value) >= SECRET_MIN for value in env.values())

    def show(batch: OutputBatch) -> None:
        if on_output is None:
            return
        if secrets:
            # The constructor, not `dataclasses.replace`: a flood brings 1,000 lines a batch.
            lines = tuple(OutputLine(mask(ln.text), ln.stream, ln.cut) for ln in batch.lines)
            batch = replace(batch, lines=lines)
        on_output(batch)

    async def execute() -> ExecResult:
        if cancel is not None and cancel.is_set():
            # ctrl+c came while the recheck ran: honour it, do not start and kill.
            stopped = RunbookNotStarted(NOT_STARTED)
            stopped.audit_execution = {"status": "not-started"}  # type: ignore[attr-defined]
            raise stopped
        started(preview)
        output = show if on_output is not None else None
        result = await run_command(spec, on_output=output, cancel=cancel)
        finished(result)
        message = result.describe(action.timeout, grace)
        facts = execution_facts(result, mask)
        if result.succeeded:
            return ExecResult(f"{action.name}: {message}", facts)
        error = _ERRORS[result.status](message)
        error.audit_execution = facts  # type: ignore[attr-defined]
        raise error

    # A rollback is high risk whatever the file says (the config refuses `risk: low`).
    high = action.risk == "high" or action.kind == "rollback"
    risk = Risk.HIGH if high else Risk.LOW
    env_names = ", ".join(action.env_names)
    details: list[tuple[str, str]] = []
    if action.description:
        details.append(("what", action.description))
    if action.shell:
        details.append(("shell", f"true: the line is run by {SHELL} -c"))
    if action.cwd is not None:
        details.append(("cwd", str(action.cwd)))
    elif cwd is not None:
        details.append(("cwd", f"{cwd} (the console's working directory)"))
    else:
        details.append(("cwd", "the console's working directory, which no longer exists"))
    if env_names:
        details.append(("env", f"{env_names} (values hidden)"))
    details.append(("timeout", f"{action.timeout:g} s, then SIGTERM; SIGKILL {grace:g} s later"))
    details.append(("stop", "ctrl+c while it runs (SIGTERM, then SIGKILL)"))
    params: dict[str, Any] = {
        "name": action.name,
        "kind": action.kind,
        "argv": list(run_argv),
        "shell": action.shell,
        "cwd": None if action.cwd is None else str(action.cwd),
        "env": list(action.env_names),
        "timeout": action.timeout,
    }
    for name in action.params:
        params[name] = (selection or {}).get(name)
    verb = "Roll back with" if action.kind == "rollback" else "Run"
    return ActionPlan(
        action=action_id(action),
        target=target,
        title=f"{verb} runbook action {action.name}",
        preview=preview,
        recheck=recheck,
        execute=execute,
        details=tuple(details),
        risk=risk,
        confirm_token=(target if production else action.name) if risk is Risk.HIGH else None,
        params=params,
        timeout=action.timeout + 2 * grace + PLAN_SLACK,
    )
