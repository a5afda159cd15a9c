"""`:runbook`: the target's runbook actions, and the live output of the one running.

`enter` runs the selected action, `R` the rollback one, and each action's own `key`
(from the config) runs it; every run goes through the action life cycle (preview of
the exact argv, confirmation by risk, recheck, audit). The output panel below shows
the command's output live, bounded and inert, stderr marked, then its result line.

`p` saves the lines the panel holds to a new file (0600) in the directory the container
log view saves to, named after the action; the notice says where, how many lines, and
how many were not kept. The key is the log view's own binding (`logs.save`): one id for
"save the output shown", remapped in both places at once.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from console.bindings import BY_ID, bindings
from console.config_runbook import RunbookActionConfig, reserved_keys
from screens.base import ConsoleScreen
from widgets.command_output import CommandOutput, OutputExport
from widgets.runbook_list import RunbookList, RunbookRow
from widgets.safe_text import safe_text

RUNBOOK_BINDINGS = (
    "runbook.run",
    "runbook.rollback",
    "runbook.down",
    "runbook.up",
    "logs.save",
)
#: Files of the same name (two saves in one second) get "-2", "-3", … up to this.

EMPTY_HINT = """No runbook actions are configured for target {target}.

Add them under the target in the config file, for example:

targets:
  {target}:
    runbook:
      - name: rollback-web
        description: Undo the last rollout of web
        argv: [kubectl, rollout, undo, deployment/web]
        kind: rollback        # also on R; high risk: type the name to confirm
      - name: maintenance-on
        description: Put the site in maintenance mode
        argv: [./scripts/maintenance.sh, "on"]
        cwd: ~/ops
        key: m

