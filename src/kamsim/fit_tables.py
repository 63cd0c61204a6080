"""Observed against fitted: the tables that show how well a calibration matches its export.

A fit is only as good as its agreement with the data it came from. :func:`fit_tables` puts,
side by side, what the export shows and what the calibrated scenario would produce:

- ``arrivals``: created deals per full month against the fitted rate, with the 95% band a
  Poisson count at that rate falls in (so a month outside it is a surprise, not noise);
- ``survival``: the Aalen-Johansen curves of the data (censoring and left-truncation aware):
  the share still open and the cumulative share won by day, against the fitted cycle's
  survival and the win probability times its distribution function (what the scenario does:
  every deal takes the fitted cycle, then wins with the fitted probability);
- ``win_rate``: the censoring-aware win probability of each segment with a bootstrap 95%
  interval, against its grade's calibrated win probability;
- ``calendar``: closes by month of quarter for wins and losses, against flat (closes spread
  by the days each month of the quarter has) with its Poisson band, and against the fitted
  effect where the calibration has one (its shape scaled to each outcome's total: a
  ``fitted`` column in :attr:`kamsim.calibrate.Calibration.calendar`; otherwise the scenario
  is flat and the fitted counts are the flat ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kamsim.calibrate import BOOTSTRAP, SEED, aalen_johansen, competing_risks, segment_column
from kamsim.vocabulary import DAYS_PER_MONTH

if TYPE_CHECKING:
    from kamsim.calibrate import Calibration
    from kamsim.crm import CrmExport

TABLE_FILES = {
    "arrivals": "fit_arrivals.csv",
    "survival": "fit_survival.csv",
    "win_rate": "fit_win_rate.csv",
    "calendar": "fit_calendar.csv",
}
"""Each observed-against-fitted table and the file of the fit folder that holds it."""


@dataclass(frozen=True)
class FitTables:
    """The four observed-against-fitted tables of one calibration (module docstring)."""

    arrivals: pd.DataFrame
    survival: pd.DataFrame
    win_rate: pd.DataFrame
    calendar: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name (the keys of :data:`TABLE_FILES`)."""
        return {name: getattr(self, name) for name in TABLE_FILES}


