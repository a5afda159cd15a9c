"""Swarm services (shown when a host of the target is a swarm manager): replicas running
of desired, image, the previous image a rollback would return to, and the update status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.docker.models import ServiceSummary
from widgets.formatting import NA, duration
from widgets.keyed_table import Column, KeyedTable, Row
from widgets.safe_text import sanitize

SERVICE_COLUMNS: tuple[Column, ...] = (
    Column("host", "host", 8, drop_rank=2),
    Column("name", "service", 18, grow=True),
    Column("mode", "mode", 10, drop_rank=3),
    Column("replicas", "replicas", 8, right=True),
    Column("image", "image", 20, grow=True),
    # What a rollback goes back to: it must be readable, so it grows like the image.
    Column("previous", "previous image", 16, drop_rank=1, grow=True),
    Column("update", "update", 18, grow=True),
    Column("updated", "changed", 7, right=True, drop_rank=4),
)
_BAD_UPDATES = {"paused", "rollback_paused"}
_BUSY_UPDATES = {"updating", "rollback_started"}


def service_kind(s: ServiceSummary) -> str:
    """error: no replica up or the update paused; warning: short or updating."""
    if s.update_state in _BAD_UPDATES or (s.replicas_desired and s.replicas_running == 0):
        return "error"
    if s.update_state in _BUSY_UPDATES:
        return "warning"
    if s.replicas_desired is not None and s.replicas_running < s.replicas_desired:
        return "warning"
    return "normal"


def replicas_text(s: ServiceSummary) -> str:
    desired = "global" if s.replicas_desired is None else str(s.replicas_desired)
    return f"{s.replicas_running}/{desired}"


class ServiceTable(KeyedTable):
    """One row per service, keyed by `ServiceSummary.key`."""

    COLUMNS = SERVICE_COLUMNS
    SORT_KEYS = ("status", *(c.key for c in SERVICE_COLUMNS))
    DESC_BY_DEFAULT = frozenset({"updated"})
    NOUN = "services"

    def update_services(self, services: Sequence[ServiceSummary], now: float) -> None:
        self.update_items(services, now, lambda s: s.key)

    def default_order(self, row: Row) -> Any:
        rank = {"error": 0, "warning": 1}.get(row.kind, 2)
        return (rank, row.sort["name"], row.key)

    def fill_row(self, row: Row, item: Any, now: float) -> None:
        s: ServiceSummary = item
        name = sanitize(s.name, max_len=80)
        update = sanitize(s.update_state or "", max_len=24)
        if s.update_message:
            update = f"{update}: {sanitize(s.update_message, max_len=120)}".lstrip(": ")
        age = now - s.updated_at if s.updated_at else None
        row.cells = {
            "host": sanitize(s.host, max_len=40),
            "name": name,
            "mode": sanitize(s.mode, max_len=12),
            "replicas": replicas_text(s),
            "image": sanitize(s.image, max_len=80),
            "previous": sanitize(s.previous_image, max_len=80) if s.previous_image else NA,
            "update": update or NA,
            "updated": duration(age) if age is not None else NA,
        }
        row.sort = {
            "host": s.host.casefold(),
            "name": name.casefold(),
            "mode": s.mode,
            "replicas": s.replicas_running,
            "image": s.image.casefold(),
            "previous": (s.previous_image or "").casefold() or None,
            "update": s.update_state,
            "updated": age,
        }
        row.haystack = "\0".join((s.host, s.name, s.image, s.update_state or "")).casefold()
        row.kind = service_kind(s)


__all__ = ["SERVICE_COLUMNS", "ServiceTable", "replicas_text", "service_kind"]
