"""Records -> the tidy pandas tables of :data:`kamsim.tables.TABLES`.

Built once, at the edge, with vectorised numpy; the engine never sees pandas. Every table
carries a ``replication`` column so the tables of many replications concatenate without loss.

Definitions (the stable contract):

- ``outcome``: ``won`` (contract signed), ``lost`` (left before signing, with ``exit_reason``),
  ``open`` (unsigned at the end). Implementation results live in ``accepted_at``/``cancelled``.
- ``wait_<pool>``: days the deal spent queued for that pool (up to the end for open waits).
- ``timeseries``: per model month (365/12 days): ``bookings``, ``revenue`` and ``cash`` are
  flows in the month; ``wip_<stage>``, ``util_<pool>`` and ``queue_<pool>`` are time-weighted
  averages from the engine's level monitors (not derived from ``events``).
- ``kpis``: one row per replication: ``replication``, ``seed``, then every KPI of
  :data:`kamsim.kpis.KPIS` in its order; each entry's ``definition`` is that KPI's contract.
  Time-based KPIs cover the measurement window [``calendar.warmup_days``, span], deal-based
  ones the cohort of deals arriving in it (followed to the end of the run).
- ``kpis_by_year``: the same KPIs per calendar year: the window is the year's part of the
  run (warm-up included), the cohort the deals arriving in that year.
- A run from a pipeline already under way (``kamsim.pipeline``): its open deals (ids from
  ``OPEN_DEAL_ID_BASE``) did not arrive in the run, so they belong to no arrival cohort (their
  ``arrived_at`` is when they entered the stage they were in on the as-of date); time-based
  KPIs count what they do, and ``deals_open`` counts them while they are open.

Both KPI tables come from one function, :func:`_kpis`, given the window edges; a time at a
window's start belongs to it and one at its end to the next (the run's end to the last).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from kamsim.kpis import KEY_COLUMNS, KPIS, YEAR_COLUMN, kpi_columns, kpis_by_year_columns
from kamsim.limits import OPEN_DEAL_ID_BASE
from kamsim.model.records import (
    BUSY0,
    MONEY_KINDS,
    NAN,
    PASSED,
    QUEUE0,
    SERIES,
    WIP0,
    Records,
)
from kamsim.scenario import Scenario
from kamsim.tables import TABLES
from kamsim.vocabulary import DAYS_PER_MONTH, OUTCOMES, POOLS, STAGES

_Arrays = dict[str, np.ndarray[Any, Any]]
"""Columns of plain records (stage visits, pool holds) as numpy arrays."""
_Money = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]
"""Kind (an index of ``MONEY_KINDS``), time and amount of every money flow."""

KPI_COLUMNS: tuple[str, ...] = kpi_columns()
"""The ``kpis`` table's columns, from the KPI registry (:mod:`kamsim.kpis`)."""
KPIS_BY_YEAR_COLUMNS: tuple[str, ...] = kpis_by_year_columns()
"""The ``kpis_by_year`` table's columns."""
_INTEGER = frozenset(k.name for k in KPIS.values() if k.integer)
"""KPIs stored as integers (deal counts)."""

_STAGE_CAT = pd.CategoricalDtype(list(STAGES), ordered=True)
_POOL_CAT = pd.CategoricalDtype(list(POOLS))
_OUTCOME_CAT = pd.CategoricalDtype(list(OUTCOMES))
_OUTCOME_CODES = {outcome: code for code, outcome in enumerate(OUTCOMES)}


