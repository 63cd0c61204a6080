"""Period ends: closes speed up (and get discounted) in the last days of a month, quarter or
year; customers' acceptance pace varies by calendar month (Q4 bunching); a stage's work may go
at its own pace in each month of the calendar quarter (``Stage.month_of_quarter``).

Both are a time warp: work of ``w`` days started at ``t0`` ends at the ``t`` where the integral
of the pace from ``t0`` to ``t`` equals ``w``, the pace being piecewise constant over the
calendar (:class:`Warp`). A pace above 1 inside the window pulls ends into it, which is how
closes bunch at period ends without changing the pre-drawn luck of any deal. Model months are
365/12 days; calendar month m of the run is ``(start_month - 1 + m) % 12``.

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


class Warp:
    """A piecewise-constant pace over the calendar: ``base[calendar month]`` until the last
    ``window`` days of each month, ``inside[calendar month]`` within them.

    Built once per scenario; ``at`` walks it (see the module docstring for why it is
    bounded). ``warps`` is False when every pace is 1, so callers can skip the walk.
    """

    __slots__ = ("_base", "_inside", "_start_month", "_year", "warps", "window")

    def __init__(
        self, start_month: int, base: list[float], inside: list[float], window: float
    ) -> None:
        self._start_month = start_month - 1
        self._base = base
        self._inside = inside
        self.window = window
        self.warps = any(p != 1.0 for p in base) or (window > 0 and any(p != 1.0 for p in inside))
        self._year = _year_work(base, inside, window)

    def month(self, t: float) -> tuple[int, int]:
        """Model month of ``t`` and its calendar month (0 = January)."""
        m = int(t // M)
        if (m + 1) * M <= t:  # rounding at a month boundary: never loop without progress
            m += 1
        return m, (self._start_month + m) % 12

    def at(self, t0: float, work: float) -> float:
        """When work of ``work`` days at pace 1, started at ``t0``, ends under this pace.

        Each step either returns or moves ``t`` to a later month boundary; the first boundary
        reached skips the whole years the work still fills, so at most a year is left to walk.
        Where ``t`` is so large that a month boundary no longer exceeds it in floating point
        (far beyond any validated calendar), the rest of the work is done at pace 1.
        """
        if not self.warps:
            return t0 + work
        t, left, year = t0, work, self._year
        while True:
            m, cal = self.month(t)
            end = (m + 1) * M
            if not end > t:  # no later month boundary is representable: cannot advance
                return t + left
            start = end - self.window
            if t < start:
                b = self._base[cal]
                if left <= b * (start - t):
                    return t + left / b
                left -= b * (start - t)
                t = start
            p = self._inside[cal]
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


class PeriodClock:
    """Calendar-aware pace of closing and acceptance, and of stages paced by month of
    quarter."""

    __slots__ = (
        "_accept",
        "_close",
        "_close_pace",
        "_discount",
        "_start",
        "warps_accept",
        "warps_close",
        "window",
    )

    def __init__(self, spec: PeriodEnd, start_month: int) -> None:
        self._start = start_month
        self.window = spec.window_days
        # Pace and discount in the closing window of each calendar month (0 = January).
        close = [spec.month.intensity] * 12
        self._discount = [spec.month.discount] * 12
        for m in (2, 5, 8, 11):
            close[m], self._discount[m] = spec.quarter.intensity, spec.quarter.discount
        close[11], self._discount[11] = spec.year.intensity, spec.year.discount
        self._close_pace = close
        self._close = Warp(start_month, [1.0] * 12, close, self.window)
        self._accept = Warp(start_month, [1.0] * 12, list(spec.acceptance_pace), M)
        self.warps_close = self._close.warps
        self.warps_accept = self._accept.warps

    def close_at(self, t0: float, work: float) -> float:
        """When closing work of ``work`` days started at ``t0`` ends."""
        return self._close.at(t0, work)

    def accept_at(self, t0: float, work: float) -> float:
        """When acceptance taking ``work`` days at normal pace, started at ``t0``, happens."""
        return self._accept.at(t0, work)

    def stage_warp(self, pace: list[float], closing: bool) -> Warp:
        """The warp of a stage whose work goes at ``pace[month of quarter]`` (whole months);
        ``closing`` (negotiation): the closing windows' pace multiplies it there, so a
        quarter-end rush and the period-end push compose."""
        base = [pace[m % 3] for m in range(12)]
        if not closing or self.window <= 0:
            return Warp(self._start, base, base, M)
        inside = [b * c for b, c in zip(base, self._close_pace, strict=True)]
        return Warp(self._start, base, inside, self.window)

    def month_of_quarter(self, t: float) -> int:
        """Month of the calendar quarter of ``t``: 0, 1 or 2."""
        return self._close.month(t)[1] % 3

    def discount_at(self, t: float) -> float:
        """Extra discount for a close at ``t`` (zero outside closing windows)."""
        if self.window <= 0:
            return 0.0
        m, cal = self._close.month(t)
        return self._discount[cal] if t >= (m + 1) * M - self.window else 0.0


def _year_work(base: list[float], inside: list[float], window: float) -> float:
    """Work a calendar year absorbs, walked from any month boundary: per month, ``base`` before
    the last ``window`` days and ``inside`` within them (positive, as validated paces are)."""
    w = min(window, M)
    return sum((M - w) * b + w * p for b, p in zip(base, inside, strict=True))
