"""A run read against ``kamsim check``: each pool's simulated utilisation and queue beside the
analytic figures, and a test for queues that are still growing.

Monthly figures of one replication are autocorrelated, so neither test treats months as
independent observations: each replication gives one number (its mean over the months after
warm-up, or its OLS slope over the last third of the horizon), and intervals and t-tests are
taken over replications, which are independent.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import pandas as pd

from kamsim.analytic import Check
from kamsim.intervals import Bounds, estimate
from kamsim.scenario import Scenario
from kamsim.vocabulary import POOLS


class Run(Protocol):
    """What these tests read of a run: its scenario and monthly series (a
    :class:`kamsim.Result`, or one variant of an experiment)."""

    @property
    def scenario(self) -> Scenario: ...

    @property
    def timeseries(self) -> pd.DataFrame: ...


ALPHA = 0.05
"""Family-wise error rate of the trend test (Bonferroni over the pools tested)."""
MIN_TREND_MONTHS = 3
"""Fewest months in the last third of the horizon for a slope to mean anything."""


def _window(result: Run) -> tuple[int, int]:
    """Months after warm-up and before the horizon: [first, end)."""
    cal = result.scenario.calendar
    return cal.warmup_months, cal.horizon_months


def _slope(months: np.ndarray, values: np.ndarray) -> float:
    """OLS slope of ``values`` on ``months`` (per month)."""
    x = months - months.mean()
    return float(np.dot(x, values - values.mean()) / np.dot(x, x))


def queue_trend(result: Run, alpha: float = ALPHA) -> pd.DataFrame:
    """Per pool: is its queue still growing at the end of the run?

    Each replication's OLS slope of the monthly mean queue (``queue_<pool>``) over the last
    third of the horizon; a one-sided t-test that the mean slope is above 0 across
    replications, Bonferroni-corrected over the pools with people. ``growing`` is True only
    when the mean slope is positive and significant. Columns: ``pool, replications, first_month,
    last_month, mean_slope`` (queue per month), ``se, t, p_value, p_adjusted, growing``.
    Needs at least two replications and three months for a test (else NaN, not growing).
    """
    ts = result.timeseries
    horizon = result.scenario.calendar.horizon_months
    first = horizon - max(horizon // 3, 1)
    window = ts[(ts["month"] >= first) & (ts["month"] < horizon)]
    res = result.scenario.resources
    tested = [p for p in POOLS if res[p].capacity > 0]
    rows = []
    for pool in POOLS:
        slopes = []
        for _, rep in window.groupby("replication", sort=True):
            m = rep["month"].to_numpy(dtype=float)
            q = rep[f"queue_{pool}"].to_numpy(dtype=float)
            if len(m) >= MIN_TREND_MONTHS:
                slopes.append(_slope(m, q))
        n = len(slopes)
        mean = float(np.mean(slopes)) if n else math.nan
        se = t = p = math.nan
        if n >= 2 and pool in tested:
            sd = float(np.std(slopes, ddof=1))
            se = sd / math.sqrt(n)
            if se > 0:
                t = mean / se
                from scipy.special import stdtr  # loaded when a trend is tested

                p = float(stdtr(n - 1, -t))  # P(T > t), T ~ Student t with n - 1 df
            else:  # every replication's slope is the same number
                t = math.copysign(math.inf, mean) if mean else 0.0
                p = 0.0 if mean > 0 else 1.0
        adjusted = min(1.0, p * len(tested)) if not math.isnan(p) else math.nan
        rows.append(
            {
                "pool": pool,
                "replications": n,
                "first_month": first,
                "last_month": horizon - 1,
                "mean_slope": mean,
                "se": se,
                "t": t,
                "p_value": p,
                "p_adjusted": adjusted,
                "growing": bool(mean > 0 and adjusted < alpha),
            }
        )
    return pd.DataFrame(rows)


def _per_replication(result: Run, column: str) -> np.ndarray:
    """Each replication's mean of a monthly column over the months after warm-up."""
    first, end = _window(result)
    ts = result.timeseries
    window = ts[(ts["month"] >= first) & (ts["month"] < end)]
    return np.asarray(window.groupby("replication", sort=True)[column].mean(), dtype=float)


