"""`2`: PostgreSQL activity, the blocking tree, and cancel/terminate."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from adapters.postgres.models import Backend, BlockingNode, PgSnapshot
from console.bindings import bindings
from console.guard import survive
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.activity_table import ActivityTable
from widgets.blocking_tree import BlockingTreeView
from widgets.freshness import Freshness
from widgets.safe_text import safe_text

PG_BINDINGS = (
    "pg.cancel",
    "pg.terminate",
    "pg.jump_blocker",
    "table.filter",
    "table.details",
    "table.sort",
    "table.reverse",
    "pg.toggle_idle",
    "pg.focus_tree",
)


def root_blocker(pid: int, by_pid: dict[int, Backend]) -> int | None:
    """Follow `blocked_by` from `pid` to a session that waits on no one (cycle-safe)."""
    seen = {pid}
    current = by_pid.get(pid)
    if current is None or not current.blocked_by:
        return None
    while current is not None and current.blocked_by:
        nxt = current.blocked_by[0]
        if nxt in seen:
            return nxt  # a cycle (a deadlock about to be broken): any member will do
        seen.add(nxt)
        current = by_pid.get(nxt)
        if current is None:
            return nxt  # blocked by a pid outside the view (e.g. not a client backend)
    return None if current is None else current.pid


def waiters_of(pid: int, roots: tuple[BlockingNode, ...]) -> int:
    """How many sessions wait (directly or down the chain) on `pid`."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node.backend.pid == pid:
            return node.count()
        stack.extend(node.waiters)
    return 0


