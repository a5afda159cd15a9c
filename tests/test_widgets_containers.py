"""Container widgets with hand-built snapshots: table identity, sorting, filtering, the
dashboard pane (counts, tops, stale, host errors), the detail text, and hostile text."""

from __future__ import annotations

import dataclasses

import pytest
from textual.app import App, ComposeResult

from adapters.docker.models import (
    ContainerDetail,
    ContainerStats,
    ContainerSummary,
    DockerSnapshot,
    HealthProbe,
    HostSnapshot,
    ServiceSummary,
)
from adapters.errors import Unreachable
from console.state import SourceState
from widgets.container_detail import ContainerDetailView, detail_text
from widgets.container_table import ContainerTable
from widgets.containers_summary import ContainersSummaryPane
from widgets.service_table import ServiceTable

pytestmark = pytest.mark.timeout(60)
NOW = 1_700_000_000.0

HOSTILE = (
    "a\x1b[2Jb",
    "c\x1b]52;c;cm0gLXJm\x07d",
    "e\x1b]8;;http://evil/\x1b\\f\x1b]8;;\x1b\\",
    "g\x1b]0;title\x07h",
    "[/]",
    "[link=http://x]y[/link]",
    "[bold]z",
    "i\u202ej",
    "k\udcffl",
)
RAW_BAD = ("\x1b", "\x07", "\u202e", "\udcff")


def summary(
    name: str,
    *,
    host: str = "h1",
    cid: str | None = None,
    state: str = "running",
    health: str | None = None,
    cpu: float | None = 1.0,
    mem: int | None = 10 << 20,
    exit_code: int | None = None,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    image: str = "opsc-test/app:1",
) -> ContainerSummary:
    stats = None
    if state == "running":
        stats = ContainerStats(cpu, 2, mem, 100 << 20, 1000.0, 2000.0, 0.0, 4096.0, pids=3)
    return ContainerSummary(
        host=host,
        id=cid or f"id-{name}",
        name=name,
        image=image,
        image_id="sha256:abc",
        state=state,
        health=health,
        created_at=NOW - 100,
        started_at=NOW - 90,
        finished_at=None,
        exit_code=exit_code,
        oom_killed=False,
        restart_count=restarts,
        labels=labels or {},
        stats=stats,
    )


def snap(*containers: ContainerSummary, error_host: str | None = None) -> DockerSnapshot:
    hosts = {c.host for c in containers} | ({error_host} if error_host else set())
    return DockerSnapshot(
        hosts=tuple(
            HostSnapshot(
                host=h,
                endpoint="unix:///var/run/docker.sock",
                taken_at=NOW,
                containers=tuple(c for c in containers if c.host == h),
                error="connection refused" if h == error_host else None,
                stale_since=NOW - 30 if h == error_host else None,
            )
            for h in sorted(hosts)
        ),
        taken_at=NOW,
        duration=0.1,
    )


class Harness(App[None]):
    def __init__(self, *widgets: object) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self.widgets  # type: ignore[misc]


def assert_inert(text: str) -> None:
    for bad in RAW_BAD:
        assert bad not in text, (bad, text)


async def test_cursor_stays_on_its_container_across_refreshes() -> None:
    table = ContainerTable()
    async with Harness(table).run_test(size=(160, 20)) as pilot:
        rows = [summary(f"c{i}", cpu=float(i)) for i in range(10)]
        table.update_containers(rows, NOW)
        table.focus()
        await pilot.press("down", "down", "down")
        key = table.selected_key
        assert key == "h1/id-c3"
        # New containers sort before it, others vanish: the cursor keeps its identity.
        rows = [summary("a0"), summary("a1"), *rows[2:]]
        table.update_containers(rows, NOW + 1)
        await pilot.pause()
        assert table.selected_key == key
        await pilot.press("o")  # sort by host, ...
        assert table.selected_key == key
        # The container under the cursor leaves: the cursor takes the row at its place.
        table.update_containers([r for r in rows if r.key != key], NOW + 2)
        assert table.selected_key is not None and table.selected_key != key
        # Recreated under the same name (Compose: a new id): the cursor follows the name,
        # on the same host only.
        table.update_containers(rows, NOW + 3)
        table.select_key("h1/id-c5")
        recreated = summary("c5", cid="id-c5-new")
        elsewhere = summary("c5", host="h2", cid="id-c5-h2")
        rest = [r for r in rows if r.key != "h1/id-c5"]
        table.update_containers([elsewhere, *rest, recreated], NOW + 4)
        assert table.selected_key == "h1/id-c5-new"
        # ... also when the new one sorts elsewhere (unhealthy: problems come first).
        again = summary("c5", cid="id-c5-again", health="unhealthy")
        table.update_containers([elsewhere, *rest, again], NOW + 5)
        assert table.selected_key == "h1/id-c5-again"


