"""The app's side of remediations: the one running action, ctrl+c, quitting, arming.

A mixin of `OpsConsoleApp` (kept apart from the shell: screens, sources, commands). The
life cycle itself is `console.actions.run_action`; here is what the app adds to it: one
action at a time, off the UI thread; the confirmation dialog; the outcome told (sanitised)
and the views poked; ctrl+c that stops an action cleanly but never quits; arming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState

from console.guard import survive
from widgets.safe_text import sanitize

if TYPE_CHECKING:
    from console.app import OpsConsoleApp

    _Base = OpsConsoleApp
else:
    _Base = object

log = logging.getLogger(__name__)


class ActionsMixin(_Base):
    """Running remediations from the app; see the module docstring."""

    action_worker: Worker[None] | None
    action_cancel: asyncio.Event | None
    action_must_finish: bool

    def start_action(
        self,
        flow: Any,
        name: str,
        cancel: asyncio.Event | None = None,
        *,
        must_finish: bool = False,
    ) -> bool:
        """Run an action flow (a coroutine) as the one running action, off the UI.

        `cancel` is set by the first ctrl+c (the flow stops cleanly); a second ctrl+c
        cancels the flow, unless `must_finish` (a rollback restoring the old container:
        abandoning it halfway is worse than waiting, and its real outcome must be audited).
        """
        if self.action_running:
            flow.close()
            self.notify("Another action is still running.", severity="warning")
            return False
        self.action_cancel = cancel
        self.action_must_finish = must_finish and cancel is not None
        self.action_worker = self.run_worker(
            flow, name=f"action:{name}", group="action", exit_on_error=False
        )
        return True

    def start_pg_action(self, kind: str, backend: Any, waiters: int) -> None:
        """Cancel or terminate `backend` through the action life cycle, off the UI."""
        self.start_action(self._pg_action_flow(kind, backend, waiters), f"pg.{kind}")

    async def run_plan(self, plan: Any) -> Any:
        """The action life cycle for `plan`, then the outcome told and the views poked."""
        from console.actions import run_action

        outcome = await run_action(
            plan,
            confirm=self._confirm,
            audit=self.audit,
            operator=self.operator,
            read_only=self.read_only,
            arm=self.arm_state if self.target.production else None,
            clock=self.clock,
        )
        self.audit_appended()
        good = outcome.succeeded or outcome.status == "cancelled"
        # Outcome messages quote engines and commands (error text, container names).
        message = sanitize(outcome.message, one_line=False, max_len=2000)
        self.notify(message, severity="information" if good else "error", markup=False, timeout=8)
        self.action_refresh_now()
        return outcome

    async def _pg_action_flow(self, kind: str, backend: Any, waiters: int) -> None:
        from console.pg_actions import build_pg_plan

        if self.pg is None:
            self.notify("PostgreSQL is not configured for this target.", severity="error")
            return
        plan = build_pg_plan(
            kind, backend, waiters, target=self.target.name, connect=self.pg.actions
        )
        await self.run_plan(plan)

    async def _confirm(self, plan: Any) -> bool:
        from screens.confirm import ConfirmScreen

        return bool(await self.push_screen_wait(ConfirmScreen(plan)))

    def action_runbook_rollback(self) -> None:
        """`R` where no screen has its own rollback: the target's runbook rollback action."""
        from console.runbook_flows import rollback_action, start_runbook_action

        action = rollback_action(self)
        if action is None:
            self.notify(
                "No rollback here: add a runbook action with `kind: rollback`.", markup=False
            )
            return
        # A screen with a selection (Health: the check) fills `{service}` and the like.
        selection = getattr(self.screen, "runbook_selection", None)
        values = selection() if callable(selection) else {}
        start_runbook_action(self, action, values)  # no panel: :runbook shows the output

    def action_interrupt(self) -> None:
        """ctrl+c: close a modal, or stop a running action; it never quits."""
        screen = self.screen
        if isinstance(screen, ModalScreen):
            cancel = getattr(screen, "action_cancel", None)
            if callable(cancel):
                cancel()
            else:
                screen.dismiss()
            return
        if self.action_running:
            assert self.action_worker is not None
            if self.action_cancel is not None and not self.action_cancel.is_set():
                # A paced action stops between two batches and reports exact counts.
                self.action_cancel.set()
            elif self.action_must_finish:
                self.notify(
                    "This action cannot be interrupted halfway: it is putting things back "
                    "as they were. Wait for its result.",
                    severity="warning",
                    markup=False,
                )
                return
            else:
                self.action_worker.cancel()
            self.notify("Stopping the running action…", severity="warning")
            return
        self.notify("ctrl+c does not quit here: press q to quit.", markup=False)

    @property
    def action_running(self) -> bool:
        worker = self.action_worker
        return worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def action_quit(self) -> None:  # type: ignore[override]
        """Textual's own quit (ctrl+q, the command palette): the same question as `q`."""
        self.action_request_quit()

    def action_request_quit(self) -> None:
        if not self.action_running:
            self.exit(0)
            return
        from screens.confirm import ConfirmScreen
        from screens.question import QuestionScreen

        if isinstance(self.screen, ConfirmScreen):
            # Nothing has been done yet: the dialog is answered "no" (audited as
            # cancelled at the dialog), then the console quits once the flow has ended.
            self.screen.dismiss(False)
            self.run_worker(self._quit_when_finished(), group="quit", exit_on_error=False)
            return
        if self.action_must_finish:
            # Quitting would kill it halfway (its work runs on a thread of this process):
            # stop it the way ctrl+c does, let it put things back, then quit.
            def stop_then_quit(yes: bool | None) -> None:
                if yes:
                    self.run_worker(self._quit_when_finished(), group="quit", exit_on_error=False)

            self.push_screen(
                QuestionScreen(
                    "A rollback is under way and cannot be abandoned halfway. Stop it "
                    "(the old container is put back) and quit once it has finished? (y/N)"
                ),
                stop_then_quit,
            )
            return

        def answer(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit(0)

        self.push_screen(QuestionScreen("An action is still running. Quit anyway? (y/N)"), answer)

    def _handle_hangups(self) -> None:
        """SIGHUP (the SSH session dropped) and SIGTERM end the console, but never in the
        middle of an action: a rollback runs on a thread of this process and would be
        killed halfway, a runbook command would be orphaned. The running action is
        stopped the way ctrl+c stops it (a rollback puts the old container back), its
        outcome audited, then the console exits."""
        import signal

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._hung_up, signum)

    def _hung_up(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            # The terminal is gone: what is still drawn must go nowhere, not fail.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os.close(devnull)
        if not self.action_running:
            log.warning("%s: exiting", name)
            self.exit(0)
            return
        log.warning("%s while an action runs: stopping it, then exiting", name)
        worker = self.action_worker
        if self.action_cancel is None and worker is not None:
            worker.cancel()  # an action with no clean stop (a single call, bounded)
        if isinstance(self.screen, ModalScreen):
            self.screen.dismiss(False)  # a dialog still open: nothing was done
        self.run_worker(self._quit_when_finished(), group="quit", exit_on_error=False)

    async def _quit_when_finished(self) -> None:
        worker = self.action_worker
        if self.action_cancel is not None:
            self.action_cancel.set()
        self.notify(
            "Stopping the action; the console quits once it has finished.",
            severity="warning",
            markup=False,
            timeout=30,
        )
        try:
            if worker is not None:
                await worker.wait()
        finally:  # a flow that failed (its error is shown) must not keep the console up
            self.exit(0)

    def action_arm(self) -> None:
        if self.read_only:
            self.notify("Read-only: write actions cannot be armed.", severity="error")
            return
        if not self.target.production:
            self.notify("This target is not marked production: writes need no arming.")
            return
        from screens.arm import ArmScreen

        self.push_screen(ArmScreen(self.target.name, self.arm_minutes), self._armed)

    def _armed(self, reason: str | None) -> None:
        if not reason:
            return
        self.arm_state.arm(reason, self.arm_minutes, self.clock())
        self.update_header()
        self.run_worker(
            self._audit_arming(
                "armed", reason, f"Write actions armed for {self.arm_minutes:g} minutes."
            ),
            group="audit-write",
            exit_on_error=False,
        )

    @survive
    def _check_arming(self) -> None:
        if self.arm_state.expired(self.clock()):
            self.update_header()
            self.run_worker(
                self._audit_arming(
                    "arm-expired", None, "Write actions disarmed: the arming time ran out."
                ),
                group="audit-write",
                exit_on_error=False,
            )

    async def _audit_arming(self, outcome: str, reason: str | None, message: str) -> None:
        """Audit an arming event (fsync off the UI thread), then tell the operator."""

        from console.actions import arm_record
        from console.audit import AuditError

        record = arm_record(
            self.operator,
            self.target.name,
            outcome,  # type: ignore[arg-type]
            reason=reason,
            minutes=self.arm_minutes,
            now=self.clock(),
        )
        try:
            await self.audit.append_async(record)
        except AuditError as err:
            self.notify(f"AUDIT LOG NOT WRITTEN: {err}", severity="error", markup=False)
        self.audit_appended()
        self.notify(
            message, severity="warning" if outcome != "armed" else "information", markup=False
        )
