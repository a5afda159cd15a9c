"""The pure rules of health: states, p95, flapping, JSON expectations, bounded decoding."""

from __future__ import annotations

import gzip
import time

from adapters.health.expect import (
    MISSING,
    check_json,
    decode_content,
    lookup,
    parse_json,
    status_ok,
    version_of,
)
from adapters.health.models import CertInfo, CheckResult, CheckSpec
from adapters.health.status import CheckTracker, Thresholds, judge, percentile

T = Thresholds()
SPEC = CheckSpec("api", "http://127.0.0.1:1/health")


def ok(at: float = 1000.0, latency: float = 0.01, cert: CertInfo | None = None) -> CheckResult:
    return CheckResult("api", at, True, latency, status_code=200, cert=cert)


def bad(at: float = 1000.0) -> CheckResult:
    return CheckResult(
        "api", at, False, 0.01, error_kind="status", error="HTTP 500", status_code=500
    )


def test_percentile_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_failures_degrade_then_go_down_after_critical_after() -> None:
    tracker = CheckTracker(SPEC, 5.0, T)
    assert tracker.status.state == "unknown"
    assert tracker.add(ok(1)).state == "up"
    first = tracker.add(bad(2))
    assert first.state == "degraded" and "failing (1/3)" in first.reason
    assert tracker.add(bad(3)).state == "degraded"
    down = tracker.add(bad(4))
    assert down.state == "down" and down.reason == "HTTP 500"
    assert down.consecutive_failures == 3
    assert tracker.add(ok(5)).state == "up"
    assert [c.state for c in tracker.status.changes] == ["up", "degraded", "down", "up"]


def test_latency_over_warn_is_degraded() -> None:
    state, reason = judge(ok(latency=2.5), 0, T)
    assert state == "degraded" and "slow" in reason
    assert judge(ok(latency=1.9), 0, T)[0] == "up"


def test_certificate_thresholds() -> None:
    now = 1_000_000.0
    day = 86400.0

    def with_days(days: float) -> str:
        return judge(ok(at=now, cert=CertInfo(not_after=now + days * day)), 0, T)[0]

    assert with_days(90) == "up"
    assert with_days(29) == "degraded"
    assert with_days(6.5) == "down"
    assert with_days(-1) == "down"
    assert judge(ok(at=now, cert=CertInfo(error="unknown")), 0, T)[0] == "up"


def test_flapping_needs_four_changes_among_recent_results() -> None:
    tracker = CheckTracker(SPEC, 5.0, T)
    t0 = time.time()
    tracker.add(ok(t0))
    results = [bad, ok, bad]
    for i, make in enumerate(results):
        tracker.add(make(t0 + 1 + i))
    assert not tracker.status.flapping  # three changes
    tracker.add(ok(t0 + 10))
    assert tracker.status.flapping  # the fourth
    # A long quiet run (past both windows) ends the flapping.
    for i in range(12):
        tracker.add(ok(t0 + 400 + i))
    assert not tracker.status.flapping


def test_latency_window_is_bounded_and_p95_follows_it() -> None:
    tracker = CheckTracker(SPEC, 1.0, T)
    for i in range(500):
        tracker.add(ok(at=float(i), latency=0.001 * (i % 100)))
    assert len(tracker.status.latencies) == 120
    assert tracker.status.p95 is not None and tracker.status.p95 >= 0.09
    # results that never got an answer add no latency sample
    tracker.add(CheckResult("api", 600.0, False, 1.0, error_kind="timeout", error="t"))
    assert tracker.status.latencies[-1] != 1.0


def test_insecure_mark_only_for_https_without_verification() -> None:
    assert CheckTracker(CheckSpec("a", "https://x/", verify=False), 1, T).status.insecure
    assert not CheckTracker(CheckSpec("a", "https://x/"), 1, T).status.insecure
    assert not CheckTracker(CheckSpec("a", "http://x/", verify=False), 1, T).status.insecure


def test_json_paths_and_expectations() -> None:
    doc = {"status": "healthy", "services": {"database": "connected"}, "n": 3, "items": [{"a": 1}]}
    assert lookup(doc, "services.database") == "connected"
    assert lookup(doc, "items.0.a") == 1
    assert lookup(doc, "services.nope") is MISSING
    assert check_json(doc, [("status", "healthy"), ("n", 3.0)]) == []
    problems = check_json(doc, [("services.database", "down"), ("missing", True)])
    assert problems == [
        'services.database is "connected", expected "down"',
        "missing missing, expected true",
    ]
    assert check_json({"ok": 1}, [("ok", True)])  # 1 is not true
    assert version_of(doc, "n") == "3"
    assert version_of(doc, "services") is None


def test_status_and_parse() -> None:
    assert status_ok(204, ()) and not status_ok(302, ()) and status_ok(503, (503,))
    assert parse_json(b"<html>")[1].startswith("body is not JSON")
    assert parse_json(b"\xff\xfe")[1].startswith("body is not UTF-8")
    assert parse_json(b"[" * 100_000)[1] is not None


def test_decoding_is_bounded_even_for_a_gzip_bomb() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    body, error = decode_content(bomb, "gzip", 64 * 1024)
    assert error is None and len(body) == 64 * 1024
    assert decode_content(b"abc", "br", 10) == (b"", "body is br-encoded: not decoded")
    assert decode_content(b"abc", None, 2) == (b"ab", None)


def test_layering_of_the_health_modules() -> None:
    """Screens and widgets paint without httpx; the adapter never loads Textual or Rich."""
    import json
    import subprocess
    import sys

    def loaded(imports: str) -> set[str]:
        code = f"import sys, json\nimport {imports}\nprint(json.dumps(sorted(sys.modules)))"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        return {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}

    ui = loaded("screens.health, widgets.health_summary, console.health_source")
    assert "httpx" not in ui
    adapter = loaded("adapters.health.checker, adapters.health.status")
    assert "textual" not in adapter and "rich" not in adapter