def _poisson_band(mean: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from scipy.stats import poisson

    return poisson.ppf(0.025, mean), poisson.ppf(0.975, mean)


def _arrivals(dated: pd.DataFrame, cal: Calibration) -> pd.DataFrame:
    start, end = cal.window
    months = pd.date_range(start, end, freq="MS", inclusive="left")
    if len(months) == 0:
        months = pd.DatetimeIndex([start])
    created = dated["created"]
    in_window = created[(created >= start) & (created < end)]
    observed = in_window.dt.to_period("M").value_counts()
    periods = months.to_period("M")
    days = np.array([min(p.end_time, end) - max(p.start_time, start) for p in periods])
    days = np.array([d.total_seconds() / 86400.0 for d in days]).round()
    fitted = cal.rate_per_month * days / DAYS_PER_MONTH
    low, high = _poisson_band(fitted)
    return pd.DataFrame(
        {
            "month": [f"{p}" for p in periods],
            "observed": [int(observed.get(p, 0)) for p in periods],
            "fitted": fitted,
            "low": low,
            "high": high,
        }
    )


def _cycle_cdf(cal: Calibration, days: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The distribution function of the simulated cycle (the timed stage's duration)."""
    from scipy import stats

    d = cal.scenario_data()["stages"][cal.timed_stage]["duration"]
    if d["dist"] == "gamma":
        return np.asarray(stats.gamma.cdf(days, d["shape"], scale=d["scale"]))
    sigma = np.sqrt(np.log1p(d["cv"] ** 2))
    mu = np.log(d["mean"]) - sigma**2 / 2
    return np.asarray(stats.lognorm.cdf(days, sigma, scale=np.exp(mu)))


def _survival(
    time: np.ndarray[Any, Any],
    event: np.ndarray[Any, Any],
    entry: np.ndarray[Any, Any],
    cal: Calibration,
) -> pd.DataFrame:
    times, won, lost = aalen_johansen(time, event, entry)
    horizon = float(time.max()) if time.size else 1.0
    grid = np.unique(np.concatenate([[0.0], times, np.linspace(0, horizon, 60)]))
    at = np.searchsorted(times, grid, side="right") - 1
    won_at = np.where(at >= 0, won[np.maximum(at, 0)] if won.size else 0.0, 0.0)
    lost_at = np.where(at >= 0, lost[np.maximum(at, 0)] if lost.size else 0.0, 0.0)
    cdf = _cycle_cdf(cal, grid)
    return pd.DataFrame(
        {
            "day": grid,
            "open_observed": 1.0 - won_at - lost_at,
            "won_observed": won_at,
            "open_fitted": 1.0 - cdf,
            "won_fitted": cal.win_probability * cdf,
        }
    )


def _final_won(time: Any, event: Any, entry: Any) -> float:
    _, won, _ = aalen_johansen(time, event, entry)
    return float(won[-1]) if won.size else float("nan")


def _win_rate(
    dated: pd.DataFrame,
    time: np.ndarray[Any, Any],
    event: np.ndarray[Any, Any],
    entry: np.ndarray[Any, Any],
    cal: Calibration,
) -> pd.DataFrame:
    by = segment_column(dated)
    segments = (
        dated[by].fillna("?").astype(str) if by else pd.Series("all", dated.index)
    ).to_numpy(str)
    grade_of = {s.strip(): g for g, (*_, segs) in cal.grades.items() for s in segs.split(",")}
    rng = np.random.default_rng(SEED)
    rows = []
    for segment in sorted({str(s) for s in segments}):
        i = np.flatnonzero(segments == segment)
        t, e, n = time[i], event[i], entry[i]
        boots = []
        for _ in range(BOOTSTRAP):
            j = rng.integers(0, i.size, i.size)
            boots.append(_final_won(t[j], e[j], n[j]))
        low, high = np.nanquantile(boots, [0.025, 0.975]) if i.size else (np.nan, np.nan)
        rows.append(
            (
                segment,
                grade_of.get(segment, ""),
                int(i.size),
                int((e == 1).sum()),
                int((e == 2).sum()),
                int((e == 0).sum()),
                _final_won(t, e, n),
                float(low),
                float(high),
                cal.win_probability,
            )
        )
    columns = ["segment", "grade", "deals", "won", "lost", "open", "observed", "low", "high"]
    return pd.DataFrame(rows, columns=[*columns, "fitted"])


def _calendar(cal: Calibration) -> pd.DataFrame:
    table = cal.calendar[["outcome", "month_of_quarter", "closes", "expected"]].copy()
    table = table.rename(columns={"closes": "observed", "expected": "flat"})
    flat = table["flat"].to_numpy(float)
    table["low"], table["high"] = _poisson_band(flat)
    fitted = cal.calendar["fitted"] if "fitted" in cal.calendar.columns else table["flat"]
    table["fitted"] = fitted.to_numpy(float)
    return table


def fit_tables(crm: CrmExport, cal: Calibration) -> FitTables:
    """The observed-against-fitted tables of ``cal``, fitted to ``crm`` (module docstring)."""
    day = f"{cal.as_of:%Y-%m-%d}" if cal.as_of == cal.as_of.normalize() else cal.as_of.isoformat()
    deals = crm.opportunities(as_of=day)
    dated = deals[deals["created"].notna()]
    end = cal.as_of + pd.Timedelta(days=1) if cal.as_of == cal.as_of.normalize() else cal.as_of
    time, event, entry = competing_risks(dated, cal.window[0], end)
    return FitTables(
        arrivals=_arrivals(dated, cal),
        survival=_survival(time, event, entry, cal),
        win_rate=_win_rate(dated, time, event, entry, cal),
        calendar=_calendar(cal),
    )