@dataclass(frozen=True, repr=False)
class Result:
    """Tables of one or more replications of one scenario: one attribute per table of
    :data:`kamsim.tables.TABLES`, in its order, after ``scenario`` and ``seed``."""

    scenario: Scenario
    seed: int
    deals: pd.DataFrame
    events: pd.DataFrame
    timeseries: pd.DataFrame
    kpis: pd.DataFrame
    kpis_by_year: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name, in the registry's order."""
        return {name: getattr(self, name) for name in TABLES}

    def summary(self) -> pd.DataFrame:
        """Per KPI: mean, its 95% interval and the spread across replications
        (:func:`kamsim.analysis.describe`), printed in each KPI's format."""
        from kamsim.analysis import describe

        return describe(self.kpis)

    def __repr__(self) -> str:
        reps = self.kpis["replication"].nunique()
        rows = ", ".join(f"{name} {len(t):,}" for name, t in self.tables().items())
        return (
            f"<Result {self.scenario.name!r}: {reps} replication(s), seed {self.seed}; {rows} rows>"
        )

    def _repr_html_(self) -> str:
        """In a notebook: what was run, then the KPI summary as a table."""
        import html

        table: str = self.summary()._repr_html_()  # type: ignore[operator]
        return f"<p>{html.escape(repr(self))}</p>{table}"


if tuple(f.name for f in fields(Result))[2:] != tuple(TABLES):
    raise TypeError("Result's table attributes differ from kamsim.tables.TABLES")


def _month_edges(span: float) -> np.ndarray[Any, Any]:
    n = max(1, int(np.ceil(span / DAYS_PER_MONTH - 1e-9)))
    edges = np.arange(n + 1) * DAYS_PER_MONTH
    edges[-1] = span
    return edges


def _flat(rows: list[Any], width: int) -> tuple[np.ndarray[Any, Any], ...]:
    """Columns of a list of equal-length numeric tuples, as float arrays."""
    flat = np.fromiter(chain.from_iterable(rows), dtype=float, count=width * len(rows))
    return tuple(flat[c::width] for c in range(width))


