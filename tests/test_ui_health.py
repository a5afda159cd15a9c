"""The Health screen and the dashboard pane through Pilot, against real local servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from console.app import OpsConsoleApp
from console.config import load_config
from screens.health import HealthScreen
from tests.health_servers import HangingServer, HttpServer, TlsSet, free_port
from tests.pg_situations import wait_until
from widgets.health_detail import HealthDetail
from widgets.health_summary import HealthSummaryPane
from widgets.health_table import HealthTable

pytest_plugins = ("tests.health_servers",)
pytestmark = pytest.mark.timeout(90)


def health_app(tmp_path: Path, checks: list[dict[str, Any]], **target: Any) -> OpsConsoleApp:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"t": {"health": checks, **target}},
            }
        )
    )
    return OpsConsoleApp(load_config(cfg), "t")


def status_of(app: OpsConsoleApp, name: str) -> Any:
    state = app.states.get("health")
    snapshot = state.snapshot if state is not None else None
    return snapshot.get(name) if snapshot is not None else None


async def settled(app: OpsConsoleApp, *names: str, timeout: float = 20) -> None:
    await wait_until(
        lambda: all((s := status_of(app, n)) is not None and s.results > 0 for n in names),
        timeout=timeout,
        what=f"results of {names}",
    )


async def test_health_screen_shows_states_detail_and_keeps_selection(
    tmp_path: Path, http_server: HttpServer, hanging_server: HangingServer
) -> None:
    checks = [
        {
            "name": "api",
            "url": http_server.url("/healthy"),
            "interval": 1,
            "expect_json": {"status": "healthy", "services.database": "connected"},
        },
        {"name": "broken", "url": http_server.url("/error"), "interval": 1, "critical_after": 1},
        {"name": "hang", "url": hanging_server.url(), "interval": 1, "timeout": 1},
        {
            "name": "db",
            "host": "127.0.0.1",
            "port": free_port(),
            "interval": 1,
            "critical_after": 1,
        },
    ]
    app = health_app(tmp_path, checks)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.screen.query_one(HealthSummaryPane)
        await settled(app, "api", "broken", "hang", "db")
        await wait_until(lambda: "down 2" in pane.body_text().plain, what="the dashboard pane")
        text = pane.body_text().plain
        assert "1.4.2" in text and "200" in text, text
        await pilot.press("5")
        await wait_until(lambda: isinstance(app.screen, HealthScreen), what="the Health screen")
        screen = app.screen
        table = screen.query_one(HealthTable)
        await wait_until(lambda: table.shown, what="rows")
        assert list(table.shown) == ["api", "broken", "hang", "db"]
        assert status_of(app, "api").state == "up"
        assert status_of(app, "broken").state == "down"
        assert status_of(app, "db").last.error_kind == "refused"
        await pilot.press("down")
        assert table.selected == "broken"
        detail = screen.query_one(HealthDetail)
        await wait_until(lambda: "HTTP 500" in detail.text().plain, what="the detail")
        # Refreshes come and go: the cursor stays on the same check.
        before = status_of(app, "broken").results
        await wait_until(lambda: status_of(app, "broken").results >= before + 2, what="refresh")
        await pilot.pause()
        assert table.selected == "broken"
        assert "State changes" in detail.text().plain
        await pilot.press("down")
        await wait_until(
            lambda: status_of(app, "hang").last is not None
            and status_of(app, "hang").last.error_kind == "timeout",
            what="the hang timeout",
        )
        await wait_until(lambda: "timeout" in detail.text().plain, what="hang detail")
        # No answer yet: no latency drawn (a flat sparkline reads as 0 ms), said instead.
        from textual.widgets import Sparkline, Static

        assert not detail.query_one(Sparkline).display
        label = detail.query_one(".health-detail-spark-label", Static).render()
        assert "no answers yet" in str(label)
        await pilot.press("up")
        await wait_until(lambda: detail.query_one(Sparkline).display, what="broken's latency")
    assert not app.internal_errors


def inert(text: str) -> bool:
    """No control character but newlines, no bidi override: safe to reach a terminal."""
    return not any(
        (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E
        for c in text
    )


async def test_certificate_details_insecure_mark_and_hostile_text_inert(
    tmp_path: Path, http_server: HttpServer, tls_set: TlsSet
) -> None:
    checks = [
        {"name": "soon", "url": tls_set.expiring.url(), "ca_bundle": str(tls_set.ca_file)},
        {"name": "lax", "url": tls_set.expired.url(), "verify": False},
        {"name": "wrong", "url": tls_set.wrong_host.url(), "ca_bundle": str(tls_set.ca_file)},
        {"name": "hostile", "url": http_server.url("/hostile")},
        {"name": "raw", "url": http_server.url("/hostile-raw")},
    ]
    app = health_app(tmp_path, checks)
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(app, "soon", "lax", "wrong", "hostile", "raw")
        pane = app.screen.query_one(HealthSummaryPane)
        await wait_until(lambda: "INSECURE" in pane.body_text().plain, what="the insecure mark")
        assert inert(pane.body_text().plain)
        assert status_of(app, "soon").state == "down"  # 5 days < cert_critical_days (7)
        assert status_of(app, "wrong").last.error_kind == "tls-hostname"
        await pilot.press("5")
        await wait_until(lambda: isinstance(app.screen, HealthScreen), what="the Health screen")
        table = app.screen.query_one(HealthTable)
        detail = app.screen.query_one(HealthDetail)
        await wait_until(lambda: table.selected == "soon", what="the first row selected")
        await wait_until(lambda: "Certificate" in detail.text().plain, what="cert detail")
        text = detail.text().plain
        assert "subject" in text and "Testing CA" in text and "(4d)" in text, text
        assert "certificate expires in 4.9 days" in text
        await pilot.press("down")
        await wait_until(lambda: "INSECURE" in detail.text().plain, what="insecure detail")
        assert "EXPIRED" in detail.text().plain
        await pilot.press("down")
        await wait_until(lambda: "tls-hostname" in detail.text().plain, what="wrong host")
        for name in ("hostile", "raw"):
            await pilot.press("down")
            await wait_until(lambda n=name: table.selected == n, what=name)
            await wait_until(lambda: "x-hostile" in detail.text().plain, what="headers")
            text = detail.text().plain
            assert inert(text), repr(text)
            assert "␛[2J" in text and "[red]markup[/]" in text  # visible, not interpreted
        await pilot.press("b")  # headers and body hidden, on demand
        assert "x-hostile" not in detail.text().plain
    assert not app.internal_errors


async def test_flapping_and_problems_only(tmp_path: Path, http_server: HttpServer) -> None:
    checks = [
        {"name": "api", "url": http_server.url("/healthy"), "interval": 1},
        {"name": "flappy", "url": http_server.url("/flap"), "interval": 1},
        {"name": "slow", "url": http_server.url("/slow?ms=300"), "latency_warn_ms": 100},
    ]
    app = health_app(tmp_path, checks, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await wait_until(
            lambda: status_of(app, "flappy") is not None and status_of(app, "flappy").flapping,
            timeout=30,
            what="flapping",
        )
        await wait_until(lambda: status_of(app, "slow").state == "degraded", what="slow")
        assert "slow: " in status_of(app, "slow").reason
        screen = app.screen
        table = screen.query_one(HealthTable)
        status = screen.query_one("#health-status")
        await wait_until(lambda: "flapping" in str(status.render()), what="status line")
        await pilot.press("down")
        assert table.selected == "flappy"
        await pilot.press("p")
        assert "api" not in table.shown and table.selected == "flappy"
        detail = screen.query_one(HealthDetail)
        await wait_until(lambda: "FLAPPING" in detail.text().plain, what="flapping detail")
        await pilot.press("p")
        assert list(table.shown) == ["api", "flappy", "slow"]
    assert not app.internal_errors