class PostgresScreen(ConsoleScreen):
    """Every client backend, who blocks whom, and the actions on a backend."""

    BINDINGS = [
        *bindings(*PG_BINDINGS),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    DEFAULT_CSS = """
    PostgresScreen #pg-status { height: 1; color: $foreground 70%; }
    PostgresScreen #pg-filter { display: none; height: 1; border: none; padding: 0 1; }
    PostgresScreen #pg-filter.-shown { display: block; }
    PostgresScreen ActivityTable { height: 1fr; }
    PostgresScreen #pg-tree-box { height: auto; max-height: 40%; border-top: solid $secondary; }
    PostgresScreen #pg-tree-title { color: $primary; text-style: bold; }
    PostgresScreen BlockingTreeView { height: auto; max-height: 16; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: PgSnapshot | None = None

    def body(self) -> ComposeResult:
        yield Freshness(clock=self.console().clock, id="pg-freshness")
        yield Static(id="pg-status")
        yield Input(
            placeholder="filter: user, db, app, client, state, query (Esc clears)", id="pg-filter"
        )
        yield ActivityTable(id="pg-activity")
        with Vertical(id="pg-tree-box"):
            yield Static(Text("Blocking tree"), id="pg-tree-title")
            yield BlockingTreeView(id="pg-tree")

    def on_mount(self) -> None:
        self.query_one(ActivityTable).focus()

    # -------------------------------------------------------------- data

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        if state.name == "docker":
            self._name_clients(state)
            return
        if state.name != "postgres":
            return
        self.query_one(Freshness).update_state(state)
        snapshot = state.snapshot
        if snapshot is not None and snapshot is not self.snapshot:
            self.snapshot = snapshot
            self.query_one(ActivityTable).update_snapshot(snapshot.backends)
            self.query_one(BlockingTreeView).update_tree(snapshot.blocking)
        self._show_status()

    def _name_clients(self, state: SourceState[Any]) -> None:
        """Show database clients that are containers on a watched host by their name."""
        snapshot = state.snapshot
        if snapshot is None:
            return
        names = {ip: c.name for ip, c in snapshot.container_by_ip().items()}
        self.query_one(ActivityTable).set_client_names(names)

    def _show_status(self) -> None:
        table = self.query_one(ActivityTable)
        snapshot = self.snapshot
        if snapshot is None:
            line = safe_text("waiting for the first poll…")
        else:
            line = safe_text(
                table.counts_text() + f"{'' if table.show_idle else ' (idle hidden: i)'}"
                f" · {snapshot.waiting_count} waiting on locks"
                f" · {snapshot.blocking_count} blocking"
            )
            filter_text = self.query_one("#pg-filter", Input).value
            if filter_text:
                line.append(" · filter: ")
                line.append_text(safe_text(filter_text, max_len=40, style="bold"))
        self.query_one("#pg-status", Static).update(line, layout=False)

    # ----------------------------------------------------------- selection

    def selected_pid(self) -> int | None:
        """The pid under the cursor of the focused view (table or tree)."""
        tree = self.query_one(BlockingTreeView)
        return tree.selected_pid if tree.has_focus else self.query_one(ActivityTable).selected_pid

    def selected_backend(self) -> Backend | None:
        """The session under the cursor of the focused view (table or tree)."""
        pid = self.selected_pid()
        if pid is None or self.snapshot is None:
            return None
        return next((b for b in self.snapshot.backends if b.pid == pid), None)

    def _selected_or_say(self) -> Backend | None:
        """The selected session, or None with a notice saying why there is none."""
        backend = self.selected_backend()
        if backend is not None:
            return backend
        pid = self.selected_pid()
        table = self.query_one(ActivityTable)
        if pid is None:
            message = "Select a session first."
        elif not self.query_one(BlockingTreeView).has_focus and table.selected_gone:
            message = f"That backend ended: pid {pid} is gone. Nothing to act on."
        else:  # a blocker the tree shows by its pid only
            message = (
                f"pid {pid} is not in the session list (not a client backend, or it ended): "
                "nothing to act on here."
            )
        self.notify(message, markup=False)
        return None

    # -------------------------------------------------------------- actions

    def action_filter(self) -> None:
        field = self.query_one("#pg-filter", Input)
        field.add_class("-shown")
        field.focus()

    @on(Input.Changed, "#pg-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ActivityTable).set_filter(event.value)
        self._show_status()

    @on(Input.Submitted, "#pg-filter")
    def _filter_done(self) -> None:
        self.query_one(ActivityTable).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#pg-filter", Input)
        field.value = ""
        field.remove_class("-shown")
        self.query_one(ActivityTable).set_filter("")
        self.query_one(ActivityTable).focus()
        self._show_status()

    def action_cycle_sort(self) -> None:
        self.query_one(ActivityTable).action_cycle_sort()

    def action_reverse_sort(self) -> None:
        self.query_one(ActivityTable).action_reverse_sort()

    def action_toggle_idle(self) -> None:
        table = self.query_one(ActivityTable)
        table.show_idle = not table.show_idle
        self._show_status()

    def action_focus_tree(self) -> None:
        tree = self.query_one(BlockingTreeView)
        if tree.has_focus:
            self.query_one(ActivityTable).focus()
        else:
            tree.focus()

    def action_jump_blocker(self) -> None:
        backend = self._selected_or_say()
        if backend is None or self.snapshot is None:
            return
        root = root_blocker(backend.pid, {b.pid: b for b in self.snapshot.backends})
        if root is None:
            self.notify(f"pid {backend.pid} is not waiting on a lock.", markup=False)
            return
        table = self.query_one(ActivityTable)
        if not table.select_pid(root):
            self.notify(
                f"Root blocker pid {root} is not shown (filtered out or not a client backend).",
                severity="warning",
                markup=False,
            )
            return
        table.focus()

    def action_details(self) -> None:
        backend = self._selected_or_say()
        if backend is None:
            return
        from screens.backend_detail import BackendDetailScreen

        self.app.push_screen(BackendDetailScreen(backend.pid))

    @on(ActivityTable.Activated)
    def _activated(self) -> None:
        self.action_details()

    def action_cancel_query(self) -> None:
        self._start_action("cancel")

    def action_terminate_backend(self) -> None:
        self._start_action("terminate")

    def _start_action(self, kind: str) -> None:
        backend = self._selected_or_say()
        if backend is None:
            return
        waiting = waiters_of(backend.pid, self.snapshot.blocking if self.snapshot else ())
        self.console().start_pg_action(kind, backend, waiting)