class _Levels:
    """The monitored levels as running areas, so that averages over any edges (months,
    the measurement window, calendar years) cost one search per series.

    A level holds from its change time until the next change; before the first change it is
    zero.
    """

    def __init__(self, levels: list[tuple[float, int, int]]) -> None:
        self._series: list[tuple[np.ndarray[Any, Any], ...] | None] = [None] * len(SERIES)
        if not levels:
            return
        t_all, s_all, l_all = _flat(levels, 3)
        # By series, in time order within each (as small integers, a stable sort is a radix
        # sort: several times faster than on the floats).
        order = np.argsort(s_all.astype(np.int16), kind="stable")
        t_all, s_all, l_all = t_all[order], s_all[order].astype(np.int64), l_all[order]
        bounds = np.searchsorted(s_all, np.arange(len(SERIES) + 1))
        for sid in range(len(SERIES)):
            lo, hi = bounds[sid], bounds[sid + 1]
            if lo < hi:
                t, lv = t_all[lo:hi], l_all[lo:hi]
                area = np.concatenate(([0.0], np.cumsum(lv[:-1] * np.diff(t))))
                self._series[sid] = (t, lv, area)

    def averages(self, edges: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Time-weighted average of every series in each interval between edges, shape
        (len(SERIES), len(edges) - 1)."""
        out = np.zeros((len(SERIES), len(edges) - 1))
        widths = np.diff(edges)
        widths[widths <= 0] = np.nan
        for sid, series in enumerate(self._series):
            if series is None:
                continue
            t, lv, area = series
            i = np.searchsorted(t, edges, side="right") - 1
            ii = np.clip(i, 0, None)
            cum = np.where(i >= 0, area[ii] + lv[ii] * (edges - t[ii]), 0.0)
            out[sid] = np.diff(cum) / widths
        return np.nan_to_num(out)


def _deals(rec: Records, holds: dict[str, np.ndarray[Any, Any]]) -> pd.DataFrame:
    cols = rec.deals  # in id order
    grades = rec.scenario.grade_keys
    n = len(cols.deal_id)

    def floats(column: list[float]) -> np.ndarray[Any, Any]:
        return np.fromiter(column, dtype=float, count=n)

    price = floats(cols.price_factor)
    margin = floats(cols.margin)
    ids = np.fromiter(cols.deal_id, dtype=np.int64, count=n)
    owner = np.fromiter(cols.owner, dtype=np.int64, count=n)
    outcome = np.fromiter(map(_OUTCOME_CODES.__getitem__, cols.outcome), dtype=np.int8, count=n)
    # A wait ends when granted, when the deal gave up (went cold, stalled) or at the end.
    until = np.where(np.isnan(holds["started"]), holds["ended"], holds["started"])
    wait = np.where(np.isnan(until), rec.span, until) - holds["queued"]
    row = np.searchsorted(ids, holds["deal_id"])  # ids are unique and sorted, not dense
    waits = {}
    for p, pool in enumerate(POOLS):
        m = holds["pool"] == p
        waits[f"wait_{pool}"] = np.bincount(row[m], weights=wait[m], minlength=n).astype(float)
    return pd.DataFrame(
        {
            "replication": np.full(n, rec.replication, dtype=np.int64),
            "deal_id": ids,
            "account_id": [
                f"{grades[g]}-{a:04d}" for g, a in zip(cols.grade, cols.account, strict=True)
            ],
            "grade": pd.Categorical.from_codes(cols.grade, dtype=_categories(grades)),
            "value": floats(cols.value),
            "margin": margin,
            "arrived_at": floats(cols.arrived_at),
            "last_stage": pd.Categorical.from_codes(cols.last_stage, dtype=_STAGE_CAT),
            "outcome": pd.Categorical.from_codes(outcome, dtype=_OUTCOME_CAT),
            "exit_reason": pd.array(cols.exit_reason, dtype="string"),
            "signed_at": floats(cols.signed_at),
            "closed_at": floats(cols.closed_at),
            "booked_value": floats(cols.booked),
            "discount": 1.0 - price,
            "booked_margin": 1.0 - (1.0 - margin) / price,
            "repeat_of": pd.array(cols.parent, dtype="Int64"),
            "accepted_at": floats(cols.accepted_at),
            "cancelled": np.fromiter(cols.cancelled, dtype=bool, count=n),
            "owner": pd.arrays.IntegerArray(owner, owner < 0),  # missing: no owner
            **waits,  # bincount of nothing is int: hence astype(float)
        }
    )


@lru_cache(maxsize=64)
def _categories(names: tuple[str, ...]) -> pd.CategoricalDtype:
    """An unordered categorical type (built once per list of names: it checks them)."""
    return pd.CategoricalDtype(list(names))


def _columns(rows: list[Any], names: tuple[str, ...]) -> dict[str, np.ndarray[Any, Any]]:
    """Tuples -> one numpy array per column."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, col in zip(names, cols, strict=True):
        if name in ("deal_id", "stage", "pool", "result"):
            out[name] = np.array(col, dtype=np.int64)
        else:
            out[name] = np.array(col, dtype=float)
    return out


def _events(rec: Records) -> tuple[pd.DataFrame, _Arrays, _Arrays]:
    """The events table, and the stage visits' and pool holds' columns it was built from."""
    visits = _columns(rec.visits, ("deal_id", "stage", "queued", "started", "ended", "result"))
    holds = _columns(
        rec.holds, ("deal_id", "stage", "pool", "queued", "started", "ended", "result")
    )
    visits["pool"] = np.full(len(rec.visits), -1, dtype=np.int64)
    both = {k: np.concatenate([visits[k], holds[k]]) for k in holds}
    # Per deal in time order; a stage visit before the pool rows that start with it.
    order = np.lexsort((both["started"], both["queued"], both["deal_id"]))
    both = {k: v[order] for k, v in both.items()}
    events = pd.DataFrame(
        {
            "replication": np.full(len(order), rec.replication, dtype=np.int64),
            "deal_id": both["deal_id"],
            "stage": pd.Categorical.from_codes(both["stage"], dtype=_STAGE_CAT),
            "pool": pd.Categorical.from_codes(both["pool"], dtype=_POOL_CAT),
            "queued_at": both["queued"],
            "started_at": both["started"],
            "ended_at": both["ended"],
            "result": pd.Categorical.from_codes(
                both["result"], dtype=_categories(tuple(rec.results))
            ),
        }
    )
    return events, visits, holds


def _timeseries(rec: Records, money: _Money, levels: _Levels) -> pd.DataFrame:
    edges = _month_edges(rec.span)
    n = len(edges) - 1
    start = rec.scenario.calendar.start
    cols: dict[str, Any] = {
        "replication": np.full(n, rec.replication, dtype=np.int64),
        "month": np.arange(n, dtype=np.int64),
        "date": [start + dt.timedelta(days=float(e)) for e in edges[:-1]],
    }
    kinds, times, amounts = money
    inside = times <= rec.span
    bins = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, n - 1)
    for kind, name in enumerate(MONEY_KINDS):
        m = inside & (kinds == kind)
        cols[name] = np.bincount(bins[m], weights=amounts[m], minlength=n).astype(float)
    avg = levels.averages(edges)
    for s, stage in enumerate(STAGES):
        cols[f"wip_{stage}"] = avg[WIP0 + s]
    for p, pool in enumerate(POOLS):
        cap = rec.capacity[p]
        cols[f"util_{pool}"] = avg[BUSY0 + p] / cap if cap else np.full(n, NAN)
        cols[f"queue_{pool}"] = avg[QUEUE0 + p]
    out = pd.DataFrame(cols)
    return out


