"""Running a runbook action from a screen: parameters, the life cycle, the output panel.

A flow runs as the app's one running action (`OpsConsoleApp.start_action`) with a cancel
event: the first ctrl+c sets it and the runner stops the command (SIGTERM, then SIGKILL
after the grace period) and reports how it ended; a second ctrl+c cancels the flow,
which kills the process group at once (the panel then says so). Output goes to an
`OutputSink` (the runbook screen's panel); with none given, the flow opens the runbook
screen and uses its panel.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from adapters.runbook.output import OutputBatch
from console.config_runbook import RunbookActionConfig
from console.runbook_actions import MissingParameter, action_id, runbook_plan, substitute

log = logging.getLogger(__name__)

#: A selection value passed to a runbook command: a plain name, never an option.
SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/-]*")

if TYPE_CHECKING:
    from console.actions import ActionOutcome
    from console.app import OpsConsoleApp


class OutputSink(Protocol):
    """Where a running command's output is shown (`widgets.command_output.CommandOutput`)."""

    def begin(self, command: str, action: str = "") -> None: ...

    def add_batch(self, batch: OutputBatch) -> None: ...

    def finish(self, message: str, ok: bool, *, stopped: bool = False) -> None: ...


def rollback_action(app: OpsConsoleApp) -> RunbookActionConfig | None:
    """The current target's `kind: rollback` action (for `R` where no built-in applies)."""
    return next((a for a in app.target.runbook if a.kind == "rollback"), None)


def find_action(app: OpsConsoleApp, name: str) -> RunbookActionConfig | None:
    """The current target's action called `name`."""
    return next((a for a in app.target.runbook if a.name == name), None)


async def run_action_flow(
    app: OpsConsoleApp,
    action: RunbookActionConfig,
    selection: Mapping[str, str],
    sink: OutputSink | None = None,
    cancel: asyncio.Event | None = None,
) -> ActionOutcome | None:
    """Substitute `selection` into `action`, then run it through the life cycle.

    `{target}` is always the current target. A missing parameter is refused with a
    notice before anything is asked or run. Returns the outcome (None when refused).
    """
    values = {**selection, "target": app.target.name}
    try:
        argv = substitute(action, values)
    except MissingParameter as err:
        app.notify(str(err), severity="error", markup=False, timeout=8)
        return None
    if sink is None:
        sink = await _runbook_panel(app)
    started: list[str] = []

    def begin(command: str) -> None:
        started.append(command)
        if sink is not None:
            # The action's name too: a saved copy of the output is named after it.
            sink.begin(command, action.name)

    plan = runbook_plan(
        action,
        argv,
        target=app.target.name,
        production=app.target.production,
        selection=values,
        on_start=begin,
        on_output=sink.add_batch if sink else None,
        cancel=cancel if cancel is not None else app.action_cancel,
    )
    try:
        outcome = await app.run_plan(plan)
    except asyncio.CancelledError:
        # A second ctrl+c (or quitting): the runner SIGKILLs the group; without a last
        # word the panel would say "running…" forever.
        if sink is not None:
            message = (
                "killed (SIGKILL) by a second ctrl+c"
                if started
                else "interrupted by a second ctrl+c before it started; nothing was run"
            )
            _finish(sink, message, False)
        raise
    if sink is not None and started and outcome.status == "cancelled":
        # Stopped on purpose (ctrl+c) once running: said as such, not as a failure.
        _finish(sink, outcome.message, False, stopped=True)
    elif sink is not None and outcome.status != "cancelled":
        _finish(sink, outcome.message, outcome.succeeded)
    return outcome


def _finish(sink: OutputSink, message: str, ok: bool, *, stopped: bool = False) -> None:
    # The panel may be gone (the screen rebuilt meanwhile): the outcome is audited and
    # notified already, so losing the panel line must not end the flow with an error.
    try:
        sink.finish(message, ok, stopped=stopped)
    except Exception:
        log.exception("the runbook output panel could not show the result")


def start_runbook_action(
    app: OpsConsoleApp,
    action: RunbookActionConfig,
    selection: Mapping[str, str] | None = None,
    sink: OutputSink | None = None,
) -> bool:
    """Start `action` as the app's one running action; False if another one runs."""
    cancel = asyncio.Event()
    flow = run_action_flow(app, action, selection or {}, sink, cancel)
    return app.start_action(flow, action_id(action), cancel)


async def _runbook_panel(app: OpsConsoleApp) -> Any:
    """Open the runbook screen and return its output panel (None if it has none)."""
    if app.current_mode != "runbook":
        await app.switch_mode("runbook")
    panel = getattr(app.screen, "output_panel", None)
    return panel() if callable(panel) else None


def pick_and_run(app: OpsConsoleApp, selection: Mapping[str, str]) -> None:
    """`!` on a screen with a selection: pick one of the target's runbook actions, then
    run it with `selection` filling its `{container}` / `{service}` elements."""
    from screens.runbook_picker import RunbookPicker

    target = app.target
    actions = target.runbook
    if not actions:
        app.notify("No runbook actions on this target (see `runbook:` in the config).")
        return
    # Values from outside (a Compose label, a container name) become whole argv elements:
    # one that could read as an option or is not a plain name is refused, not passed on.
    bad = [k for k, v in selection.items() if not SAFE_VALUE.fullmatch(v)]
    if bad:
        app.notify(
            f"The selection's {', '.join(bad)} is not a plain name: no runbook action "
            "is offered on it.",
            severity="warning",
            markup=False,
        )
        return
    values = {"target": target.name, **selection}

    def picked(name: str | None) -> None:
        if app.target is not target:  # `:target` switched while the list was open
            app.notify("The target changed: nothing run.", severity="warning", markup=False)
            return
        action = find_action(app, name) if name else None
        if action is not None:
            start_runbook_action(app, action, values)

    app.push_screen(RunbookPicker(actions, values), picked)