def _mean_and_interval(x: np.ndarray, bounds: Bounds) -> tuple[float, float, float]:
    """Mean and 95% interval, clipped to ``bounds`` (the library's one interval rule)."""
    e = estimate(x, 0.95, bounds)
    return e.mean, e.low, e.high


def pools_beside(check: Check, result: Run, alpha: float = ALPHA) -> pd.DataFrame:
    """Per pool: the analytic offered load, utilisation and mean queue beside the run's
    (mean over replications of each one's average over the months after warm-up, with a 95%
    interval), and the trend test's verdict. ``utilisation_window`` is the analytic figure for
    those months (the pipeline filling from day 0 included), the one to read beside
    ``utilisation_run``. Columns: ``pool, offered_load, utilisation_expected,
    utilisation_window, utilisation_run, utilisation_low, utilisation_high, mean_queue,
    queue_run, queue_low, queue_high, queue_slope, growing``; intervals are clipped to what
    the figure can be (a utilisation in [0, 1], a queue at least 0), and missing below three
    replications."""
    trend = {str(r["pool"]): r for r in queue_trend(result, alpha).to_dict("records")}
    analytic = {str(r["pool"]): r for r in check.pools.to_dict("records")}
    res = result.scenario.resources
    rows = []
    for pool in POOLS:
        if res[pool].capacity == 0:
            continue
        util, util_low, util_high = _mean_and_interval(
            _per_replication(result, f"util_{pool}"), Bounds(0.0, 1.0)
        )
        queue, queue_low, queue_high = _mean_and_interval(
            _per_replication(result, f"queue_{pool}"), Bounds(0.0, math.inf)
        )
        a, tr = analytic[pool], trend[pool]
        rows.append(
            {
                "pool": pool,
                "offered_load": float(a["offered_load"]),
                "utilisation_expected": float(a["utilisation_expected"]),
                "utilisation_window": float(a["utilisation_window"]),
                "utilisation_run": util,
                "utilisation_low": util_low,
                "utilisation_high": util_high,
                "mean_queue": float(a["mean_queue"]),
                "queue_run": queue,
                "queue_low": queue_low,
                "queue_high": queue_high,
                "queue_slope": float(tr["mean_slope"]),
                "growing": bool(tr["growing"]),
            }
        )
    return pd.DataFrame(rows)


def format_beside(table: pd.DataFrame, result: Run) -> str:
    """``pools_beside`` as text, with a warning line per queue still growing."""
    first, end = _window(result)
    reps = result.timeseries["replication"].nunique()
    lines = [
        f"pools: analytic check beside the run (months {first}-{end - 1}, {reps} replication(s))",
        f"  {'pool':<17}{'offered':>9}{'util check':>12}{'util run':>24}"
        f"{'queue check':>13}{'queue run':>24}",
    ]

    def pm(mean: float, low: float, high: float) -> str:
        return f"{mean:.2f}" if math.isnan(low) else f"{mean:.2f} [{low:.2f}, {high:.2f}]"

    def num(x: float) -> str:
        return "inf" if math.isinf(x) else f"{x:.2f}"

    for r in table.to_dict("records"):
        lines.append(
            f"  {r['pool']:<17}{num(r['offered_load']):>9}{num(r['utilisation_window']):>12}"
            f"{pm(r['utilisation_run'], r['utilisation_low'], r['utilisation_high']):>24}"
            f"{num(r['mean_queue']):>13}"
            f"{pm(r['queue_run'], r['queue_low'], r['queue_high']):>24}"
        )
    for r in table.to_dict("records"):
        if r["growing"]:
            lines.append(
                f"  warning: the {r['pool']} queue is still growing at the end "
                f"(+{r['queue_slope']:.2f} deals a month over the last third of the horizon)"
            )
    return "\n".join(lines)
