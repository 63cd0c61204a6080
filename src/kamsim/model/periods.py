"""Period ends: closes speed up (and get discounted) in the last days of a month, quarter or
year; customers' acceptance pace varies by calendar month (Q4 bunching).

Both are a time warp: work of ``w`` days started at ``t0`` ends at the ``t`` where the integral
of the pace from ``t0`` to ``t`` equals ``w``, the pace being piecewise constant over the
calendar. A pace above 1 inside the window pulls ends into it, which is how closes bunch at
period ends without changing the pre-drawn luck of any deal. Model months are 365/12 days;
calendar month m of the run is ``(start_month - 1 + m) % 12``.

The walk is bounded whatever the work: once it reaches a month boundary, whole calendar years
are skipped in one step (a year holds each calendar month once, so the work it can absorb is
the same from any month boundary), which leaves less than a year to walk month by month. A
call therefore takes at most about fifteen steps, for 1e9 days of work as for 1e300.
"""

from __future__ import annotations

import math

from kamsim.mechanisms import PeriodEnd
from kamsim.vocabulary import DAYS_PER_MONTH

M = DAYS_PER_MONTH


class PeriodClock:
    """Calendar-aware pace of closing and acceptance."""

    __slots__ = (
        "_accept",
        "_accept_year",
        "_close",
        "_close_year",
        "_discount",
        "_start_month",
        "warps_accept",
        "warps_close",
        "window",
    )

    def __init__(self, spec: PeriodEnd, start_month: int) -> None:
        self._start_month = start_month - 1
        self.window = spec.window_days
        # Pace and discount in the closing window of each calendar month (0 = January).
        self._close = [spec.month.intensity] * 12
        self._discount = [spec.month.discount] * 12
        for m in (2, 5, 8, 11):
            self._close[m], self._discount[m] = spec.quarter.intensity, spec.quarter.discount
        self._close[11], self._discount[11] = spec.year.intensity, spec.year.discount
        self._accept = list(spec.acceptance_pace)
        self.warps_close = self.window > 0 and any(p != 1.0 for p in self._close)
        self.warps_accept = any(p != 1.0 for p in self._accept)
        self._close_year = _year_work(self._close, self.window)
        self._accept_year = _year_work(self._accept, M)

    def _month(self, t: float) -> tuple[int, int]:
        m = int(t // M)
        if (m + 1) * M <= t:  # rounding at a month boundary: never loop without progress
            m += 1
        return m, (self._start_month + m) % 12

    def close_at(self, t0: float, work: float) -> float:
        """When closing work of ``work`` days started at ``t0`` ends."""
        if not self.warps_close:
            return t0 + work
        return self._finish(t0, work, self._close, self.window, self._close_year)

    def accept_at(self, t0: float, work: float) -> float:
        """When acceptance taking ``work`` days at normal pace, started at ``t0``, happens."""
        if not self.warps_accept:
            return t0 + work
        return self._finish(t0, work, self._accept, M, self._accept_year)

    def _finish(
        self, t0: float, work: float, pace: list[float], window: float, year: float
    ) -> float:
        """Walk the calendar from ``t0``: pace 1 until the last ``window`` days of each month,
        ``pace[calendar month]`` inside them, until ``work`` is done. ``year`` is the work a
        calendar year absorbs (see ``_year_work``).

        Each step either returns or moves ``t`` to a later month boundary; the first boundary
        reached skips the whole years the work still fills, so at most a year is left to walk.
        Where ``t`` is so large that a month boundary no longer exceeds it in floating point
        (far beyond any validated calendar), the rest of the work is done at pace 1.
        """
        t, left = t0, work
        while True:
            m, cal = self._month(t)
            end = (m + 1) * M
            if not end > t:  # no later month boundary is representable: cannot advance
                return t + left
            start = end - window
            if t < start:
                if left <= start - t:
                    return t + left
                left -= start - t
                t = start
            p = pace[cal]
            if left <= p * (end - t):
                return t + left / p
            left -= p * (end - t)
            t = end
            if not left <= year:  # at a month boundary: whole years in one step
                if not (left < math.inf and year > 0):  # inf or NaN work, or no pace at all
                    return math.inf if left > 0 else t0 + work
                years, left = divmod(left, year)
                t += years * (12 * M)
                if not t < math.inf:
                    return t

    def discount_at(self, t: float) -> float:
        """Extra discount for a close at ``t`` (zero outside closing windows)."""
        if self.window <= 0:
            return 0.0
        m, cal = self._month(t)
        return self._discount[cal] if t >= (m + 1) * M - self.window else 0.0


def _year_work(pace: list[float], window: float) -> float:
    """Work a calendar year absorbs, walked from any month boundary: per month, pace 1 before
    the last ``window`` days and the month's pace inside them (positive, as validated paces
    are)."""
    inside = min(window, M)
    return sum(M - inside + p * inside for p in pace)
