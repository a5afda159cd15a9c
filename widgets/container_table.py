"""The containers table (all hosts of a target), on `KeyedTable` (widgets/keyed_table.py).

CPU is % of ONE core (`docker stats` convention): a container busy on two cores shows
200 %. The header says so ("CPU%1c").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.docker.models import ContainerSummary
from widgets.formatting import NA, duration, human_bytes
from widgets.keyed_table import Column, KeyedTable, Row, fit, layout
from widgets.safe_text import sanitize

_TEXT_MAX = 80


# -- containers ---------------------------------------------------------------------------

CONTAINER_COLUMNS: tuple[Column, ...] = (
    Column("host", "host", 8, drop_rank=3),
    Column("name", "name", 18, grow=True),
    Column("image", "image", 16, drop_rank=4, grow=True),
    Column("state", "state", 17),
    Column("uptime", "up", 6, right=True),
    Column("restarts", "rst", 3, right=True),
    Column("cpu", "CPU%1c", 7, right=True),
    Column("mem", "mem used/limit", 19, right=True),
    Column("mem_pct", "mem%", 5, right=True, drop_rank=2),
    Column("net", "net rx/tx /s", 19, right=True, drop_rank=1),
    Column("blk", "blk r/w /s", 19, right=True, drop_rank=1),
    Column("pids", "pids", 5, right=True, drop_rank=2),
)
_STATUS_RANK = {"error": 0, "warning": 1, "normal": 2, "muted": 3}


def state_label(c: ContainerSummary) -> str:
    """ "running healthy", "exited (137)", "exited OOM", "restarting"."""
    state = sanitize(c.state, max_len=12)
    if c.state in ("exited", "dead"):
        if c.oom_killed:
            return f"{state} OOM ({c.exit_code})"
        return f"{state} ({c.exit_code})" if c.exit_code is not None else state
    if c.health:
        return f"{state} {sanitize(c.health, max_len=10)}"
    return state


def container_kind(c: ContainerSummary) -> str:
    """The row's style: error, warning, normal or muted."""
    if c.health == "unhealthy" or c.exited_nonzero or c.oom_killed or c.state == "dead":
        return "error"
    if c.state == "restarting" or c.health == "starting":
        return "warning"
    return "normal" if c.state == "running" else "muted"


def _rate(value: float | None) -> str:
    return NA if value is None else human_bytes(value)


class ContainerTable(KeyedTable):
    """Every container of the target's hosts; `a` hides stopped ones."""

    COLUMNS = CONTAINER_COLUMNS
    SORT_KEYS = ("status", *(c.key for c in CONTAINER_COLUMNS))
    DESC_BY_DEFAULT = frozenset({"cpu", "mem", "mem_pct", "net", "blk", "pids", "restarts"})
    NOUN = "containers"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.show_stopped = True
        self._stale_hosts: frozenset[str] = frozenset()

    def update_containers(
        self,
        containers: Sequence[ContainerSummary],
        now: float,
        stale_hosts: frozenset[str] = frozenset(),
    ) -> None:
        """Take a refresh; containers of `stale_hosts` (hosts that failed this time) are
        their last known data, shown muted and marked stale, never as if live."""
        self._stale_hosts = stale_hosts
        self.update_items(containers, now, lambda c: c.key)

    def successor(self, item: Any) -> str | None:
        """The same container name on the same host (Compose recreated it)."""
        for row in self._rows.values():
            c = row.item
            if c.host == item.host and c.name == item.name:
                return row.key
        return None

    def set_show_stopped(self, show: bool) -> None:
        self.show_stopped = show
        self._rebuild(pin=None)

    def hidden(self, row: Row) -> bool:
        return not self.show_stopped and row.item.state in ("exited", "dead", "created")

    def default_order(self, row: Row) -> Any:
        # Problems first (unhealthy, crashed, restarting), then by name.
        return (_STATUS_RANK[row.kind], row.sort["name"] or "", row.key)

    def fill_row(self, row: Row, item: Any, now: float) -> None:
        c: ContainerSummary = item
        s = c.stats
        running = c.state in ("running", "restarting", "paused")
        uptime = now - c.started_at if running and c.started_at else None
        name = sanitize(c.name, max_len=_TEXT_MAX)
        image = sanitize(c.image, max_len=_TEXT_MAX)
        host = sanitize(c.host, max_len=40)
        mem = NA
        if s is not None and s.mem_used is not None:
            mem = f"{human_bytes(s.mem_used)}/{human_bytes(s.mem_limit)}"
        mem_pct = s.mem_percent if s is not None else None
        net = blk = NA
        if s is not None and s.net_rx_rate is not None:
            net = f"{_rate(s.net_rx_rate)}/{_rate(s.net_tx_rate)}"
        if s is not None and s.blk_read_rate is not None:
            blk = f"{_rate(s.blk_read_rate)}/{_rate(s.blk_write_rate)}"
        cpu = s.cpu_percent if s is not None else None
        row.cells = {
            "host": host,
            "name": name,
            "image": image,
            "state": state_label(c),
            "uptime": duration(uptime) if uptime is not None else NA,
            "restarts": str(c.restart_count),
            "cpu": NA if cpu is None else f"{cpu:.1f}",
            "mem": mem,
            "mem_pct": NA if mem_pct is None else f"{mem_pct:.0f}",
            "net": net,
            "blk": blk,
            "pids": NA if s is None or s.pids is None else str(s.pids),
        }
        rates = (s.net_rx_rate, s.net_tx_rate) if s is not None else (None, None)
        blks = (s.blk_read_rate, s.blk_write_rate) if s is not None else (None, None)
        row.sort = {
            "host": host.casefold(),
            "name": name.casefold(),
            "image": image.casefold(),
            "state": state_label(c),
            "uptime": uptime,
            "restarts": c.restart_count,
            "cpu": cpu,
            "mem": s.mem_used if s is not None else None,
            "mem_pct": mem_pct,
            "net": None if rates[0] is None else (rates[0] or 0) + (rates[1] or 0),
            "blk": None if blks[0] is None else (blks[0] or 0) + (blks[1] or 0),
            "pids": s.pids if s is not None else None,
        }
        project = c.compose_project or ""
        row.haystack = "\0".join((c.host, c.name, c.image, c.state, c.health or "", project))
        row.haystack = row.haystack.casefold()
        row.kind = container_kind(c)
        if c.host in self._stale_hosts:
            row.cells["state"] = "stale: " + row.cells["state"]
            row.kind = "muted"


__all__ = [
    "CONTAINER_COLUMNS",
    "Column",
    "ContainerTable",
    "KeyedTable",
    "Row",
    "container_kind",
    "fit",
    "layout",
    "state_label",
]
