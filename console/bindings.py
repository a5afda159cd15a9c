"""Every key binding's id, default keys and description: the one list the keymap checks.

Screens build their `BINDINGS` from here, `keymap:` in the config remaps by id (unknown
ids are config errors), and `?` help lists what is in force. Destructive actions are
plain letters that always open a confirmation, never Ctrl-chords.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual.binding import Binding

if TYPE_CHECKING:
    from textual.dom import DOMNode


@dataclass(frozen=True, slots=True)
class BindingSpec:
    id: str
    key: str
    action: str
    description: str
    show: bool = True
    #: Write actions: hidden from the footer and never bound on a read-only target.
    destructive: bool = False
    priority: bool = False


SPECS: tuple[BindingSpec, ...] = (
    # anywhere
    BindingSpec("screen.dashboard", "1", "app.switch_screen_id('dashboard')", "Dashboard"),
    BindingSpec("screen.postgres", "2", "app.switch_screen_id('postgres')", "Postgres"),
    BindingSpec("screen.redis", "3", "app.switch_screen_id('redis')", "Redis"),
    BindingSpec("screen.containers", "4", "app.switch_screen_id('containers')", "Containers"),
    BindingSpec("screen.health", "5", "app.switch_screen_id('health')", "Health"),
    BindingSpec("screen.audit", "6", "app.switch_screen_id('audit')", "Audit"),
    BindingSpec("app.help", "question_mark", "app.help", "Keys"),
    BindingSpec("app.command", "colon", "app.command_line", "Command"),
    BindingSpec("app.quit", "q", "app.request_quit", "Quit"),
    BindingSpec("app.arm", "W", "app.arm", "Arm writes", destructive=True),
    BindingSpec("app.refresh", "ctrl+r", "app.refresh_now", "Refresh"),
    BindingSpec("app.interrupt", "ctrl+c", "app.interrupt", "Stop", show=False, priority=True),
    BindingSpec("app.palette", "ctrl+p", "app.command_palette", "Palette", show=False),
    # Where a screen has no built-in rollback of its own: the runbook's `kind: rollback`.
    BindingSpec("app.rollback", "R", "app.runbook_rollback", "Roll back", destructive=True),
    # tables
    BindingSpec("table.filter", "slash", "filter", "Filter"),
    BindingSpec("table.details", "enter", "details", "Details"),
    BindingSpec("table.sort", "o", "cycle_sort", "Sort"),
    BindingSpec("table.reverse", "O", "reverse_sort", "Reverse", show=False),
    # postgres
    BindingSpec("pg.toggle_idle", "i", "toggle_idle", "Idle"),
    BindingSpec("pg.jump_blocker", "b", "jump_blocker", "Blocker"),
    BindingSpec("pg.focus_tree", "t", "focus_tree", "Tree"),
    BindingSpec("pg.cancel", "c", "cancel_query", "Cancel query", destructive=True),
    BindingSpec("pg.terminate", "K", "terminate_backend", "Terminate", destructive=True),
    # redis
    BindingSpec("redis.clear", "x", "clear_pattern", "Clear keys", destructive=True),
    BindingSpec("redis.flush", "F", "flush_db", "Flush db", destructive=True),
    BindingSpec("redis.delete_key", "d", "delete_key", "Delete key", destructive=True),
    BindingSpec("redis.bigkeys", "g", "big_keys", "Big keys"),
    BindingSpec("redis.next_instance", "n", "next_instance", "Next instance"),
    # containers (screens/containers.py, screens/container_logs.py)
    BindingSpec("containers.logs", "l", "logs", "Logs"),
    BindingSpec("containers.restart", "r", "restart", "Restart", destructive=True),
    BindingSpec("containers.stop_start", "s", "stop_start", "Stop/start", destructive=True),
    BindingSpec("containers.rollback", "R", "rollback", "Roll back", destructive=True),
    BindingSpec("containers.toggle_all", "a", "toggle_all", "All/running"),
    BindingSpec("containers.switch_table", "tab", "switch_table", "Services", show=False),
    BindingSpec("containers.runbook", "exclamation_mark", "runbook", "Runbook", destructive=True),
    BindingSpec("logs.close", "escape", "close", "Back"),
    BindingSpec("logs.follow", "f", "toggle_follow", "Follow"),
    BindingSpec("logs.wrap", "w", "toggle_wrap", "Wrap"),
    BindingSpec("logs.timestamps", "t", "toggle_timestamps", "Times"),
    BindingSpec("logs.search", "slash", "search", "Search"),
    BindingSpec("logs.next", "n", "next_match", "Next match", show=False),
    BindingSpec("logs.previous", "N", "previous_match", "Previous match", show=False),
    BindingSpec("logs.level", "e", "cycle_level", "Level"),
    BindingSpec("logs.since", "S", "cycle_since", "Since"),
    BindingSpec("logs.save", "p", "save", "Save"),
    # health (screens/health.py)
    BindingSpec("health.problems", "p", "toggle_problems", "Problems only"),
    BindingSpec("health.body", "b", "toggle_body", "Headers/body"),
    BindingSpec("health.runbook", "exclamation_mark", "runbook", "Runbook", destructive=True),
    # runbook (screens/runbook.py)
    BindingSpec("runbook.run", "enter", "run_selected", "Run", destructive=True),
    BindingSpec("runbook.rollback", "R", "rollback", "Roll back", destructive=True),
    BindingSpec("runbook.down", "down,j", "cursor_down", "Down", show=False),
    BindingSpec("runbook.up", "up,k", "cursor_up", "Up", show=False),
)

BY_ID: dict[str, BindingSpec] = {spec.id: spec for spec in SPECS}
BINDING_IDS: frozenset[str] = frozenset(BY_ID)


def bindings(*ids: str, read_only: bool = False) -> list[Binding]:
    """Textual `Binding`s for the given ids; destructive ones are left out when read-only."""
    out: list[Binding] = []
    for binding_id in ids:
        spec = BY_ID[binding_id]
        if read_only and spec.destructive:
            continue
        out.append(
            Binding(
                spec.key,
                spec.action,
                spec.description,
                show=spec.show,
                id=spec.id,
                priority=spec.priority,
            )
        )
    return out


def hide_destructive(node: DOMNode, ids: set[str] | None = None) -> None:
    """Hide the destructive bindings of `node` (or those named by `ids`) from the footer.

    The keys still work, so pressing one says why it is refused (and audits it), but the
    footer offers no action the console will not perform. Textual gives each node its
    own copy of the merged bindings, so changing it here affects only this node.
    """
    destructive = ids if ids is not None else {spec.id for spec in SPECS if spec.destructive}
    key_map = node._bindings.key_to_bindings
    for key, key_bindings in key_map.items():
        key_map[key] = [replace(b, show=False) if b.id in destructive else b for b in key_bindings]