# -- KPIs of windows -----------------------------------------------------------------------

_TENDER, _APPROVAL, _NEGOTIATION = (STAGES.index(s) for s in ("tender", "approval", "negotiation"))
_EXECUTIVES = POOLS.index("executives")
_QUICK_SIGNATURE_DAYS = 30.0 + 1e-9
"""Award to signature in at most 30 days (with floating-point slack for a fixed 30)."""
_DSO_MONTHS = 12
"""Trailing months of revenue in days sales outstanding (and its first month end)."""
_OCTOBER = 9
"""The month of the year, counted from 0 (January), that starts the fourth quarter."""


@dataclass(frozen=True)
class _Facts:
    """What one replication's deals, visits and money did, as flat arrays: everything the
    KPIs need except which window each item falls into (:func:`_kpis` decides that), so
    the run's window and the calendar years share one definition and one pass over the
    tables."""

    rec: Records
    levels: _Levels
    money: _Money
    # One entry per deal, in id order.
    arrived_at: np.ndarray[Any, Any]
    signed_at: np.ndarray[Any, Any]
    lost_at: np.ndarray[Any, Any]
    """When a lost deal left; NaN for the others."""
    accepted_at: np.ndarray[Any, Any]
    q4: np.ndarray[Any, Any]
    """Accepted in October to December (calendar date of ``calendar.start`` + days)."""
    won: np.ndarray[Any, Any]
    lost: np.ndarray[Any, Any]
    decided: np.ndarray[Any, Any]
    """Won, or lost other than by our own qualification (win rate's denominator)."""
    entered_approval: np.ndarray[Any, Any]
    no_decision: np.ndarray[Any, Any]
    """Lost as customer dropped (proposal's exit reason), went cold or stalled."""
    booked: np.ndarray[Any, Any]
    margin_value: np.ndarray[Any, Any]
    took: np.ndarray[Any, Any]
    """(pool, deal): the deal queued for or took the pool at least once."""
    waits: np.ndarray[Any, Any]
    """(pool, deal): days the deal spent queued for the pool."""
    # One entry per stage visit.
    visit_deal: np.ndarray[Any, Any]
    """The visit's deal, as a row of the deal arrays."""
    bid: np.ndarray[Any, Any]
    """A tender visit that reached the pass draw (passed or lost with the tender's reason)."""
    bid_won: np.ndarray[Any, Any]
    signing: np.ndarray[Any, Any]
    quick_signing: np.ndarray[Any, Any]
    # One entry per model month with 12 months of revenue behind its end.
    dso_at: np.ndarray[Any, Any]
    """The month's end, in days from the start."""
    dso: np.ndarray[Any, Any]
    """Receivables / trailing 12 months' revenue x 365 at that month end."""

    @classmethod
    def of(
        cls,
        rec: Records,
        deals: pd.DataFrame,
        visits: _Arrays,
        holds: _Arrays,
        money: _Money,
        levels: _Levels,
        timeseries: pd.DataFrame,
    ) -> _Facts:
        scenario, stages = rec.scenario, rec.scenario.stages

        def column(name: str) -> np.ndarray[Any, Any]:
            return deals[name].to_numpy(float)

        outcome = np.asarray(deals["outcome"].cat.codes)
        won, lost = outcome == OUTCOMES.index("won"), outcome == OUTCOMES.index("lost")
        reasons = rec.deals.exit_reason  # the deals table's column, as Python strings

        def among(names: set[str]) -> np.ndarray[Any, Any]:
            return np.fromiter((r in names for r in reasons), dtype=bool, count=len(reasons))

        turned_away = among({stages.exit_reason("development"), "not_approved"})
        no_decision = among({stages.exit_reason("proposal"), "went_cold", "stalled"})
        accepted_at = column("accepted_at")
        day = np.datetime64(scenario.calendar.start, "D") + np.floor(
            np.nan_to_num(accepted_at)
        ).astype("timedelta64[D]")
        q4 = day.astype("datetime64[M]").astype(np.int64) % 12 >= _OCTOBER

        ids = deals["deal_id"].to_numpy()  # unique and sorted
        visit_deal = np.searchsorted(ids, visits["deal_id"])
        stage, result = visits["stage"], visits["result"]
        passed = result == PASSED
        bid = (stage == _TENDER) & (
            passed | (result == rec.results.index(stages.exit_reason("tender")))
        )
        signing = (stage == _NEGOTIATION) & passed
        entered = np.zeros(len(ids), dtype=bool)
        entered[visit_deal[stage == _APPROVAL]] = True
        took = np.zeros((len(POOLS), len(ids)), dtype=bool)
        took[holds["pool"], np.searchsorted(ids, holds["deal_id"])] = True

        revenue = timeseries["revenue"].to_numpy(float)
        trailing = np.full(len(revenue), NAN)
        if len(revenue) >= _DSO_MONTHS:
            trailing[_DSO_MONTHS - 1 :] = sliding_window_view(revenue, _DSO_MONTHS).sum(axis=1)
        # Cash never runs ahead of its revenue; the clip only removes rounding below zero.
        cash = timeseries["cash"].to_numpy(float)
        receivable = np.maximum(np.cumsum(revenue) - np.cumsum(cash), 0.0)
        due = trailing > 0  # month ends before the 12th have NaN, which compares False

        booked = column("booked_value")
        arrived_at = column("arrived_at")
        already_open = ids >= OPEN_DEAL_ID_BASE
        if already_open.any():  # a pipeline already under way: in no arrival cohort
            arrived_at = np.where(already_open, -np.inf, arrived_at)
        return cls(
            rec=rec,
            levels=levels,
            money=money,
            arrived_at=arrived_at,
            signed_at=column("signed_at"),
            lost_at=np.where(lost, column("closed_at"), NAN),
            accepted_at=accepted_at,
            q4=q4,
            won=won,
            lost=lost,
            decided=won | (lost & ~turned_away),
            entered_approval=entered,
            no_decision=lost & no_decision,
            booked=booked,
            margin_value=booked * column("booked_margin"),
            took=took,
            waits=np.stack([column(f"wait_{pool}") for pool in POOLS]),
            visit_deal=visit_deal,
            bid=bid,
            bid_won=bid & passed,
            signing=signing,
            quick_signing=signing & (visits["ended"] - visits["queued"] <= _QUICK_SIGNATURE_DAYS),
            dso_at=_month_edges(rec.span)[1:][due],
            dso=receivable[due] / trailing[due] * 365.0,
        )


