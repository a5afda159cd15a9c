"""Arming of write actions on a production target: explicit, with a reason, time-limited.

A target marked `production: true` starts disarmed. `W` arms it for a limited time after
the operator types a reason; when the time runs out it is disarmed again and the app
audits that once (`expired`). Targets that are not production need no arming and are
always armed.

Pure state: no I/O and no clock of its own. Every method that depends on time takes
`now` (wall-clock seconds, the same clock as the audit timestamps), so tests and the
app decide what time it is.
"""

from __future__ import annotations

from dataclasses import dataclass

#: An upper bound on one arming, so a typo ("150" for "15") cannot arm for days.
MAX_ARM_MINUTES = 24 * 60


@dataclass(slots=True)
class ArmState:
    """Whether write actions are armed on the current target, and until when."""

    production: bool
    armed_until: float | None = None  # wall-clock end of the current arming, if any
    reason: str | None = None  # the operator's reason for the current arming
    armed_at: float | None = None

    @property
    def needed(self) -> bool:
        """True when write actions on this target need arming (production targets)."""
        return self.production

    def arm(self, reason: str, minutes: float, now: float) -> None:
        """Arm write actions for `minutes` from `now`, for the given (non-empty) reason."""
        reason = reason.strip()
        if not reason:
            raise ValueError("a reason is required to arm write actions")
        if not 0 < minutes <= MAX_ARM_MINUTES:
            raise ValueError(f"arming time must be between 0 and {MAX_ARM_MINUTES} minutes")
        self.armed_at = now
        self.armed_until = now + minutes * 60.0
        self.reason = reason

    def disarm(self) -> None:
        """Disarm now (the operator's choice, or a target switch)."""
        self.armed_until = None
        self.reason = None
        self.armed_at = None

    def is_armed(self, now: float) -> bool:
        """Whether a write action may run at `now` (always, on a non-production target)."""
        if not self.production:
            return True
        return self.armed_until is not None and now < self.armed_until

    def remaining(self, now: float) -> float | None:
        """Seconds of arming left at `now`; None when not armed or arming is not needed."""
        if not self.production or self.armed_until is None or now >= self.armed_until:
            return None
        return self.armed_until - now

    def expired(self, now: float) -> bool:
        """True exactly once after an arming ran out, so the expiry is audited once.

        Reporting the expiry clears the arming (the reason is no longer in force).
        An explicit `disarm` before the end is not an expiry.
        """
        if self.armed_until is None or now < self.armed_until:
            return False
        self.disarm()
        return True
