"""Forecast from a pipeline already under way: bookings and won deals per month and quarter.

``kamsim forecast SCENARIO --pipeline OPEN.csv --as-of DATE --horizon 6m`` runs the scenario
from the deals open on the as-of date (:mod:`kamsim.pipeline`) with new leads arriving as
usual, over replications, and reports per month and per calendar quarter:

- the spread of outcomes across replications, P10 / P50 / P90 (the risk: how different one
  future is from another), and
- the mean with its 95% interval (the estimation error of the mean, which more replications
  shrink), from :func:`kamsim.intervals.estimate`,

for ``won`` (deals signed in the period), ``bookings`` (their signed contract value, after
discounts, by signing date: what a CRM records as won value; the ``bookings`` KPI also
counts change orders, booked when implementation starts) and the part of each that comes
from today's pipeline (``won_from_pipeline``, ``bookings_from_pipeline``).

**The calendar.** The run starts on the first day of the as-of date's month
(:func:`forecast_scenario`), so the model's month, quarter and year ends (period-end closes,
seasonality) fall on the calendar's; the open deals are placed on the as-of date, new leads
arrive from it, and the run ends at the end of the month in which the horizon ends. Months
are the model's months of 365/12 days labelled by calendar month (their edges may differ
from the calendar's by a day or two); the first month counts from the as-of date, and the
first and last quarters may hold fewer than three of the run's months.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from kamsim.analysis import format_kpi
from kamsim.errors import Problem, ScenarioError
from kamsim.experiment import Experiment, experiment
from kamsim.intervals import Bounds, estimate
from kamsim.limits import MAX_HORIZON_MONTHS, OPEN_DEAL_ID_BASE
from kamsim.pipeline import OpenPipeline
from kamsim.scenario import Scenario
from kamsim.vocabulary import DAYS_PER_MONTH

MEASURES: Final = ("won", "bookings", "won_from_pipeline", "bookings_from_pipeline")
"""What the forecast counts per period (see the module docstring)."""
KINDS: Final = ("month", "quarter")
COLUMNS: Final = ("period", "kind", "measure", "mean", "low", "high", "p10", "p50", "p90")
"""The columns of the forecast table (``forecast.csv``)."""
FORECAST_FILE: Final = "forecast.csv"
LEVEL: Final = 0.95
_HORIZON = re.compile(r"^\s*(\d+)\s*([md])\s*$", re.IGNORECASE)
_NOT_NEGATIVE = Bounds(0.0, math.inf)


@dataclass(frozen=True)
class Horizon:
    """How far a forecast looks: ``amount`` months (``"m"``, of 365/12 days) or days
    (``"d"``) from the as-of date."""

    amount: int
    unit: str

    @property
    def days(self) -> float:
        return self.amount * (DAYS_PER_MONTH if self.unit == "m" else 1.0)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_horizon(text: str | Horizon) -> Horizon:
    """``"6m"``, ``"3m"`` or ``"90d"`` as a :class:`Horizon`; ScenarioError otherwise."""
    if isinstance(text, Horizon):
        return text
    m = _HORIZON.match(str(text))
    problem = None
    if m is None:
        problem = f"{text!r}: expected months or days, e.g. 6m, 3m or 90d"
    else:
        horizon = Horizon(int(m.group(1)), m.group(2).lower())
        if not 0 < horizon.days <= MAX_HORIZON_MONTHS * DAYS_PER_MONTH:
            problem = f"{text!r}: expected from 1 day to {MAX_HORIZON_MONTHS} months"
    if problem is not None:
        raise ScenarioError([Problem("--horizon", problem)])
    return horizon


def forecast_scenario(scenario: Scenario, as_of: dt.date, horizon: str | Horizon) -> Scenario:
    """``scenario`` set up for a forecast from ``as_of``: its calendar starts on the first of
    the as-of's month and runs to the end of the month in which ``as_of`` + ``horizon`` falls,
    with no warm-up and no drain. Everything else (and ``calendar.arrivals_until_months``,
    counted from the new start) is left as it is."""
    span = parse_horizon(horizon)
    start = as_of.replace(day=1)
    at = (as_of - start).days
    months = max(1, math.ceil((at + span.days) / DAYS_PER_MONTH - 1e-9))
    if months > MAX_HORIZON_MONTHS:
        raise ScenarioError(
            [
                Problem(
                    "--horizon", f"{span} from {as_of} needs more than {MAX_HORIZON_MONTHS} months"
                )
            ]
        )
    return scenario.with_overrides(
        {
            "calendar.start": start.isoformat(),
            "calendar.horizon_months": months,
            "calendar.warmup_months": 0,
            "calendar.drain": False,
        }
    )


def _month_labels(start: dt.date, months: int) -> list[tuple[str, str]]:
    """``(month, quarter)`` labels of the run's model months, by calendar month."""
    out = []
    for m in range(months):
        year, month = divmod(start.month - 1 + m, 12)
        year += start.year
        out.append((f"{year}-{month + 1:02d}", f"{year}-Q{month // 3 + 1}"))
    return out


