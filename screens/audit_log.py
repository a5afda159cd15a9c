"""`6`: the audit log, newest first."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from console.guard import survive
from console.messages import AuditAppended
from screens.base import ConsoleScreen
from widgets.safe_text import safe_text

OUTCOME_STYLES = {
    "succeeded": "bold green",
    "failed": "bold red",
    "timeout": "bold red",
    "cancelled": "dim",
    "refused-read-only": "yellow",
    "refused-disarmed": "yellow",
    "refused-recheck": "yellow",
    "armed": "bold yellow",
}


class AuditScreen(ConsoleScreen):
    """Recent audit records from the log file; reloads when a record is appended."""

    DEFAULT_CSS = """
    AuditScreen DataTable { height: 1fr; }
    AuditScreen #audit-detail { height: auto; max-height: 12; border-top: solid $secondary; }
    AuditScreen #audit-path { color: $foreground 60%; }
    """

    def body(self) -> ComposeResult:
        yield Static(id="audit-path")
        table: DataTable[Text] = DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("time (UTC)", "user", "target", "action", "outcome", "operation")
        yield table
        yield Static(id="audit-detail")

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.reload()

    @on(AuditAppended)
    def _appended(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="audit-read", exit_on_error=False)
    def reload(self) -> None:
        app = self.console()
        try:
            records = app.audit.recent(200)
            error = None
        except Exception as exc:  # unreadable file: say so, keep the screen
            records, error = [], f"cannot read {app.audit.path}: {exc}"
        self.app.call_from_thread(self._show_records, records, error)

    @survive
    def _show_records(self, records: list[Any], error: str | None) -> None:
        path = self.console().audit.path
        header = error or f"{path}  —  {len(records)} most recent records, newest first"
        self.query_one("#audit-path", Static).update(safe_text(header))
        table = self.query_one("#audit-table", DataTable)
        table.clear()
        self._records = records
        for index, rec in enumerate(records):
            table.add_row(
                safe_text(rec.ts.replace("T", " ")[:19]),
                safe_text(rec.user, max_len=16),
                safe_text(rec.target, max_len=16),
                safe_text(rec.action, max_len=16),
                safe_text(rec.outcome, style=OUTCOME_STYLES.get(rec.outcome, "")),
                safe_text(rec.error or rec.preview, max_len=80),
                key=str(index),
            )
        if records:
            self._show_detail(0)

    def _show_detail(self, index: int) -> None:
        records = getattr(self, "_records", [])
        if 0 <= index < len(records):
            text = json.dumps(asdict(records[index]), indent=1, default=str)
            self.query_one("#audit-detail", Static).update(safe_text(text, one_line=False))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._show_detail(int(event.row_key.value))