async def test_sort_filter_and_stopped_toggle() -> None:
    table = ContainerTable()
    async with Harness(table).run_test(size=(160, 20)):
        rows = [
            summary("web", cpu=50.0),
            summary("db", cpu=150.0),
            summary("old", state="exited", exit_code=0),
            summary("crashed", state="exited", exit_code=137),
            summary("sick", health="unhealthy", cpu=0.5),
        ]
        table.update_containers(rows, NOW)
        # Default order: problems first.
        assert table.keys_in_order[:2] == ["h1/id-crashed", "h1/id-sick"]
        while table.sort_key != "cpu":
            table.action_cycle_sort()
        assert table.sort_descending
        assert table.keys_in_order[:3] == ["h1/id-db", "h1/id-web", "h1/id-sick"]
        table.action_reverse_sort()
        assert table.keys_in_order[0] == "h1/id-sick"
        table.set_filter("WE")
        assert table.keys_in_order == ["h1/id-web"]
        table.set_filter("")
        table.set_show_stopped(False)
        assert "h1/id-old" not in table.keys_in_order
        assert "h1/id-crashed" not in table.keys_in_order
        assert table.visible_count == 3 and table.total_count == 5


async def test_table_cells_and_cpu_header() -> None:
    table = ContainerTable()
    async with Harness(table).run_test(size=(200, 10)):
        table.update_containers(
            [
                summary("web", health="healthy", cpu=123.45, restarts=4),
                summary("x", state="exited", exit_code=3),
            ],
            NOW,
        )
        header = table.render_line(0).text
        assert "CPU%1c" in header and "mem used/limit" in header
        text = table.row_text("h1/id-web")
        assert "running healthy" in text and "123.5" in text and "10.0 MiB/100.0 MiB" in text
        assert "1m30s" in text and " 4 " in text
        assert "exited (3)" in table.row_text("h1/id-x")


async def test_hostile_names_images_are_inert_in_tables() -> None:
    table, services = ContainerTable(), ServiceTable()
    async with Harness(table, services).run_test(size=(200, 30)) as pilot:
        table.update_containers(
            [summary(h, cid=f"x{i}", image=h) for i, h in enumerate(HOSTILE)], NOW
        )
        services.update_services(
            [
                ServiceSummary("h1", f"s{i}", h, h, h, "replicated", 1, 2, "paused", h, NOW)
                for i, h in enumerate(HOSTILE)
            ],
            NOW,
        )
        await pilot.pause()
        for widget in (table, services):
            for y in range(len(HOSTILE) + 1):
                strip = widget.render_line(y)
                assert_inert(strip.text)
                assert all(s.style is None or s.style.link is None for s in strip)
        joined = "\n".join(table.render_line(y).text for y in range(len(HOSTILE) + 1))
        assert "[/]" in joined and "[link=http://x]y[/link]" in joined


async def test_service_table() -> None:
    services = ServiceTable()
    async with Harness(services).run_test(size=(200, 10)):
        services.update_services(
            [
                ServiceSummary(
                    "h1", "a", "api", "app:2", "app:1", "replicated", 1, 3, "updating", "", NOW - 5
                ),
                ServiceSummary(
                    "h1", "b", "agent", "app:1", None, "global", 2, None, None, "", None
                ),
            ],
            NOW,
        )
        text = services.row_text("h1/service/a")
        assert "1/3" in text and "app:2" in text and "app:1" in text and "updating" in text
        assert "2/global" in services.row_text("h1/service/b")
        assert services.keys_in_order[0] == "h1/service/a"  # short of replicas: first