def forecast_samples(
    deals: pd.DataFrame, scenario: Scenario, replications: list[int]
) -> pd.DataFrame:
    """Every measure of every period in each replication: columns ``replication``,
    ``period``, ``kind``, ``measure``, ``value`` (zero where nothing happened), in period
    order (months, then quarters). ``deals`` is the deals table of a forecast run (its
    ``replication`` column names the replications); ``replications`` are those to include
    (a replication with no deal at all still counts, with zeros)."""
    cal = scenario.calendar
    months = cal.horizon_months
    edges = np.arange(months + 1) * DAYS_PER_MONTH
    edges[-1] = cal.horizon_days
    reps = list(replications)
    row_of = {r: i for i, r in enumerate(reps)}
    won = deals[(deals["outcome"] == "won") & deals["replication"].isin(reps)]
    signed = won["signed_at"].to_numpy(float)
    ok = ~np.isnan(signed)
    won = won[ok]
    signed = signed[ok]
    rows = won["replication"].map(row_of).to_numpy(np.int64)
    cols = np.clip(np.searchsorted(edges, signed, side="right") - 1, 0, months - 1)
    value = won["value"].to_numpy(float) * (1.0 - won["discount"].to_numpy(float))
    mine = won["deal_id"].to_numpy(np.int64) >= OPEN_DEAL_ID_BASE
    per_month: dict[str, np.ndarray[Any, Any]] = {}
    for measure, weights, keep in (
        ("won", np.ones(len(value)), np.ones(len(value), dtype=bool)),
        ("bookings", value, np.ones(len(value), dtype=bool)),
        ("won_from_pipeline", np.ones(len(value)), mine),
        ("bookings_from_pipeline", value, mine),
    ):
        grid = np.zeros((len(reps), months))
        np.add.at(grid, (rows[keep], cols[keep]), weights[keep])
        per_month[measure] = grid
    labels = _month_labels(cal.start, months)
    quarters = list(dict.fromkeys(q for _, q in labels))
    parts = []
    for kind, periods, columns in (
        ("month", [m for m, _ in labels], [[i] for i in range(months)]),
        ("quarter", quarters, [[i for i, (_, q) in enumerate(labels) if q == x] for x in quarters]),
    ):
        for period, cols_ in zip(periods, columns, strict=True):
            for measure in MEASURES:
                values = per_month[measure][:, cols_].sum(axis=1)
                parts.append(
                    pd.DataFrame(
                        {
                            "replication": reps,
                            "period": period,
                            "kind": kind,
                            "measure": measure,
                            "value": values,
                        }
                    )
                )
    return pd.concat(parts, ignore_index=True)


