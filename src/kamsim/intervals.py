"""Confidence intervals of a mean over replications, and how many replications a precision needs.

Pure statistics on arrays of per-replication values (numpy only; no registry, no tables):
:mod:`kamsim.analysis` applies them to KPI tables. Three rules:

- **Student t.** The interval of the mean of ``n`` independent replications is
  ``mean +/- t(1 - alpha/2, n - 1) x sd / sqrt(n)``. The t quantile comes from
  ``scipy.special.stdtrit`` (the function behind ``scipy.stats.t.ppf``), imported on the first
  interval computed, so importing this module (or :mod:`kamsim.analysis`) costs no scipy.
- **At least** :data:`MIN_REPLICATIONS` **values.** With two values the standard deviation
  rests on one degree of freedom: t(0.975, 1) = 12.7, the expected half-width is 7.2 standard
  deviations (2.2 with three values, 1.2 with five), and the interval holds only as far as
  the values are normal, which two values cannot show. Such an interval is wider than the
  range of any bounded KPI and says nothing; it is reported as missing instead.
- **Bounds by clipping.** A quantity that lies in [low, high] in every replication has its
  mean there too, so the interval intersected with [low, high] contains the true mean
  whenever the t interval does: clipping keeps the t interval's coverage exactly and only
  removes values that are impossible; the mean lies in the range, so the clipped interval is
  never empty. Clipping does not mend the t interval's own shortfall on skewed values with
  few replications, and a transformed interval would not either: the logit of the mean for
  shares, or its log for amounts (delta method), stays inside the bounds too, but it is
  undefined when the mean sits on a bound (a share that is 0 in every replication, a pool
  never used), which is where bounds matter, and it moves the interval's interior. In a
  simulation check (Poisson counts, binomial shares near 0 and 1, lognormal amounts; 3, 5
  and 10 replications) it covered no better than the t interval, worse for a share near 0
  with three replications (0.93 against 0.95), except for heavily skewed amounts
  (coefficient of variation 1 or more: 0.91 against 0.87 with five replications), which a
  KPI summed over many deals is not. :class:`Estimate` records which end was clipped, so a
  report can say so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

MIN_REPLICATIONS: Final = 3
"""The fewest values an interval is computed from (see the module's docstring)."""
TOO_FEW: Final = "too few replications for an interval"
"""The note of an estimate from fewer than :data:`MIN_REPLICATIONS` values."""
ALL_EQUAL: Final = "all replications equal"
"""The start of the note of values that do not vary (to 12 significant digits)."""


def _all_equal(x: np.ndarray[Any, Any]) -> bool:
    """Whether the values agree to 12 significant digits (sums of the same terms in another
    order can differ in the last bits)."""
    return bool(np.ptp(x) <= 1e-12 * np.abs(x).max())


def check_level(level: object, name: str = "level") -> float:
    """``level`` as a float strictly between 0 and 1, or ValueError naming ``name``."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"{name}: expected a confidence level between 0 and 1, got {level!r}")
    return float(level)


def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom.

    Identical to ``scipy.stats.t.ppf(probability, df)``; scipy is imported here, on first use,
    because ``scipy.stats`` takes most of a second to import and ``scipy.special`` a fraction.
    """
    from scipy.special import stdtrit  # lazy on purpose, see the docstring

    return float(stdtrit(df, probability))


def values_of(values: Iterable[float] | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The values as a float array without its missing (NaN) entries."""
    x = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values: expected one value per replication, got shape {x.shape}")
    kept: np.ndarray[Any, Any] = x[~np.isnan(x)]
    return kept


def t_half_width(values: Iterable[float] | np.ndarray[Any, Any], level: float = 0.95) -> float:
    """Half-width of the ``level`` t interval of the mean (NaN with fewer than 2 values).

    The plain formula, without the :data:`MIN_REPLICATIONS` rule of :func:`estimate`.
    """
    x = values_of(values)
    level = check_level(level)
    if len(x) < 2:
        return math.nan
    t = t_quantile(0.5 + level / 2, len(x) - 1)
    return t * float(x.std(ddof=1)) / math.sqrt(len(x))


@dataclass(frozen=True)
class Bounds:
    """The range [low, high] that every replication's value lies in (infinite: no bound)."""

    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"bounds: low {self.low} must be below high {self.high}")

    def difference(self) -> Bounds:
        """The range of a difference of two such values: +/- the width of this range."""
        width = self.high - self.low
        return Bounds(-width, width)

    def contains(self, x: np.ndarray[Any, Any]) -> bool:
        """Whether every value of ``x`` lies in the range."""
        return bool(((x >= self.low) & (x <= self.high)).all())


UNBOUNDED: Final = Bounds()
"""No bound on either side."""


@dataclass(frozen=True)
class Estimate:
    """The mean of per-replication values with its interval and the values' spread.

    ``sd`` and ``p10``/``p50``/``p90`` describe the spread across replications (the risk: how
    much one future differs from another); ``half_width``, ``low`` and ``high`` the
    estimation error of the mean (shrinking as replications are added). ``half_width`` is the
    t interval's; ``low`` and ``high`` are ``mean -/+ half_width`` clipped to the bounds
    (``clipped_low``/``clipped_high`` say which end was). The interval is NaN with fewer
    than :data:`MIN_REPLICATIONS` values, and ``note`` says why (empty when nothing needs
    saying).
    """

    n: int
    mean: float
    sd: float
    half_width: float
    low: float
    high: float
    p10: float
    p50: float
    p90: float
    level: float
    clipped_low: bool = False
    clipped_high: bool = False
    outside_bounds: bool = False
    note: str = ""


def estimate(
    values: Iterable[float] | np.ndarray[Any, Any],
    level: float = 0.95,
    bounds: Bounds = UNBOUNDED,
) -> Estimate:
    """The mean of ``values`` (one per replication; NaN entries left out) with its ``level``
    t interval clipped to ``bounds``, the standard deviation and the 10th, 50th and 90th
    percentiles (numpy's default, linear between order statistics).

    Values outside ``bounds`` (a wrong bound, or a KPI out of its range) leave the interval
    unclipped and set ``outside_bounds``.
    """
    x = values_of(values)
    level = check_level(level)
    n = len(x)
    nan = math.nan
    if n == 0:
        return Estimate(0, nan, nan, nan, nan, nan, nan, nan, nan, level, note="no values")
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n >= 2 else nan
    p10, p50, p90 = (float(q) for q in np.percentile(x, [10, 50, 90]))
    spread = Estimate(n, mean, sd, nan, nan, nan, p10, p50, p90, level)
    if n < MIN_REPLICATIONS:
        return replace(spread, note=TOO_FEW)
    hw = t_half_width(x, level)
    low, high = mean - hw, mean + hw
    if not bounds.contains(x):
        return replace(spread, half_width=hw, low=low, high=high, outside_bounds=True)
    return replace(
        spread,
        half_width=hw,
        low=max(low, bounds.low),
        high=min(high, bounds.high),
        clipped_low=low < bounds.low,
        clipped_high=high > bounds.high,
        note=f"{ALL_EQUAL}: the interval has no width" if _all_equal(x) else "",
    )


def bonferroni(level: float, comparisons: int) -> float:
    """The level of each of ``comparisons`` intervals that hold together at ``level`` at least
    (Bonferroni: each interval's miss rate is the family's divided by the comparisons)."""
    level = check_level(level)
    if isinstance(comparisons, bool) or not isinstance(comparisons, int) or comparisons < 1:
        raise ValueError(f"comparisons: expected a whole number >= 1, got {comparisons!r}")
    return 1.0 - (1.0 - level) / comparisons


# -- sequential precision ------------------------------------------------------------------------


@dataclass(frozen=True)
class Precision:
    """Whether the mean of the values so far is as precise as asked, and if not, about how
    many replications it needs.

    ``relative_half_width`` is ``half_width / |mean|`` (0 when every value is equal, infinite
    when the mean is 0 but the values vary). ``total`` is the estimated number of replications
    in all (at least ``n``) and ``additional`` = ``total - n``; both are ``None`` when no
    estimate is possible (a mean of 0 with varying values: a relative precision of a zero
    mean is undefined).
    """

    n: int
    mean: float
    half_width: float
    relative_half_width: float
    target: float
    level: float
    met: bool
    total: int | None
    additional: int | None
    note: str = ""


def _half_width_factor(n: int, probability: float) -> float:
    """t(probability, n - 1) / sqrt(n): the half-width of n values per unit of their sd."""
    return t_quantile(probability, n - 1) / math.sqrt(n)


def needed(
    values: Iterable[float] | np.ndarray[Any, Any],
    target_relative_half_width: float,
    level: float = 0.95,
) -> Precision:
    """Whether the ``level`` interval of the mean of ``values`` (one per replication, NaN left
    out) has a half-width of at most ``target_relative_half_width`` x |mean|, and the
    replications it needs in all if not.

    The estimate is the smallest N >= n with t(N - 1) x sd / sqrt(N) <= target x |mean|,
    taking the mean and sd of the values so far as the truth (the usual sequential rule: add
    a batch, look again; the estimate firms up as n grows). With fewer than
    :data:`MIN_REPLICATIONS` values the target is not met and ``total`` is
    :data:`MIN_REPLICATIONS`, the pilot needed before anything can be estimated. A relative
    half-width of r bounds the relative error of the mean by r / (1 - r) at ``level``.
    """
    x = values_of(values)
    level = check_level(level)
    target = target_relative_half_width
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target < 1:
        raise ValueError(
            "target_relative_half_width: expected a fraction of the mean between 0 and 1 "
            f"(0.05 for +/- 5%), got {target!r}"
        )
    target = float(target)
    n = len(x)
    if n < MIN_REPLICATIONS:
        mean = float(x.mean()) if n else math.nan
        pilot = MIN_REPLICATIONS
        return Precision(
            n, mean, math.nan, math.nan, target, level, False, pilot, pilot - n, TOO_FEW
        )
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    probability = 0.5 + level / 2
    hw = sd * _half_width_factor(n, probability)
    if _all_equal(x):
        note = f"{ALL_EQUAL}: no error to estimate"
        return Precision(n, mean, hw, 0.0, target, level, True, n, 0, note)
    if mean == 0:
        note = "the mean is 0: a relative half-width is undefined"
        return Precision(n, mean, hw, math.inf, target, level, False, None, None, note)
    relative = hw / abs(mean)
    if relative <= target:
        return Precision(n, mean, hw, relative, target, level, True, n, 0)
    allowed = target * abs(mean) / sd  # the largest t(N - 1) / sqrt(N) that meets the target
    low, high = n, 2 * n  # factor(low) > allowed; double high until factor(high) <= allowed
    while _half_width_factor(high, probability) > allowed:
        low, high = high, 2 * high
    while high - low > 1:  # the factor falls as N grows: bisect for the first N that meets it
        middle = (low + high) // 2
        if _half_width_factor(middle, probability) <= allowed:
            high = middle
        else:
            low = middle
    return Precision(n, mean, hw, relative, target, level, False, high, high - n)