def _window_of(times: np.ndarray[Any, Any], edges: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The window of each time: ``i`` for ``edges[i] <= t < edges[i + 1]`` (the last window
    keeps its end, the run's end), -1 before the first window, ``len(edges) - 1`` after the
    last or for NaN (numpy sorts NaN last)."""
    at = np.searchsorted(edges, times, side="right") - 1
    at[times == edges[-1]] = len(edges) - 2
    return at


def _per_window(
    at: np.ndarray[Any, Any], n: int, weights: np.ndarray[Any, Any] | None = None
) -> np.ndarray[Any, Any]:
    """Count (or sum of ``weights``) per window of the items that fall in one of the ``n``
    windows."""
    inside = (at >= 0) & (at < n)
    return np.bincount(at[inside], None if weights is None else weights[inside], minlength=n)


def _by_end(at: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
    """How many items fall before each window's end (earlier windows and the warm-up too)."""
    return np.cumsum(np.bincount(at + 1, minlength=n + 2))[1 : n + 1]


def _ratio(num: np.ndarray[Any, Any], den: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``num / den``, NaN where ``den`` is zero: a KPI is NaN only where it is undefined."""
    out = np.full(len(den), NAN)
    np.divide(num, den, out=out, where=np.asarray(den) > 0)
    return out


def _kpis(facts: _Facts, edges: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    """Every KPI of each window between ``edges`` (days from the start), in registry order.

    The one definition behind ``kpis`` (one window: the warm-up's end to the run's end) and
    ``kpis_by_year`` (a window per calendar year). Time-based KPIs count what happened
    within the window; deal-based ones the cohort of deals that arrived in it, with their
    outcomes at the end of the run (unfinished ones open).
    """
    f, rec = facts, facts.rec
    n = len(edges) - 1
    res = rec.scenario.resources

    # Time-based: what happened within the window.
    kinds, times, amounts = f.money
    at = _window_of(times, edges)
    flows = {
        name: _per_window(at[kinds == k], n, amounts[kinds == k])
        for k, name in enumerate(MONEY_KINDS)
    }
    signed = _window_of(f.signed_at, edges)
    arrived = _window_of(f.arrived_at, edges)
    exited = _window_of(f.lost_at, edges)
    accepted = _window_of(f.accepted_at, edges)
    gross_margin = _per_window(signed, n, f.margin_value)
    monthly_cost = sum(res[p].headcount * res[p].monthly_cost for p in POOLS)
    cost_of_sale = monthly_cost * np.diff(edges) / DAYS_PER_MONTH
    busy = f.levels.averages(edges)[BUSY0 : BUSY0 + len(POOLS)]
    executives = res["executives"].headcount
    # A month end (a stock) at a window's start belongs to the window before.
    month_end = np.searchsorted(edges, f.dso_at, side="left") - 1

    # Deal-based: the cohort of deals that arrived in the window.
    cohort = arrived
    by_visit = cohort[f.visit_deal]
    won = cohort[f.won]
    won_n = _per_window(won, n)
    entered = f.entered_approval
    return {
        **flows,
        "gross_margin": gross_margin,
        "cost_of_sale": cost_of_sale,
        "contribution": gross_margin - cost_of_sale,
        "gross_margin_pct": _ratio(
            _per_window(won, n, f.margin_value[f.won]), _per_window(won, n, f.booked[f.won])
        ),
        "win_rate": _ratio(won_n, _per_window(cohort[f.decided], n)),
        "lead_conversion": _ratio(won_n, _per_window(cohort, n)),
        "tender_win_rate": _ratio(
            _per_window(by_visit[f.bid_won], n), _per_window(by_visit[f.bid], n)
        ),
        "approval_to_signed": _ratio(
            _per_window(cohort[entered & f.won], n), _per_window(cohort[entered], n)
        ),
        "no_decision_share": _ratio(
            _per_window(cohort[entered & f.no_decision], n),
            _per_window(cohort[entered & (f.won | f.lost)], n),
        ),
        "award_to_signature_30d": _ratio(
            _per_window(by_visit[f.quick_signing], n), _per_window(by_visit[f.signing], n)
        ),
        "q4_acceptance_share": _ratio(_per_window(accepted[f.q4], n), _per_window(accepted, n)),
        "cycle_time_days": _ratio(_per_window(won, n, (f.signed_at - f.arrived_at)[f.won]), won_n),
        "dso_days": _ratio(_per_window(month_end, n, f.dso), _per_window(month_end, n)),
        **{
            f"wait_{pool}": _ratio(
                _per_window(cohort[f.took[p]], n, f.waits[p][f.took[p]]),
                _per_window(cohort[f.took[p]], n),
            )
            for p, pool in enumerate(POOLS)
        },
        "deals_won": _per_window(signed, n),
        "deals_lost": _per_window(exited, n),
        "deals_open": _by_end(arrived, n) - _by_end(signed, n) - _by_end(exited, n),
        "executive_days_per_month": (
            busy[_EXECUTIVES] * DAYS_PER_MONTH / executives if executives else np.full(n, NAN)
        ),
        **{
            f"util_{pool}": busy[p] / rec.capacity[p] if rec.capacity[p] else np.full(n, NAN)
            for p, pool in enumerate(POOLS)
        },
    }


def _kpi_table(
    facts: _Facts, edges: np.ndarray[Any, Any], columns: tuple[str, ...], **keys: Any
) -> pd.DataFrame:
    """One row per window: the replication's keys, ``keys`` (one value per window) and
    every KPI; counts as integers.

    The rows are filled into one numpy record array and handed to pandas once: a DataFrame
    built from a dict of some fifty one-row columns costs several times the KPIs themselves.
    """
    n = len(edges) - 1
    rec = facts.rec
    values = _kpis(facts, edges)
    if list(values) != list(KPIS):
        raise TypeError("kamsim.results._kpis computes other KPIs than kamsim.kpis.KPIS lists")
    if len(columns) != len(KEY_COLUMNS) + len(keys) + len(values):
        raise TypeError(f"a KPI table's columns are {columns}, not the keys and KPIs given")
    rows = np.empty(n, dtype=_row_dtype(columns))
    rows["replication"] = rec.replication
    rows["seed"] = rec.seed
    for name, value in chain(keys.items(), values.items()):
        rows[name] = value
    return pd.DataFrame(rows)


@cache
def _row_dtype(columns: tuple[str, ...]) -> np.dtype[np.void]:
    """The record type of a KPI table's rows: keys and counts as int64, the rest float."""
    integer = _INTEGER | {*KEY_COLUMNS, YEAR_COLUMN}
    return np.dtype([(c, np.int64 if c in integer else np.float64) for c in columns])


def _year_edges(start: dt.date, span: float) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The calendar years the run touches: their edges in days from the start (the first
    and the last cut at the run's ends) and their numbers."""
    edges, years = [0.0], [start.year]
    for year in range(start.year + 1, dt.MAXYEAR + 1):
        day = float((dt.date(year, 1, 1) - start).days)
        if day >= span:
            break
        edges.append(day)
        years.append(year)
    edges.append(span)
    return np.array(edges), np.array(years, dtype=np.int64)


def build_result(rec: Records) -> Result:
    """Every table of one replication."""
    events, visits, holds = _events(rec)
    deals = _deals(rec, holds)
    _, kinds, times, amounts = _flat(rec.money, 4)
    money = (kinds, times, amounts)
    levels = _Levels(rec.levels)
    ts = _timeseries(rec, money, levels)
    facts = _Facts.of(rec, deals, visits, holds, money, levels, ts)
    window = np.array([rec.scenario.calendar.warmup_days, rec.span])
    years, numbers = _year_edges(rec.scenario.calendar.start, rec.span)
    kpis = _kpi_table(facts, window, KPI_COLUMNS)
    by_year = _kpi_table(facts, years, KPIS_BY_YEAR_COLUMNS, **{YEAR_COLUMN: numbers})
    return Result(rec.scenario, rec.seed, deals, events, ts, kpis, by_year)


def concat_results(results: list[Result]) -> Result:
    """Stack the tables of several replications of one scenario (in replication order)."""
    if not results:
        raise ValueError("no results to combine")
    first = results[0]
    for r in results[1:]:
        if r.scenario != first.scenario or r.seed != first.seed:
            raise ValueError(
                "concat_results stacks replications of one scenario and seed; for several "
                "variants use kamsim.experiment, whose tables carry a variant column"
            )
    stacked = {
        name: pd.concat([getattr(r, name) for r in results], ignore_index=True) for name in TABLES
    }
    return Result(first.scenario, first.seed, **stacked)
