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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from kamsim.kpis import KEY_COLUMNS, KPIS, kpi_columns
from kamsim.model.records import (
    BUSY0,
    MONEY_KINDS,
    NAN,
    QUEUE0,
    SERIES,
    WIP0,
    Records,
)
from kamsim.scenario import Scenario
from kamsim.tables import TABLES
from kamsim.vocabulary import DAYS_PER_MONTH, OUTCOMES, POOLS, STAGES

KPI_COLUMNS: tuple[str, ...] = kpi_columns()
"""The ``kpis`` table's columns, from the KPI registry (:mod:`kamsim.kpis`)."""

_STAGE_CAT = pd.CategoricalDtype(list(STAGES), ordered=True)
_POOL_CAT = pd.CategoricalDtype(list(POOLS))


@dataclass(frozen=True)
class Result:
    """Tables of one or more replications of one scenario: one attribute per table of
    :data:`kamsim.tables.TABLES`, in its order, after ``scenario`` and ``seed``."""

    scenario: Scenario
    seed: int
    deals: pd.DataFrame
    events: pd.DataFrame
    timeseries: pd.DataFrame
    kpis: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name, in the registry's order."""
        return {name: getattr(self, name) for name in TABLES}


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


def _integrate(
    levels: list[tuple[float, int, int]], edges: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Time-weighted average of every monitored series in each interval between edges.

    Returns shape (len(SERIES), len(edges) - 1). A level holds from its change time until the
    next change; before the first change it is zero.
    """
    out = np.zeros((len(SERIES), len(edges) - 1))
    if not levels:
        return out
    t_all, s_all, l_all = _flat(levels, 3)
    order = np.argsort(s_all, kind="stable")  # by series, in time order within each
    t_all, s_all, l_all = t_all[order], s_all[order].astype(np.int64), l_all[order]
    bounds = np.searchsorted(s_all, np.arange(len(SERIES) + 1))
    widths = np.diff(edges)
    widths[widths <= 0] = np.nan
    for sid in range(len(SERIES)):
        lo, hi = bounds[sid], bounds[sid + 1]
        if lo == hi:
            continue
        t, lv = t_all[lo:hi], l_all[lo:hi]
        area = np.concatenate(([0.0], np.cumsum(lv[:-1] * np.diff(t))))
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
    out = pd.DataFrame(
        {
            "replication": np.full(n, rec.replication, dtype=np.int64),
            "deal_id": ids,
            "account_id": [
                f"{grades[g]}-{a:04d}" for g, a in zip(cols.grade, cols.account, strict=True)
            ],
            "grade": pd.Categorical.from_codes(cols.grade, dtype=pd.CategoricalDtype(list(grades))),
            "value": floats(cols.value),
            "margin": margin,
            "arrived_at": floats(cols.arrived_at),
            "last_stage": pd.Categorical.from_codes(cols.last_stage, dtype=_STAGE_CAT),
            "outcome": pd.Categorical(cols.outcome, categories=list(OUTCOMES)),
            "exit_reason": pd.array(cols.exit_reason, dtype="string"),
            "signed_at": floats(cols.signed_at),
            "closed_at": floats(cols.closed_at),
            "booked_value": floats(cols.booked),
            "discount": 1.0 - price,
            "booked_margin": 1.0 - (1.0 - margin) / price,
            "repeat_of": pd.array(cols.parent, dtype="Int64"),
            "accepted_at": floats(cols.accepted_at),
            "cancelled": np.fromiter(cols.cancelled, dtype=bool, count=n),
        }
    )
    # A wait ends when granted, when the deal gave up (went cold, stalled) or at the end.
    until = np.where(np.isnan(holds["started"]), holds["ended"], holds["started"])
    wait = np.where(np.isnan(until), rec.span, until) - holds["queued"]
    row = np.searchsorted(ids, holds["deal_id"])  # ids are unique and sorted, not dense
    for p, pool in enumerate(POOLS):
        m = holds["pool"] == p
        waits = np.bincount(row[m], weights=wait[m], minlength=n)
        out[f"wait_{pool}"] = waits.astype(float)  # bincount of nothing is int
    return out


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


def _events(rec: Records) -> tuple[pd.DataFrame, dict[str, np.ndarray[Any, Any]]]:
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
                both["result"], dtype=pd.CategoricalDtype(rec.results)
            ),
        }
    )
    return events, holds


def _timeseries(rec: Records) -> pd.DataFrame:
    edges = _month_edges(rec.span)
    n = len(edges) - 1
    start = rec.scenario.calendar.start
    cols: dict[str, Any] = {
        "replication": np.full(n, rec.replication, dtype=np.int64),
        "month": np.arange(n, dtype=np.int64),
        "date": [start + dt.timedelta(days=float(e)) for e in edges[:-1]],
    }
    _, kinds, times, amounts = _flat(rec.money, 4)
    inside = times <= rec.span
    bins = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, n - 1)
    for kind, name in enumerate(MONEY_KINDS):
        m = inside & (kinds == kind)
        cols[name] = np.bincount(bins[m], weights=amounts[m], minlength=n).astype(float)
    avg = _integrate(rec.levels, edges)
    for s, stage in enumerate(STAGES):
        cols[f"wip_{stage}"] = avg[WIP0 + s]
    for p, pool in enumerate(POOLS):
        cap = rec.capacity[p]
        cols[f"util_{pool}"] = avg[BUSY0 + p] / cap if cap else np.full(n, NAN)
        cols[f"queue_{pool}"] = avg[QUEUE0 + p]
    out = pd.DataFrame(cols)
    return out


def _kpis(rec: Records, deals: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    won = deals["outcome"] == "won"
    n_won, n_lost = int(won.sum()), int((deals["outcome"] == "lost").sum())
    bookings = float(ts["bookings"].sum())
    gm = float((deals.loc[won, "booked_value"] * deals.loc[won, "booked_margin"]).sum())
    months = rec.span / DAYS_PER_MONTH
    cycle = deals.loc[won, "signed_at"] - deals.loc[won, "arrived_at"]
    res = rec.scenario.resources
    widths = np.diff(_month_edges(rec.span))
    row: dict[str, Any] = {
        "replication": rec.replication,
        "seed": rec.seed,
        "bookings": bookings,
        "revenue": float(ts["revenue"].sum()),
        "cash": float(ts["cash"].sum()),
        "gross_margin": gm,
        "gross_margin_pct": gm / bookings if bookings else NAN,
        "win_rate": n_won / (n_won + n_lost) if n_won + n_lost else NAN,
        "cycle_time_days": float(cycle.mean()) if n_won else NAN,
        "deals_won": n_won,
        "deals_lost": n_lost,
        "deals_open": int((deals["outcome"] == "open").sum()),
        "cost_of_sale": sum(res[p].headcount * res[p].monthly_cost for p in POOLS) * months,
    }
    for p, pool in enumerate(POOLS):
        col = ts[f"util_{pool}"].to_numpy()
        row[f"util_{pool}"] = float(np.dot(col, widths) / rec.span) if rec.capacity[p] else NAN
    kpis = pd.DataFrame([row], columns=list(KPI_COLUMNS))
    whole = [*KEY_COLUMNS, *(k.name for k in KPIS.values() if k.integer)]
    return kpis.astype(dict.fromkeys(whole, np.int64))


def build_result(rec: Records) -> Result:
    """All four tables of one replication."""
    events, holds = _events(rec)
    deals = _deals(rec, holds)
    ts = _timeseries(rec)
    return Result(rec.scenario, rec.seed, deals, events, ts, _kpis(rec, deals, ts))


def concat_results(results: list[Result]) -> Result:
    """Stack the tables of several replications of one scenario (in replication order)."""
    if not results:
        raise ValueError("no results to combine")
    first = results[0]
    stacked = {
        name: pd.concat([getattr(r, name) for r in results], ignore_index=True) for name in TABLES
    }
    return Result(first.scenario, first.seed, **stacked)
