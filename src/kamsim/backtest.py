"""Backtest: calibrate as of a past date, forecast from the deals open then, score what happened.

``kamsim backtest CRM.csv --as-of DATE --horizon 3m`` uses only what the export knew at the
end of ``DATE`` (``CrmExport.opportunities(as_of)``):

- it calibrates a scenario as of the date (:func:`kamsim.calibrate.calibrate`);
- it builds the open pipeline from the deals open then: each in its stage as the mapping reads
  it, aged from the day it entered that stage (a stage history's last entry; an opportunity
  export has no such day, so its create date), its value and grade drawn from the scenario;
- it forecasts the horizon with :func:`kamsim.forecast.forecast`.

Each full calendar month after the as-of date's month is scored against what the whole
export says happened: deals won (``won``) and their booked value (``bookings``) with a close
date in that month. Per month and measure: ``actual``, the forecast's ``mean``, ``p10`` and
``p90`` (across replications), ``covered`` (P10 <= actual <= P90), ``bias`` (mean - actual)
and ``crps`` (:func:`crps_sample`; lower is better, in the measure's unit).

**The run-rate.** Beside kamsim's forecast the same scores are given for the forecast most
sales teams use (:func:`run_rate`): the trailing three full calendar months up to the as-of
date give the mean wins per month ``m`` and the mean won value ``v``; each month's predictive
sample is ``n ~ Poisson(m)`` won deals and ``n * v`` bookings, :data:`RUN_RATE_DRAWS` draws
with seed :data:`RUN_RATE_SEED` (so the run-rate's scores never depend on ``--seed``).

**Rolling.** ``--rolling`` repeats this on month ends (:func:`rolling_dates`): from the first
with at least three months of closes before it to the last with a full horizon of closes after
it, and summarises per measure and method: coverage share, mean bias and mean CRPS, then the
difference in mean CRPS (kamsim - run-rate) with a paired bootstrap 95% interval over the
(as-of, month) scores (:data:`BOOTSTRAP_RESAMPLES` resamples, seed :data:`BOOTSTRAP_SEED`).
The verdict is "better" (the interval is below 0), "worse" (above 0) or "no clear
difference". Overlapping horizons make neighbouring scores correlated, so the interval is, if
anything, too narrow.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from kamsim.crm import CrmExport
from kamsim.errors import Problem, ScenarioError
from kamsim.forecast import Horizon, forecast, parse_horizon
from kamsim.vocabulary import DAYS_PER_MONTH

COLUMNS: Final = (
    "as_of",
    "month",
    "measure",
    "method",
    "actual",
    "mean",
    "p10",
    "p90",
    "covered",
    "bias",
    "crps",
)
"""The columns of the backtest table (``backtest.csv``)."""
SUMMARY_COLUMNS: Final = (
    "measure",
    "method",
    "scores",
    "coverage",
    "mean_bias",
    "mean_crps",
    "crps_difference",
    "low",
    "high",
    "verdict",
)
BACKTEST_FILE: Final = "backtest.csv"
SUMMARY_FILE: Final = "backtest_summary.csv"
MEASURES: Final = ("won", "bookings")
METHODS: Final = ("kamsim", "run-rate")
TRAILING_MONTHS: Final = 3
"""The full calendar months the run-rate averages, and the closes a rolling as-of needs."""
RUN_RATE_DRAWS: Final = 4000
"""Draws in the run-rate's predictive sample per month and measure."""
RUN_RATE_SEED: Final = 0
"""The seed of the run-rate's predictive sample."""
BOOTSTRAP_RESAMPLES: Final = 2000
"""Resamples of the paired bootstrap of the difference in mean CRPS."""
BOOTSTRAP_SEED: Final = 0
"""The seed of the paired bootstrap."""


def crps_sample(sample: Any, y: float) -> float:
    """The CRPS of a predictive sample at the outcome ``y``: mean|X - y| - 0.5 mean|X - X'|,
    over all pairs of the sample (the standard sample estimator; a point mass gives |x - y|)."""
    x = np.sort(np.asarray(sample, dtype=float).ravel())
    n = len(x)
    if n == 0:
        raise ValueError("an empty sample has no CRPS")
    first = float(np.mean(np.abs(x - y)))
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    pairs = 2.0 * float(np.dot(weights, x)) / (n * n)  # mean |X - X'| over all n^2 pairs
    return first - 0.5 * pairs


