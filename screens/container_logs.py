"""`l` on a container: its log, followed (pull model: a `LogFollower` thread fills a
bounded deque, a 0.25 s timer drains it into the bounded `LogView`).

Memory is bounded twice (follower and view, `docker.log_buffer_lines`), the UI gets no
message per line, and the follower is stopped when the screen goes, so the app always
exits promptly. `f` follow, `w` wrap, `t` timestamps, `/` search (`n`/`N`), `e` level
filter, `S` since (restarts the follower), `p` saves the buffer to a file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Input, Static

from adapters.docker.models import ContainerSummary
from console.bindings import bindings
from console.guard import survive
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.log_view import LEVELS, LogView
from widgets.safe_text import sanitize

DRAIN_EVERY = 0.25  # seconds: half the cost of 0.1 s, still looks live
SINCE_CHOICES: tuple[tuple[str, float | None], ...] = (
    ("all", None),
    ("5 m", 300.0),
    ("1 h", 3600.0),
    ("24 h", 86400.0),
)
LOG_BINDINGS = (
    "logs.close",
    "logs.follow",
    "logs.wrap",
    "logs.timestamps",
    "logs.search",
    "logs.next",
    "logs.previous",
    "logs.level",
    "logs.since",
    "logs.save",
)
DEFAULT_BUFFER = 10_000
GIL_SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005


class ContainerLogsScreen(ConsoleScreen):
    """One container's log; Esc goes back to the containers table."""

    BINDINGS = bindings(*LOG_BINDINGS)

    DEFAULT_CSS = """
    ContainerLogsScreen #logs-title { height: 1; color: $primary; text-style: bold; }
    ContainerLogsScreen #logs-status { height: 1; color: $foreground 70%; }
    ContainerLogsScreen #logs-search { display: none; height: 1; border: none; padding: 0 1; }
    ContainerLogsScreen #logs-search.-shown { display: block; }
    ContainerLogsScreen LogView { height: 1fr; }
    """

    def __init__(self, container: ContainerSummary) -> None:
        super().__init__()
        self.container = container
        self.follower: Any = None
        self.since_index = 0
        self.ended = False
        self._ended_at: float | None = None
        self._status = ""
        self._switch_interval = sys.getswitchinterval()
        docker_config = self.console().target.docker
        self.buffer_lines = int(getattr(docker_config, "log_buffer_lines", DEFAULT_BUFFER))

    def body(self) -> ComposeResult:
        c = self.container
        title = Text(f"Logs of {sanitize(c.name, max_len=80)}", end="")
        title.append(f" on {sanitize(c.host, max_len=40)} · {sanitize(c.image, max_len=60)}")
        yield Static(title, id="logs-title")
        yield Static(id="logs-status")
        yield Input(placeholder="search (Enter: next match, Esc: clear)", id="logs-search")
        yield LogView(max_lines=self.buffer_lines, id="logs-view")

    def on_mount(self) -> None:
        self.query_one(LogView).focus()
        # The reader thread still parses a flood in Python (~15 % of a core at 17k
        # lines/s) and holds the GIL up to the switch interval each time the UI thread
        # wants it back. Measured with bench/log_flood_bench.py after the reader was made
        # 2x cheaper: 5 ms -> 5 of 60 key presses over 150 ms (max 414 ms); 1 ms -> 1 of
        # 60 (max 176 ms). So it stays, only while a log is followed, restored on unmount.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, GIL_SWITCH_INTERVAL))
        self.start_follower()
        self.set_interval(DRAIN_EVERY, self.drain)

    def on_unmount(self) -> None:
        self.stop_follower()
        sys.setswitchinterval(self._switch_interval)

    # -------------------------------------------------------------- follower

    def start_follower(self, since: float | None = None) -> None:
        """(Re)start reading the log; `since` overrides the chosen window (unix seconds)."""
        self.stop_follower()
        docker = self.console().docker
        if docker is None:
            self.query_one(LogView).add_notice("Docker is not started for this target yet.")
            return
        from adapters.docker.logs import LogFollower

        window = SINCE_CHOICES[self.since_index][1]
        if since is None and window is not None:
            since = self.console().clock() - window
        host = docker.host(self.container.host)
        self.follower = LogFollower(
            # Bounded until the stream is open (a hung engine must not leak a thread per
            # reopen); the follower then lifts the read timeout: a quiet log may idle.
            lambda: host.new_client(timeout=host.timeout),
            self.container.id,
            since=since,
            tail=self.buffer_lines,
            follow=True,
            buffer_lines=self.buffer_lines,
        )
        self.ended = False
        self.follower.start()

    def stop_follower(self) -> None:
        follower, self.follower = self.follower, None
        if follower is not None:
            follower.stop()

    @survive
    def drain(self) -> None:
        follower = self.follower
        view = self.query_one(LogView)
        if follower is not None and not self.ended:
            batch = follower.drain(self.buffer_lines)
            view.append_lines(batch.lines, batch.dropped)
            if batch.ended:
                self.ended = True
                self._ended_at = self.console().clock()
                why = f": {batch.error}" if batch.error else " (the container stopped)"
                view.add_notice(f"— the log stream ended{why} —")
        self._show_status()

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        # A container that stopped and started again: follow its new run.
        if state.name != "docker" or state.snapshot is None or not self.ended:
            return
        now = state.snapshot.container(self.container.key)
        started = now.started_at if now is not None else None
        running = now is not None and now.state == "running"
        if running and started and self._ended_at and started > self._ended_at - 5:
            self.query_one(LogView).add_notice("— the container started again —")
            self.start_follower(since=started - 1)

    def _show_status(self) -> None:
        view = self.query_one(LogView)
        parts = [
            "following" if view.follow else "PAUSED (f: follow)",
            f"since {SINCE_CHOICES[self.since_index][0]}",
            f"level {view.level}",
            "wrap" if view.wrap else "no wrap",
            f"{view.line_count:,}/{view.max_lines:,} lines",
        ]
        if view.level != "all":
            parts.append(f"{view.shown_count:,} shown")
        follower = self.follower
        dropped = (follower.lines_dropped if follower is not None else 0) + view.skipped
        if dropped:
            parts.append(f"{dropped:,} dropped")
        if view.search_text:
            parts.append(f"search “{sanitize(view.search_text, max_len=30)}” (n/N)")
        if self.ended:
            parts.append("stream ended")
        status = " · ".join(parts)
        if status != self._status:
            self._status = status
            self.query_one("#logs-status", Static).update(Text(status, end=""), layout=False)

    # -------------------------------------------------------------- actions

    def action_close(self) -> None:
        search = self.query_one("#logs-search", Input)
        if search.has_class("-shown"):
            self._close_search()
            return
        self.stop_follower()
        self.app.pop_screen()

    def action_toggle_follow(self) -> None:
        view = self.query_one(LogView)
        view.set_follow(not view.follow)
        self._show_status()

    def action_toggle_wrap(self) -> None:
        view = self.query_one(LogView)
        view.set_wrap(not view.wrap)
        self._show_status()

    def action_toggle_timestamps(self) -> None:
        view = self.query_one(LogView)
        view.set_timestamps(not view.timestamps)

    def action_cycle_level(self) -> None:
        view = self.query_one(LogView)
        view.set_level(LEVELS[(LEVELS.index(view.level) + 1) % len(LEVELS)])
        self._show_status()

    def action_cycle_since(self) -> None:
        self.since_index = (self.since_index + 1) % len(SINCE_CHOICES)
        view = self.query_one(LogView)
        view.clear()
        view.add_notice(f"— since {SINCE_CHOICES[self.since_index][0]} —")
        self.start_follower()
        self._show_status()

    def action_search(self) -> None:
        field = self.query_one("#logs-search", Input)
        field.add_class("-shown")
        field.focus()

    @on(Input.Changed, "#logs-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_one(LogView).set_search(event.value)
        self._show_status()

    @on(Input.Submitted, "#logs-search")
    def _search_submitted(self) -> None:
        view = self.query_one(LogView)
        view.focus()
        if view.search_text and not view.next_match(backwards=True):
            self.notify("No line holds the search text.", markup=False)

    def _close_search(self) -> None:
        field = self.query_one("#logs-search", Input)
        field.value = ""
        field.remove_class("-shown")
        view = self.query_one(LogView)
        view.set_search("")
        view.focus()
        self._show_status()

    def action_next_match(self) -> None:
        if not self.query_one(LogView).next_match():
            self.notify("No later match.", markup=False)

    def action_previous_match(self) -> None:
        if not self.query_one(LogView).next_match(backwards=True):
            self.notify("No earlier match.", markup=False)

    def action_save(self) -> None:
        lines = self.query_one(LogView).export_lines()
        from console.paths import state_dir
        from console.saved_files import saved_file_name

        name = saved_file_name(self.container.name, self.console().clock())
        self._write(state_dir() / "logs", name, lines)

    @work(thread=True, exit_on_error=False, group="logs-save")
    def _write(self, folder: Path, name: str, lines: list[str]) -> None:
        from console.saved_files import write_private

        try:
            path = write_private(folder, name, lines)
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"Could not save the log: {exc}", severity="error", markup=False
            )
            return
        message = f"Saved {len(lines):,} lines to {path}"
        self.app.call_from_thread(self.notify, message, markup=False)
