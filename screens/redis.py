"""`3`: Redis — memory, keyspace, slowlog, latency, clients, big keys, and key clears."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console.bindings import bindings
from console.guard import survive
from console.redis_source import SOURCE_PREFIX
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.big_keys import BigKeysView
from widgets.freshness import Freshness
from widgets.progress_line import ProgressLine
from widgets.redis_detail import RedisDetailView
from widgets.safe_text import safe_text

REDIS_BINDINGS = (
    "redis.clear",
    "redis.flush",
    "redis.delete_key",
    "redis.bigkeys",
    "redis.next_instance",
)


class RedisScreen(ConsoleScreen):
    """One Redis instance of the target at a time (`n` moves to the next)."""

    BINDINGS = bindings(*REDIS_BINDINGS)

    DEFAULT_CSS = """
    RedisScreen #redis-title { height: 1; color: $primary; text-style: bold; }
    RedisScreen RedisDetailView { height: 1fr; }
    RedisScreen #redis-bigkeys-box { height: auto; max-height: 45%; border-top: solid $secondary; }
    RedisScreen BigKeysView { height: auto; max-height: 20; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.big_keys_db = 0
        self.big_keys_of: str | None = None  # the instance the shown big keys came from

    def body(self) -> ComposeResult:
        yield Static(id="redis-title")
        yield Freshness(clock=self.console().clock, id="redis-freshness")
        yield RedisDetailView(id="redis-detail")
        yield ProgressLine(id="redis-progress")
        with Vertical(id="redis-bigkeys-box"):
            yield BigKeysView(id="redis-bigkeys")

    def on_mount(self) -> None:
        self._show_title()

    # -------------------------------------------------------------- data

    def instances(self) -> list[Any]:
        return list(self.console().redis.values())

    def current(self) -> Any | None:
        sources = self.instances()
        return sources[self.index % len(sources)] if sources else None

    def _show_title(self) -> None:
        source = self.current()
        if source is None:
            if self.console().target.redis:
                text = "Redis: starting…"
            else:
                text = "No Redis configured for this target."
        else:
            count = len(self.instances())
            text = f"Redis {source.instance} ({self.index % count + 1}/{count}) · "
            text += source.describe() + ("  · n: next instance" if count > 1 else "")
        self.query_one("#redis-title", Static).update(safe_text(text), layout=False)

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        source = self.current()
        if source is None or state.name != source.name:
            if state.name.startswith(SOURCE_PREFIX):
                self._show_title()
            return
        self._show_title()
        self.query_one(Freshness).update_state(state)
        if state.snapshot is not None:
            self.query_one(RedisDetailView).update_snapshot(state.snapshot)

    def _progress(self, label: str, fraction: float | None, detail: str) -> None:
        self.query_one(ProgressLine).update_progress(label, fraction, detail)

    def _finish(self, message: str) -> None:
        line = self.query_one(ProgressLine)
        if message:
            line.finish(message)
        else:
            line.reset()

    def _keys_in(self, db: int) -> int | None:
        source = self.current()
        state = self.console().states.get(source.name) if source else None
        snapshot = state.snapshot if state else None
        if snapshot is None:
            return None
        entry = snapshot.db(db)
        return entry.keys if entry else 0

    # ----------------------------------------------------------- actions

    def action_next_instance(self) -> None:
        self.index += 1
        # The sampled keys belong to the instance they were sampled on: never offer
        # them for deletion on another one (a key of the same name there is another key).
        self.query_one(BigKeysView).update_result(None)
        self.big_keys_of = None
        source = self.current()
        if source is not None and source.name in self.console().states:
            self.show_state(self.console().states[source.name])

    def _ask(self, title: str, fields: list[tuple[str, str]], then: Any, hint: str = "") -> None:
        from screens.prompt import PromptScreen

        self.app.push_screen(PromptScreen(title, fields, hint), then)

    def _default_db(self) -> str:
        """The instance's own db (its URL's path, `?db=`, or `db:`), as the prompts'
        default: on a shared Redis, db 0 may be someone else's."""
        source = self.current()
        return "0" if source is None else str(source.db())

    def _parse_db(self, text: str) -> int | None:
        """The db number typed, or None (and a message) when it is not one."""
        text = text.strip()
        if not text.isdigit():
            self.notify(f"Not a db number: {text!r}", severity="error", markup=False)
            return None
        return int(text)

    def _source_or_say(self) -> Any | None:
        source = self.current()
        if source is None:
            self.notify("No Redis instance here.", markup=False)
        return source

    def _refused_read_only(self, source: Any, action: str) -> bool:
        """On a read-only target, refuse (and audit) `action` before asking anything."""
        app = self.console()
        if not app.read_only:
            return False
        from console.redis_flows import refused_flow

        app.start_action(refused_flow(app, source, action, source.db(), self._finish), action)
        return True

    def action_clear_pattern(self) -> None:
        source = self._source_or_say()
        if source is None or self._refused_read_only(source, "redis.clear"):
            return

        def go(values: list[str] | None) -> None:
            if not values:
                return
            db = self._parse_db(values[0])
            if db is None:
                return
            from console.redis_flows import clear_flow

            cancel = asyncio.Event()
            self.console().start_action(
                clear_flow(self.console(), source, db, values[1], self._progress, self._finish),
                "redis.clear",
                cancel,
            )

        self._ask(
            f"Clear keys by pattern on {source.instance}",
            [("db", self._default_db()), ("pattern (glob: session:*)", "")],
            go,
            "The keys are counted first; nothing is deleted before you confirm.",
        )

    def action_flush_db(self) -> None:
        source = self._source_or_say()
        if source is None or self._refused_read_only(source, "redis.flushdb"):
            return
        hint = (
            "Type 'all' for FLUSHALL."
            if source.allow_flushall
            else ("FLUSHALL is not offered (allow_flushall is false for this instance).")
        )

        def go(values: list[str] | None) -> None:
            if not values:
                return
            from console.redis_flows import flush_flow

            everything = source.allow_flushall and values[0].strip().lower() == "all"
            db = None if everything else self._parse_db(values[0])
            if db is None and not everything:
                return
            keys = None if db is None else self._keys_in(db)
            self.console().start_action(
                flush_flow(self.console(), source, db, keys, self._finish), "redis.flush"
            )

        self._ask(f"Flush a db of {source.instance}", [("db", self._default_db())], go, hint)

    def action_delete_key(self) -> None:
        source = self.current()
        view = self.query_one(BigKeysView)
        key = view.selected_key
        if source is None or key is None:
            self.notify("Sample the big keys (g) and select one first.", markup=False)
            return
        if self.big_keys_of != source.name:
            self.notify(
                f"The keys shown were not sampled on {source.instance}: sample it (g) first.",
                markup=False,
            )
            return
        from console.redis_flows import delete_flow

        size = view.selected_size
        self.console().start_action(
            delete_flow(self.console(), source, self.big_keys_db, key, size, self._finish),
            "redis.delete",
        )

    def action_big_keys(self) -> None:
        source = self._source_or_say()
        if source is None:
            return

        def go(values: list[str] | None) -> None:
            if not values:
                return
            db = self._parse_db(values[0])
            if db is None:
                return
            from console.redis_flows import big_keys_flow

            def done(result: Any) -> None:
                if result is not None:
                    # Set with the keys they belong to: a sample that never came back
                    # must not send `d` to another db than the keys shown.
                    self.big_keys_db = db
                    self.big_keys_of = source.name
                    self.query_one(BigKeysView).update_result(result)
                    self._finish(f"Sampled {result.scanned:,} keys of db {db}.")
                else:
                    self._finish("")

            cancel = asyncio.Event()
            self.console().start_action(
                big_keys_flow(self.console(), source, db, self._progress, done),
                "redis.bigkeys",
                cancel,
            )

        self._ask(
            f"Sample the biggest keys of {source.instance}",
            [("db", self._default_db())],
            go,
            "SCAN-based, bounded by a key and a time budget; ctrl+c stops it.",
        )