`ops-console config check` validates the file."""


class RunbookScreen(ConsoleScreen):
    """The list of the target's actions above the output panel."""

    BINDINGS = bindings(*RUNBOOK_BINDINGS)
    # The list, not the output panel: a focused LogView takes up/down for scrolling.
    # Tab moves to the panel to scroll the output.
    AUTO_FOCUS = "#runbook-list"

    DEFAULT_CSS = """
    RunbookScreen #runbook-title { height: 1; color: $primary; text-style: bold; padding: 0 1; }
    RunbookScreen #runbook-empty { height: auto; padding: 1 2; color: $text-muted; }
    """

    def reset_for_target(self) -> None:
        # The base starts again from the class bindings: the previous target's action
        # keys are dropped here, and only the new target's are bound.
        super().reset_for_target()
        self._bind_action_keys()
        if self.is_attached:
            self._warn_skipped_keys()

    def _bind_action_keys(self) -> None:
        """Each action's own `key` runs it here (not a keymap id: it is per target).

        The config refuses keys the console uses; a key remapped onto since (`keymap:`),
        or one of this screen's own keys the config does not reserve (`p`, shared with
        the log view), is skipped here rather than shadowing the console's own binding.
        """
        keymap = self.console().config.keymap
        taken = set(reserved_keys())
        for keys in keymap.values():
            taken.update(k.strip() for k in keys.split(","))
        for binding_id in RUNBOOK_BINDINGS:
            if binding_id not in keymap:
                taken.update(k.strip() for k in BY_ID[binding_id].key.split(","))
        self.skipped_keys: list[str] = []
        for action in self.console().target.runbook:
            if action.key is None:
                continue
            if action.key in taken:
                self.skipped_keys.append(action.key)
                continue
            # Names are restricted to [A-Za-z0-9_.-] by the config: safe inside quotes.
            self._bindings.bind(
                action.key, f"run_named('{action.name}')", f"Run {action.name}", show=False
            )

    def body(self) -> ComposeResult:
        # Built from the target at compose time, not on mount: a `:target` switch
        # recomposes this screen, and it must then show the new target's actions.
        target = self.console().target
        actions = target.runbook
        title = f"Runbook · target {target.name} · {len(actions)} action"
        title += "" if len(actions) == 1 else "s"
        if actions:
            title += " · enter runs the selected one"
        yield Static(safe_text(title), id="runbook-title")
        listing = RunbookList(rows=[runbook_row(a) for a in actions], id="runbook-list")
        listing.display = bool(actions)
        yield listing
        empty = Static(
            Text("" if actions else EMPTY_HINT.format(target=target.name)), id="runbook-empty"
        )
        empty.display = not actions
        yield empty
        output = CommandOutput(id="runbook-output")
        output.display = bool(actions)
        yield output

    def on_mount(self) -> None:
        self._warn_skipped_keys()

    def _warn_skipped_keys(self) -> None:
        if self.skipped_keys:
            self.notify(
                "Runbook action keys the console uses here (or the keymap took), not bound: "
                + ", ".join(self.skipped_keys),
                severity="warning",
                markup=False,
            )

    def output_panel(self) -> CommandOutput:
        """Where `console.runbook_flows` streams a running command's output."""
        return self.query_one(CommandOutput)

    # ----------------------------------------------------------- actions

    def action_cursor_down(self) -> None:
        self.query_one(RunbookList).move(1)

    def action_cursor_up(self) -> None:
        self.query_one(RunbookList).move(-1)

    def action_run_selected(self) -> None:
        row = self.query_one(RunbookList).selected
        if row is None:
            self.notify("No runbook action to run on this target.", markup=False)
            return
        self.action_run_named(row.name)

    def action_rollback(self) -> None:
        from console.runbook_flows import rollback_action

        action = rollback_action(self.console())
        if action is None:
            self.notify(
                "No rollback action for this target (an action with `kind: rollback`).",
                markup=False,
            )
            return
        self.action_run_named(action.name)

    def action_run_named(self, name: str) -> None:
        from console.runbook_flows import find_action

        action = find_action(self.console(), name)
        if action is None:
            # A key bound for another target (a binding that outlived a switch).
            self.notify(
                f"No runbook action {name} on target {self.console().target.name}.",
                severity="warning",
                markup=False,
            )
            return
        self.query_one(RunbookList).select(name)
        self._run(action)

    def _run(self, action: RunbookActionConfig) -> None:
        from console.runbook_flows import start_runbook_action

        start_runbook_action(self.console(), action, {}, self.output_panel())

    def action_save(self) -> None:
        """Save the output panel's lines to a new file; a notice says where."""
        panel = self.output_panel()
        if not panel.started:
            self.notify("No output to save: no command has run here yet.", markup=False)
            return
        from console.paths import state_dir
        from console.saved_files import saved_file_name

        export = panel.export()
        if not export.lines:
            # An empty file would only look like a failed save.
            so_far = " so far" if export.running else ""
            self.notify(
                f"Nothing to save: {export.action or 'the command'} printed no output{so_far}.",
                markup=False,
            )
            return
        name = saved_file_name(f"runbook-{export.action or 'output'}", self.console().clock())
        self._write(state_dir() / "logs", name, export)

    @work(thread=True, exit_on_error=False, group="runbook-save")
    def _write(self, folder: Path, name: str, export: OutputExport) -> None:
        try:
            from console.saved_files import write_private

            path = write_private(folder, name, export.lines)
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"Could not save the output: {exc}", severity="error", markup=False
            )
            return
        self.app.call_from_thread(self.notify, saved_message(path, export), markup=False)


def runbook_row(action: RunbookActionConfig) -> RunbookRow:
    """What the runbook list shows of `action`."""
    return RunbookRow(
        name=action.name,
        kind=action.kind,
        risk="high" if action.kind == "rollback" else action.risk,
        key=action.key,
        description=action.description,
        params=tuple(p for p in action.params if p != "target"),
    )


def saved_message(path: Path, export: OutputExport) -> str:
    """What the operator is told after a save: where, how many lines, what is missing."""
    text = f"Saved {export.kept:,} lines of output to {path}"
    missing: list[str] = []
    if export.dropped:
        missing.append(
            f"the {export.dropped:,} lines before them were not kept "
            "(the panel keeps only the newest)"
        )
    if export.skipped:
        missing.append(f"{export.skipped:,} lines were skipped in a flood (marked in the file)")
    if missing:
        text += f" of {export.total:,}; " + "; ".join(missing)
    if export.running:
        text += ". The command is still running: this is its output so far"
    return text + "."
