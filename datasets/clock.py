"""Time axis of a generated data set: the day/night cycle and timestamp text.

Times are whole seconds counted from ``start`` 00:00:00 UTC. Session starts
follow :data:`HOURLY_WEIGHT` (UTC; REES46 is a Russian store, UTC+3, busiest
in the evening there), and :meth:`Clock.stamp` formats a second as
``YYYY-MM-DD HH:MM:SS UTC`` from precomputed tables.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right

# relative session arrival rate for each UTC hour 0..23 (mean 1.0 after normalising)
HOURLY_WEIGHT = (
    0.30, 0.18, 0.12, 0.12, 0.20, 0.40, 0.65, 0.90, 1.05, 1.15, 1.20, 1.25,
    1.30, 1.35, 1.45, 1.55, 1.65, 1.70, 1.60, 1.40, 1.10, 0.80, 0.55, 0.40,
)

HMS = tuple(f"{h:02d}:{m:02d}:{s:02d} UTC" for h in range(24) for m in range(60) for s in range(60))


class Clock:
    """``days`` days from ``start``: inverse cumulative arrival rate and timestamp text."""

    def __init__(self, start: dt.date, days: int) -> None:
        if days < 1:
            raise ValueError("days must be at least 1")
        self.start = start
        self.days = days
        self.seconds = days * 86400
        self.epoch = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp())
        self.day_prefix = [(start + dt.timedelta(days=d)).isoformat() + " " for d in range(days)]
        cum = [0.0]
        for h in range(days * 24):
            cum.append(cum[-1] + HOURLY_WEIGHT[h % 24])
        self._cum = cum

    def at(self, u: float) -> int:
        """Second whose share of the cumulative arrival rate is ``u`` in [0, 1)."""
        cum = self._cum
        x = u * cum[-1]
        h = bisect_right(cum, x, 0, len(cum) - 1) - 1
        sec = int((h + (x - cum[h]) / (cum[h + 1] - cum[h])) * 3600.0)
        return min(sec, self.seconds - 1)

    def stamp(self, second: int) -> str:
        """``YYYY-MM-DD HH:MM:SS UTC`` for a second in the span."""
        return self.day_prefix[second // 86400] + HMS[second % 86400]
