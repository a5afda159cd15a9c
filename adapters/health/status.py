"""The pure logic of health: a check's state from its results, p95 latency, flapping.

No I/O and no clock of its own: every function takes the times it needs, so the rules
are tested with plain values.

States:
- unknown: no result yet;
- up: answered as expected, fast enough, certificate not close to expiry;
- degraded: answered but slower than `latency_warn_ms`, or a certificate expiring within
  `cert_warn_days`, or failing for fewer than `critical_after` checks in a row;
- down: `critical_after` failures in a row, or a certificate expired or expiring within
  `cert_critical_days`.

Flapping: at least `flap_changes` state changes among the last `flap_results` results,
or within the last `flap_seconds`. It is a mark on top of the state, not a state.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from adapters.health.models import CheckResult, CheckSpec, CheckStatus, State, StateChange

LATENCY_SAMPLES = 120  # the sparkline and p95 window (10 min at a 5 s interval)
CHANGE_HISTORY = 50


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a check is degraded or down; defaults from common runbooks."""

    latency_warn_ms: float = 2000.0
    critical_after: int = 3
    cert_warn_days: float = 30.0
    cert_critical_days: float = 7.0
    flap_changes: int = 4
    flap_results: int = 10
    flap_seconds: float = 300.0


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile (`pct` in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def judge(result: CheckResult, failures: int, t: Thresholds) -> tuple[State, str]:
    """The state after `result`, given `failures` consecutive failures including it."""
    if not result.ok:
        why = result.error or result.error_kind or "failed"
        if failures >= t.critical_after:
            return "down", why
        return "degraded", f"failing ({failures}/{t.critical_after}): {why}"
    days = result.cert.days_left(result.at) if result.cert is not None else None
    if days is not None:
        if days < 0:
            return "down", "certificate expired"
        if days < t.cert_critical_days:
            return "down", f"certificate expires in {math.floor(days * 10) / 10:.1f} days"
    problems: list[str] = []
    if days is not None and days < t.cert_warn_days:
        problems.append(f"certificate expires in {days:.0f} days")
    if result.latency is not None and result.latency * 1000.0 > t.latency_warn_ms:
        problems.append(f"slow: {result.latency * 1000.0:,.0f} ms > {t.latency_warn_ms:,.0f} ms")
    if problems:
        return "degraded", "; ".join(problems)
    return "up", "ok"


def is_flapping(
    changes: Sequence[StateChange],
    change_results: Sequence[int],
    results: int,
    now: float,
    t: Thresholds,
) -> bool:
    """Whether the state changed at least `flap_changes` times recently.

    `change_results[i]` is the result number (1-based) that caused `changes[i]`; the
    first state a check ever takes (out of unknown) is not a change.
    """
    recent = 0
    for change, number in zip(changes, change_results, strict=True):
        if number > results - t.flap_results or change.at >= now - t.flap_seconds:
            recent += 1
    return recent >= t.flap_changes


class CheckTracker:
    """Folds one check's results into its `CheckStatus` (rebuilt only when one arrives)."""

    def __init__(self, spec: CheckSpec, interval: float, thresholds: Thresholds) -> None:
        self.spec = spec
        self.thresholds = thresholds
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._changes: deque[StateChange] = deque(maxlen=CHANGE_HISTORY)
        self._change_results: deque[int] = deque(maxlen=CHANGE_HISTORY)
        self._failures = 0
        self._results = 0
        self.status = CheckStatus(
            name=spec.name,
            kind=spec.kind,
            target=spec.target,
            insecure=spec.kind == "http"
            and spec.url is not None
            and spec.url.lower().startswith("https:")
            and not spec.verify,
            interval=interval,
        )

    def add(self, result: CheckResult) -> CheckStatus:
        """Take a new result; returns (and keeps) the new status."""
        t = self.thresholds
        self._results += 1
        self._failures = 0 if result.ok else self._failures + 1
        if result.answered and result.latency is not None:
            self._latencies.append(result.latency)
        state, reason = judge(result, self._failures, t)
        previous = self.status.state
        if state != previous:
            entry = StateChange(result.at, state, reason)
            self._changes.append(entry)
            # Leaving "unknown" is where the history starts, not a change of mind.
            self._change_results.append(-(10**9) if previous == "unknown" else self._results)
        flapping = is_flapping(
            [c for c, n in zip(self._changes, self._change_results, strict=True) if n > 0],
            [n for n in self._change_results if n > 0],
            self._results,
            result.at,
            t,
        )
        latencies = tuple(self._latencies)
        self.status = replace(
            self.status,
            state=state,
            reason=reason,
            flapping=flapping,
            consecutive_failures=self._failures,
            last=result,
            latencies=latencies,
            p95=percentile(latencies, 95),
            changes=tuple(self._changes),
            results=self._results,
            running=False,
        )
        return self.status

    def set_running(self, running: bool) -> CheckStatus:
        if self.status.running != running:
            self.status = replace(self.status, running=running)
        return self.status