def _month_end(day: dt.date) -> dt.date:
    nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def _add_months(label: str, k: int) -> str:
    year, month = divmod(int(label[:4]) * 12 + int(label[5:7]) - 1 + k, 12)
    return f"{year}-{month + 1:02d}"


def _label(day: dt.date | pd.Timestamp) -> str:
    return f"{day.year}-{day.month:02d}"


def months_scored(as_of: dt.date, horizon: str | Horizon) -> list[str]:
    """The full calendar months a backtest scores: the forecast's months
    (:func:`kamsim.forecast.forecast_scenario`) after the as-of date's month."""
    span = parse_horizon(horizon)
    start = as_of.replace(day=1)
    months = max(1, math.ceil(((as_of - start).days + span.days) / DAYS_PER_MONTH - 1e-9))
    return [_add_months(_label(start), k) for k in range(1, months)]


def monthly_wins(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Won deals and booked value by close month (index ``YYYY-MM``; columns ``won``,
    ``bookings``; a won deal without a value books 0)."""
    won = opportunities[opportunities["outcome"] == "won"]
    month = won["closed"].dt.strftime("%Y-%m")
    values = won["value"].fillna(0.0).astype(float)
    table = pd.DataFrame({"month": month, "won": 1.0, "bookings": values})
    return table.groupby("month")[["won", "bookings"]].sum()


def run_rate(
    known: pd.DataFrame,
    as_of: dt.date,
    months: list[str],
    draws: int = RUN_RATE_DRAWS,
    seed: int = RUN_RATE_SEED,
) -> pd.DataFrame:
    """The run-rate forecast's predictive sample: columns ``month``, ``measure``, ``value``,
    ``draws`` rows per month and measure. ``known`` is the opportunity table as of ``as_of``;
    the trailing :data:`TRAILING_MONTHS` full calendar months up to it give the mean wins a
    month and the mean won value (see the module docstring)."""
    last = _label(as_of) if as_of == _month_end(as_of) else _add_months(_label(as_of), -1)
    window = [_add_months(last, -k) for k in range(TRAILING_MONTHS)]
    table = monthly_wins(known).reindex(window, fill_value=0.0)
    wins = float(table["won"].sum())
    rate = wins / TRAILING_MONTHS
    mean_value = float(table["bookings"].sum()) / wins if wins else 0.0
    rng = np.random.default_rng(seed)
    parts = []
    for month in months:
        n = rng.poisson(rate, draws).astype(float)
        for measure, values in (("won", n), ("bookings", n * mean_value)):
            parts.append(pd.DataFrame({"month": month, "measure": measure, "value": values}))
    return pd.concat(parts, ignore_index=True)


def _scores(sample: Any, actual: float) -> dict[str, Any]:
    x = np.asarray(sample, dtype=float)
    mean = float(x.mean())
    p10, p90 = (float(q) for q in np.percentile(x, [10, 90]))
    return {
        "actual": actual,
        "mean": mean,
        "p10": p10,
        "p90": p90,
        "covered": bool(p10 <= actual <= p90),
        "bias": mean - actual,
        "crps": crps_sample(x, actual),
    }


def backtest_once(
    crm: CrmExport,
    as_of: dt.date,
    horizon: str | Horizon = "3m",
    reps: int = 100,
    seed: int = 0,
    workers: int | None = None,
    progress: bool | Callable[[int], object] = False,
) -> pd.DataFrame:
    """The backtest table (:data:`COLUMNS`) of one as-of date: calibrate as of it, forecast
    ``horizon`` from the deals open then, score every full month after it for both methods."""
    from kamsim.calibrate import calibrate

    span = parse_horizon(horizon)
    months = months_scored(as_of, span)
    if not months:
        raise ScenarioError([Problem("--horizon", f"{span} from {as_of} ends within its month")])
    scenario = calibrate(crm, as_of.isoformat()).scenario()
    pipeline = crm.open_pipeline(as_of)
    fc = forecast(
        scenario, pipeline, span, reps=reps, seed=seed, workers=workers, progress=progress
    )
    samples = fc.samples[fc.samples["kind"] == "month"]
    rr = run_rate(crm.opportunities(as_of), as_of, months)
    actual = monthly_wins(crm.opportunities()).reindex(months, fill_value=0.0)
    rows = []
    for month in months:
        for measure in MEASURES:
            truth = float(actual[measure].to_numpy(float)[months.index(month)])
            mine = samples[(samples["period"] == month) & (samples["measure"] == measure)]
            theirs = rr[(rr["month"] == month) & (rr["measure"] == measure)]
            for method, values in (("kamsim", mine["value"]), ("run-rate", theirs["value"])):
                rows.append(
                    {
                        "as_of": as_of.isoformat(),
                        "month": month,
                        "measure": measure,
                        "method": method,
                        **_scores(values.to_numpy(float), truth),
                    }
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def rolling_dates(crm: CrmExport, horizon: str | Horizon = "3m") -> list[dt.date]:
    """The month ends a rolling backtest uses: from the first with at least
    :data:`TRAILING_MONTHS` months of closes up to it, to the last whose scored months all
    lie within the export's closes (up to the month of its last close)."""
    closed = crm.opportunities()["closed"].dropna()
    if closed.empty:
        return []
    first, last = closed.min(), closed.max()
    label = _add_months(_label(first), TRAILING_MONTHS - 1)
    out = []
    while label <= _label(last):
        day = _month_end(dt.date(int(label[:4]), int(label[5:7]), 1))
        scored = months_scored(day, horizon)
        if scored and scored[-1] > _label(last):
            break
        out.append(day)
        label = _add_months(label, 1)
    return out


def summarise(
    table: pd.DataFrame, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> pd.DataFrame:
    """Per measure and method: the number of scores, coverage share, mean bias and mean CRPS;
    the kamsim rows add the difference in mean CRPS (kamsim - run-rate) with its paired
    bootstrap 95% interval over the (as-of, month) scores and the verdict."""
    rows = []
    for measure in MEASURES:
        part = table[table["measure"] == measure]
        paired = part.pivot_table(index=["as_of", "month"], columns="method", values="crps")
        diff = (paired["kamsim"] - paired["run-rate"]).to_numpy(float)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(diff), size=(resamples, len(diff)))
        boot = diff[picks].mean(axis=1)
        low, high = (float(q) for q in np.percentile(boot, [2.5, 97.5]))
        verdict = "better" if high < 0 else "worse" if low > 0 else "no clear difference"
        for method in METHODS:
            own = part[part["method"] == method]
            row: dict[str, Any] = {
                "measure": measure,
                "method": method,
                "scores": len(own),
                "coverage": float(own["covered"].mean()),
                "mean_bias": float(own["bias"].mean()),
                "mean_crps": float(own["crps"].mean()),
                "crps_difference": math.nan,
                "low": math.nan,
                "high": math.nan,
                "verdict": "",
            }
            if method == "kamsim":
                row |= {
                    "crps_difference": float(diff.mean()),
                    "low": low,
                    "high": high,
                    "verdict": verdict,
                }
            rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


@dataclass(frozen=True, repr=False)
class Backtest:
    """A backtest: its scores (:data:`COLUMNS`) and their summary (:func:`summarise`)."""

    source: str
    horizon: Horizon
    dates: tuple[dt.date, ...]
    reps: int
    seed: int
    table: pd.DataFrame
    summary: pd.DataFrame

    def __repr__(self) -> str:
        return f"<Backtest {self.source} {self.horizon}: {len(self.dates)} as-of date(s)>"

    def format(self) -> str:
        """The scores as text: one line per as-of, month and measure, then the summary."""
        return format_backtest(self)


def backtest(
    crm: CrmExport,
    as_of: dt.date | None = None,
    horizon: str | Horizon = "3m",
    rolling: bool = False,
    reps: int = 100,
    seed: int = 0,
    workers: int | None = None,
    progress: bool | Callable[[int], object] = False,
) -> Backtest:
    """Backtest ``crm`` at ``as_of`` or, with ``rolling``, at every :func:`rolling_dates` date
    (from ``as_of`` on, if given)."""
    span = parse_horizon(horizon)
    if rolling:
        dates = [d for d in rolling_dates(crm, span) if as_of is None or d >= as_of]
        if not dates:
            raise ScenarioError(
                [Problem("--rolling", "no month end has 3 months of closes and a full horizon")]
            )
    elif as_of is None:
        raise ScenarioError([Problem("--as-of", "needed without --rolling")])
    else:
        dates = [as_of]
    tables = [backtest_once(crm, d, span, reps, seed, workers, progress) for d in dates]
    table = pd.concat(tables, ignore_index=True)
    return Backtest(crm.path.name, span, tuple(dates), reps, seed, table, summarise(table))


def write_backtest(bt: Backtest, out: str | os.PathLike[str]) -> list[str]:
    """Write ``backtest.csv`` and ``backtest_summary.csv`` into the folder ``out``."""
    from pathlib import Path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    bt.table.to_csv(folder / BACKTEST_FILE, index=False)
    bt.summary.to_csv(folder / SUMMARY_FILE, index=False)
    return [BACKTEST_FILE, SUMMARY_FILE]


def _num(measure: str, x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:,.0f}" if measure == "bookings" else f"{x:.1f}"


def _band(measure: str, row: Any) -> str:
    mark = "" if row["covered"] else " *"
    return f"{_num(measure, row['p10'])}..{_num(measure, row['p90'])}{mark}"


def _grid(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return out


def format_backtest(bt: Backtest) -> str:
    """:meth:`Backtest.format`."""
    first, last = bt.dates[0], bt.dates[-1]
    dates = (
        f"as of {first}" if len(bt.dates) == 1 else f"{len(bt.dates)} as-of dates {first} .. {last}"
    )
    lines = [
        f"backtest: {bt.source}, {dates}, horizon {bt.horizon}; kamsim {bt.reps} replication(s), "
        f"seed {bt.seed}; run-rate: trailing {TRAILING_MONTHS} months, Poisson",
        "  covered: actual within P10..P90; bias: mean - actual; CRPS: lower is better",
    ]
    t = bt.table
    for measure in MEASURES:
        lines.append("")
        lines.append(f"{measure}")
        rows: list[tuple[str, ...]] = [
            (
                "as of",
                "month",
                "actual",
                "kamsim P10..P90",
                "mean",
                "CRPS",
                "run-rate P10..P90",
                "mean",
                "CRPS",
            )
        ]
        part = t[t["measure"] == measure]
        for (as_of, month), g in part.groupby(["as_of", "month"], sort=False):
            k = g[g["method"] == "kamsim"].iloc[0]
            r = g[g["method"] == "run-rate"].iloc[0]
            rows.append(
                (
                    str(as_of),
                    str(month),
                    _num(measure, k["actual"]),
                    _band(measure, k),
                    _num(measure, k["mean"]),
                    _num(measure, k["crps"]),
                    _band(measure, r),
                    _num(measure, r["mean"]),
                    _num(measure, r["crps"]),
                )
            )
        lines += ["  " + line for line in _grid(rows)]
    lines.append("")
    lines.append("summary (* above: actual outside P10..P90)")
    rows = [
        (
            "measure",
            "method",
            "scores",
            "coverage",
            "mean bias",
            "mean CRPS",
            "CRPS difference (95%)",
            "",
        )
    ]
    for s in bt.summary.to_dict("records"):
        m = s["measure"]
        diff = (
            f"{_num(m, s['crps_difference'])} ({_num(m, s['low'])} .. {_num(m, s['high'])})"
            if s["method"] == "kamsim"
            else ""
        )
        rows.append(
            (
                m,
                s["method"],
                str(s["scores"]),
                f"{s['coverage']:.0%}",
                _num(m, s["mean_bias"]),
                _num(m, s["mean_crps"]),
                diff,
                s["verdict"],
            )
        )
    lines += ["  " + line for line in _grid(rows)]
    lines.append(
        "  CRPS difference: kamsim - run-rate, paired bootstrap over (as-of, month) scores"
    )
    return "\n".join(lines)
