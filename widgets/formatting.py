"""Pure formatting helpers shared by the widgets: durations, sizes, ages, percentages.

Every function takes raw numbers (seconds, bytes, ratios) and returns a short plain
string; `None` means "unknown" and formats as `NA` (an em dash) so a column never
shows "None". Nothing here touches Textual, so the helpers are trivially testable.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

NA = "—"

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def duration(seconds: float | None) -> str:
    """A compact human duration: "4.2s", "42s", "3m12s", "2h05m", "3d4h".

    The width stays at six characters or less below 100 days, so it fits a narrow column.
    Negative values (clock skew between the server and us) are shown as zero.
    """
    if seconds is None or math.isnan(seconds):
        return NA
    seconds = max(0.0, seconds)
    if seconds < 10:
        # Truncate rather than round so 9.99 s never shows as "10.0s" (seven characters).
        return f"{math.floor(seconds * 10) / 10:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m{secs:02d}s"
    if whole < 86400:
        hours, rest = divmod(whole, 3600)
        return f"{hours}h{rest // 60:02d}m"
    days, rest = divmod(whole, 86400)
    return f"{days}d{rest // 3600}h"


def seconds_short(seconds: float | None) -> str:
    """Seconds for prose: "2 s", "42 s", then `duration` above a minute ("3m12s")."""
    if seconds is None or math.isnan(seconds):
        return NA
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    return duration(seconds)


def ago(seconds: float | None) -> str:
    """Freshness phrase: "updated 2 s ago", "updated 3m12s ago"."""
    if seconds is None:
        return "not updated yet"
    return f"updated {seconds_short(seconds)} ago"


def age_of(moment: datetime | None, now: float) -> float | None:
    """Seconds from `moment` to `now` (a `time.time()` value); None when unknown.

    Naive datetimes are taken as local time, as `datetime.timestamp()` does.
    """
    if moment is None:
        return None
    return now - moment.timestamp()


def human_bytes(size: float | None) -> str:
    """Binary units with one decimal: "512 B", "1.2 GiB"."""
    if size is None:
        return NA
    value = float(size)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def percent(ratio: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as a percentage: 0.934 -> "93.4%"."""
    if ratio is None or math.isnan(ratio):
        return NA
    return f"{ratio * 100:.{digits}f}%"


def number(value: float | None, digits: int = 0) -> str:
    """Thousands separators so counts read at a glance: 1100 -> "1,100"."""
    if value is None or math.isnan(value):
        return NA
    return f"{value:,.{digits}f}"


def clock_time(epoch: float) -> str:
    """Local wall-clock time of day, "10:02:03", for "stale since ..." messages."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))