def forecast_table(samples: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """The forecast table (``forecast.csv``), one row per (period, kind, measure) of
    :func:`forecast_samples`: ``mean`` with its ``level`` t interval ``low`` .. ``high``
    (never below 0) and the percentiles ``p10``, ``p50``, ``p90`` across replications."""
    rows = []
    for (period, kind, measure), group in samples.groupby(
        ["period", "kind", "measure"], sort=False
    ):
        est = estimate(group["value"].to_numpy(float), level, _NOT_NEGATIVE)
        rows.append(
            {
                "period": period,
                "kind": kind,
                "measure": measure,
                "mean": est.mean,
                "low": est.low,
                "high": est.high,
                "p10": est.p10,
                "p50": est.p50,
                "p90": est.p90,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


@dataclass(frozen=True, repr=False)
class Forecast:
    """A forecast: the experiment behind it, its samples and table, and what it started from."""

    scenario: Scenario
    """The scenario as run (its calendar set by :func:`forecast_scenario`)."""
    pipeline: OpenPipeline
    horizon: Horizon
    experiment: Experiment
    samples: pd.DataFrame
    """:func:`forecast_samples`: every replication's value of each measure and period."""
    table: pd.DataFrame
    """:func:`forecast_table`: the statistics per period and measure."""

    @classmethod
    def of(cls, result: Experiment, pipeline: OpenPipeline, horizon: str | Horizon) -> Forecast:
        """The forecast of a finished experiment with one variant, run with ``deals=True``
        and ``pipeline``."""
        (label,) = result.labels
        scenario = result.scenarios[label]
        failed = set(result.failures["replication"]) if len(result.failures) else set()
        reps = [r for r in range(result.reps) if r not in failed]
        samples = forecast_samples(result.table_of("deals", label), scenario, reps)
        return cls(
            scenario, pipeline, parse_horizon(horizon), result, samples, forecast_table(samples)
        )

    def __repr__(self) -> str:
        return (
            f"<Forecast {self.scenario.name!r} as of {self.pipeline.as_of}, {self.horizon}: "
            f"{len(self.pipeline)} open deal(s), {self.experiment.reps} replication(s)>"
        )

    def format(self) -> str:
        """The forecast as text: what was run, then per measure a table of months and
        quarters (P10 / P50 / P90, mean and interval, the part from today's pipeline)."""
        return format_forecast(self)


def forecast(
    scenario: Scenario,
    pipeline: OpenPipeline,
    horizon: str | Horizon = "6m",
    reps: int = 100,
    seed: int = 0,
    workers: int | None = None,
    executor: Executor | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool | Callable[[int], object] = False,
) -> Forecast:
    """Forecast ``scenario`` from ``pipeline``'s open deals over ``horizon`` (``"6m"``,
    ``"90d"``): ``reps`` replications with ``seed``, on ``workers`` processes or
    ``executor`` (as :func:`kamsim.experiment.experiment`); ``out`` writes the run's folder
    with ``forecast.csv``."""
    span = parse_horizon(horizon)
    run = forecast_scenario(scenario, pipeline.as_of, span)
    result = experiment(
        {scenario.name: run},
        reps=reps,
        seed=seed,
        executor=executor,
        workers=workers,
        out=out,
        progress=progress,
        deals=True,
        command="forecast",
        pipeline=pipeline,
        outputs=lambda e: {FORECAST_FILE: Forecast.of(e, pipeline, span).table},
    )
    return Forecast.of(result, pipeline, span)


# -- text ------------------------------------------------------------------------------------

_TITLES = {
    "won": "deals won per period",
    "bookings": "bookings per period ({currency}: signed contract value, by signing date)",
}


def _number(measure: str, x: float) -> str:
    if math.isnan(x):
        return "-"
    if measure.startswith("bookings"):
        return format_kpi("bookings", x)
    return format_kpi("deals_won", x)


def format_forecast(fc: Forecast) -> str:
    """:meth:`Forecast.format`."""
    scenario, pipeline = fc.scenario, fc.pipeline
    cal = scenario.calendar
    last = _month_labels(cal.start, cal.horizon_months)[-1][0]
    source = f" from {os.path.basename(pipeline.source)}" if pipeline.source else ""
    rate = scenario.arrivals.rate_per_month
    until = cal.arrivals_until_days
    if rate == 0 or until <= pipeline.offset(scenario):
        leads = "no new leads"
    elif until < cal.horizon_days:
        stop = cal.start + dt.timedelta(days=math.floor(until))
        leads = f"new leads at {rate:g} a month until {stop}"
    else:
        leads = f"new leads at {rate:g} a month"
    lines = [
        f"forecast: {scenario.name} as of {pipeline.as_of} through {last} ({fc.horizon} "
        f"asked: {cal.horizon_months} month(s), the first from the as-of date)",
        f"  {len(pipeline)} open deal(s){source} and {leads}; "
        f"{fc.experiment.reps} replication(s), seed {fc.experiment.seed}",
        "  P10 / P50 / P90: the spread across replications; mean with its 95% interval; "
        "from pipeline: the mean from today's open deals",
    ]
    if scenario.uncertainty:
        lines.append(
            "  parameter uncertainty: drawn once per replication, so the spread includes it: "
            + ", ".join(scenario.uncertainty)
        )
    table = fc.table
    for measure in ("won", "bookings"):
        lines.append("")
        lines.append(_TITLES[measure].format(currency=cal.currency))
        rows = [("period", "P10", "P50", "P90", "mean", "95% interval", "from pipeline")]
        main = table[table["measure"] == measure]
        part = table[table["measure"] == f"{measure}_from_pipeline"].set_index(["kind", "period"])
        for r in main.to_dict("records"):
            interval = (
                "-"
                if math.isnan(r["low"])
                else f"{_number(measure, r['low'])} .. {_number(measure, r['high'])}"
            )
            rows.append(
                (
                    str(r["period"]),
                    _number(measure, r["p10"]),
                    _number(measure, r["p50"]),
                    _number(measure, r["p90"]),
                    _number(measure, r["mean"]),
                    interval,
                    _number(measure, float(part.loc[(r["kind"], r["period"]), "mean"])),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