async def test_summary_pane_counts_tops_and_stale_host() -> None:
    pane = ContainersSummaryPane(clock=lambda: NOW, id="p")
    async with Harness(pane).run_test(size=(160, 20)) as pilot:
        snapshot = snap(
            summary("busy", cpu=180.0, mem=90 << 20),
            summary("calm", cpu=2.0, mem=5 << 20),
            summary("sick", health="unhealthy", cpu=1.0),
            summary("loop", state="restarting", restarts=9),
            summary("dead", state="exited", exit_code=1),
            summary("fine", state="exited", exit_code=0),
            error_host="h2",
        )
        state = SourceState("docker").succeeded(snapshot, NOW, 0.1, 2.0)
        pane.update_state(state)
        await pilot.pause()
        text = pane.body_text().plain
        assert "6 containers on 2 hosts" in text
        assert "running 3" in text and "restarting 1" in text and "unhealthy 1" in text
        assert "exited≠0 1" in text
        cpu_line = next(line for line in text.splitlines() if line.startswith("top CPU"))
        assert cpu_line.index("busy") < cpu_line.index("calm") and "180.0%" in cpu_line
        assert "90.0 MiB (90% of limit)" in text
        assert "host h2: stale since" in text and "connection refused" in text
        # The source fails: the last data stays, dimmed, and the pane says why.
        failed = state.failed(Unreachable("engine down"), NOW + 5, 4.0, 0.1)
        pane.update_state(failed)
        await pilot.pause()
        assert pane.has_class("-stale")
        assert "busy" in pane.body_text().plain


async def test_summary_pane_hostile_names() -> None:
    pane = ContainersSummaryPane(clock=lambda: NOW)
    async with Harness(pane).run_test(size=(400, 20)) as pilot:
        snapshot = snap(*(summary(h, cid=f"x{i}", cpu=float(i)) for i, h in enumerate(HOSTILE)))
        pane.update_state(SourceState("docker").succeeded(snapshot, NOW, 0.1, 2.0))
        await pilot.pause()
        assert_inert(pane.body_text().plain)


def detail(**changes: object) -> ContainerDetail:
    base = ContainerDetail(
        host="h1",
        id="0123456789abcdef",
        name="web",
        image="opsc-test/app:1",
        image_id="sha256:1234",
        command="sleep 1d",
        entrypoint="",
        env_names=("PATH", "SECRET_TOKEN"),
        ports=("0.0.0.0:8080->80/tcp",),
        mounts=("volume data -> /data (rw)",),
        networks=("bridge 172.17.0.3",),
        labels={"team": "ops"},
        restart_policy="always",
        state="exited",
        health="unhealthy",
        health_log=(HealthProbe(NOW - 2, NOW - 1, 1, "boom"),),
        exit_code=137,
        oom_killed=True,
        error="",
        restart_count=3,
        created_at=NOW - 100,
        started_at=NOW - 50,
        finished_at=NOW - 1,
        memory_limit=64 << 20,
        cpu_limit=0.5,
    )
    return dataclasses.replace(base, **changes)


def test_detail_text_sections_and_hostile_values() -> None:
    text = detail_text(detail()).plain
    for part in ("0.0.0.0:8080->80/tcp", "volume data -> /data", "team=ops", "OOM-killed"):
        assert part in text
    assert "137" in text and "boom" in text and "SECRET_TOKEN" in text and "64.0 MiB" in text
    hostile = detail(
        name=HOSTILE[0],
        labels={h: h for h in HOSTILE},
        health_log=tuple(HealthProbe(NOW, NOW, 1, h) for h in HOSTILE),
        command=HOSTILE[1],
        error=HOSTILE[3],
    )
    rendered = detail_text(hostile)
    assert_inert(rendered.plain)
    assert not any(span.style and "link" in str(span.style) for span in rendered.spans)
    assert "[link=http://x]y[/link]" in rendered.plain


async def test_detail_view_mounts_and_shows_history() -> None:
    view = ContainerDetailView()
    async with Harness(view).run_test(size=(120, 60)) as pilot:
        view.show(detail(labels={h: h for h in HOSTILE}))
        view.show_history([1.0, 50.0, 20.0], [1e6, 2e6])
        await pilot.pause()
        assert "CPU % of one core 1.0–50.0%" in str(view.query_one(".-cpu").render())


@pytest.mark.parametrize("size", [(80, 24), (40, 10), (20, 5)])
async def test_narrow_terminals(size: tuple[int, int]) -> None:
    table, pane = ContainerTable(), ContainersSummaryPane(clock=lambda: NOW)
    async with Harness(table, pane).run_test(size=size) as pilot:
        rows = [summary(f"c{i}", cpu=float(i)) for i in range(30)]
        table.update_containers(rows, NOW)
        pane.update_state(SourceState("docker").succeeded(snap(*rows), NOW, 0.1, 2.0))
        await pilot.pause()
        header = table.render_line(0).text
        assert "name" in header or size[0] < 30
        assert len(header) == table.scrollable_content_region.width
        await pilot.resize_terminal(size[0] + 40, size[1] + 10)
        await pilot.pause()
        assert "name" in table.render_line(0).text
