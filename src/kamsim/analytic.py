"""``kamsim check``: the analytic view of a scenario, before any simulation.

What it reports:

1. The expected funnel per grade: deals entering, passing and leaving each stage per year,
   with every mechanism that changes a chance or adds work (odds ratios, shaping, the tender
   check, qualification, waiting costs, stall risk, focus, patience, reviews, executive visits,
   approvals and escalations, value-scaled implementation with change orders, repeat business,
   account ties), and expected leads, wins, bookings and cycle time per year; once with
   unlimited capacity (nobody waits) and once with the pools' queues.
2. Each pool as a queue: arrival rate and mean hold from the funnel give the offered load;
   Erlang C (Erlang A where customers' patience applies) gives P(wait), the mean wait and the
   mean queue; executives visited only when free (``executive_wait = "skip"``, rescues) are a
   loss system (Erlang B). Above 85% waits dominate (a warning); at or above 100% the queue
   grows without bound (customers' patience aside), and the wait is infinite.
3. A fixed point of the two (:mod:`kamsim.expected`): waits lower pass chances and make
   customers go cold, which lowers the load downstream. A pool at or above capacity without
   patience has no steady state: its wait is left out of the funnel.

Approximations (the notes list those that apply to a scenario): arrivals are Poisson at their
yearly mean (seasonal peaks wait longer than shown); holds enter the waits through their mean
and spread only (Allen-Cunneen); priority orders are read as first come, first served;
patience that is not exponential enters Erlang A by its mean; an account manager's active
deals spread half as much as a Poisson count; ties and follow-on chains are averaged over the
measured window. Extension steps are not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kamsim.distributions import Distribution, Exponential
from kamsim.expected import YEAR, Model, Solver, Totals
from kamsim.queueing import QueueFigures, erlang_b
from kamsim.scenario import Scenario
from kamsim.vocabulary import POOLS, STAGES

WAITS_DOMINATE = 0.85
"""Offered load per slot above which waits dominate (a warning)."""
OVERLOADED = 1.0
"""Offered load per slot at or above which the queue grows without bound (exit code 3)."""


@dataclass(frozen=True)
class Check:
    """The analytic view of a scenario: tidy tables and the notes on approximations.

    ``pools``: one row per pool (``pool, slots, arrivals_per_day, mean_hold_days,
    offered_load`` (per slot), ``utilisation_expected`` (carried, per slot), ``p_wait,
    mean_wait_days, mean_queue, p_abandon, method, status, warning``).
    ``funnel``: long table ``capacity`` (``unlimited``: no waits; ``queues``: the Erlang
    fixed point), ``grade`` (A-D or ``all``), ``stage``, ``flow`` (``entered``, ``passed`` or
    an exit reason), ``per_year``.
    ``summary``: ``capacity, measure, value`` (leads, wins, bookings per year; cycle time).
    ``assumptions``: the scenario's ``[assumptions]`` with their current values.
    """

    scenario: str
    currency: str
    pools: pd.DataFrame
    funnel: pd.DataFrame
    summary: pd.DataFrame
    assumptions: pd.DataFrame
    notes: tuple[str, ...]
    iterations: int

    @property
    def overloaded(self) -> bool:
        """Whether a pool is at or above capacity (``kamsim check`` exits 3)."""
        return bool((self.pools["offered_load"] >= OVERLOADED).any())

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.pools["warning"] if w]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (infinite waits as null)."""

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            out = []
            for row in df.to_dict("records"):
                out.append({str(k): _json(v) for k, v in row.items()})
            return out

        return {
            "scenario": self.scenario,
            "currency": self.currency,
            "overloaded": self.overloaded,
            "warnings": self.warnings,
            "pools": records(self.pools),
            "summary": records(self.summary),
            "funnel": records(self.funnel),
            "assumptions": records(self.assumptions),
            "notes": list(self.notes),
            "iterations": self.iterations,
        }

    def format(self, short: bool = False) -> str:
        """The panel: pools, yearly figures and warnings; unless ``short``, the funnel of all
        grades and the assumptions too."""
        lines = [
            f"check: {self.scenario} (analytic: the months after warm-up in steady state; "
            "Erlang waits are approximate)"
        ]
        s = self.summary.set_index(["capacity", "measure"])["value"]

        def fig(cap: str) -> str:
            return (
                f"{s[(cap, 'leads')]:,.0f} leads, {s[(cap, 'wins')]:,.1f} wins, "
                f"bookings {s[(cap, 'bookings')]:,.0f} {self.currency}, "
                f"cycle {s[(cap, 'cycle_time_days')]:,.0f} d"
            )

        lines.append(f"  per year with queues: {fig('queues')}")
        lines.append(f"  unlimited capacity:   {fig('unlimited')}")
        lines.append(
            f"  {'pool':<17}{'slots':>7}{'offered':>9}{'util':>7}{'P(wait)':>9}"
            f"{'wait d':>9}{'queue':>8}  method"
        )
        for r in self.pools.to_dict("records"):
            if r["slots"] == 0 and r["arrivals_per_day"] == 0:
                continue
            wait = r["mean_wait_days"]
            queue = r["mean_queue"]
            lines.append(
                f"  {r['pool']:<17}{r['slots']:>7,}{r['offered_load']:>9.2f}"
                f"{r['utilisation_expected']:>7.2f}{r['p_wait']:>9.2f}"
                f"{'inf' if math.isinf(wait) else f'{wait:.1f}':>9}"
                f"{'inf' if math.isinf(queue) else f'{queue:.1f}':>8}  {r['method']}"
            )
        lines.extend(f"  warning: {w}" for w in self.warnings)
        if short:
            return "\n".join(lines)
        f = self.funnel
        allq = f[(f["capacity"] == "queues") & (f["grade"] == "all")]
        lines.append("  funnel per year (all grades, with queues):")
        lines.append(f"  {'stage':<16}{'entered':>9}{'passed':>9}  exits")
        for stage in STAGES:
            rows = allq[allq["stage"] == stage].set_index("flow")["per_year"]
            if rows.empty:
                continue
            exits = ", ".join(
                f"{k} {v:,.1f}"
                for k, v in rows.items()
                if k not in ("entered", "passed") and v > 0.05
            )
            lines.append(
                f"  {stage:<16}{rows.get('entered', 0.0):>9,.1f}{rows.get('passed', 0.0):>9,.1f}"
                f"  {exits}"
            )
        if len(self.assumptions):
            lines.append("  assumptions (low .. high, source):")
            for a in self.assumptions.to_dict("records"):
                lines.append(
                    f"  {a['key']}: {a['value']} ({a['low']:g} .. {a['high']:g}, {a['source']})"
                )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _json(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        x = float(v)
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def check(scenario: Scenario) -> Check:
    """The analytic view of ``scenario`` (pure: no files, no simulation)."""
    solver = Solver(scenario)
    m = solver.model
    free, _, _, _ = solver.solve(queues=False)
    queued, figures, _, iterations = solver.solve(queues=True, start=free)
    pools = _pool_table(m, queued, figures)
    funnel, summary = _funnel_tables(m, {"unlimited": free, "queues": queued})
    return Check(
        scenario=scenario.name,
        currency=scenario.calendar.currency,
        pools=pools,
        funnel=funnel,
        summary=summary,
        assumptions=_assumption_table(scenario),
        notes=tuple(_notes(scenario)),
        iterations=iterations,
    )


def _pool_table(m: Model, t: Totals, figures: list[QueueFigures]) -> pd.DataFrame:
    rows = []
    for p, pool in enumerate(POOLS):
        c = m.capacity[p]
        lam = float(t.arrivals[p])
        hold = float(t.busy[p] / t.served[p]) if t.served[p] > 0 else 0.0
        offered = lam * hold / c if c else (math.inf if lam > 0 else 0.0)
        carried = float(t.busy[p]) / c if c else 0.0
        in_window = float(t.busy_window[p]) / c if c else 0.0
        fig = figures[p]
        loss_only = lam > 0 and t.loss_arrivals[p] >= lam * (1 - 1e-12)
        if loss_only:
            method = "Erlang B"
            pw = erlang_b(c, lam * hold)
            wait, queue, ab = 0.0, 0.0, 0.0
        else:
            method = "Erlang A" if t.hazard[p] > 0 else "Erlang C"
            pw, wait, queue, ab = fig.p_wait, fig.mean_wait, fig.mean_queue, fig.p_abandon
        status, warning = "ok", ""
        if c == 0:
            offered = math.nan  # only visits that skip when nobody is free can reach it
            if lam > 0:
                status, warning = "unstaffed", f"{pool} has no people: every visit is skipped"
        elif offered >= OVERLOADED:
            status = "overloaded"
            if method == "Erlang C":
                warning = f"{pool} offered load {offered:.2f} >= 1: the queue grows without bound"
            else:
                warning = (
                    f"{pool} offered load {offered:.2f} >= 1: over capacity "
                    f"({'visits skipped' if method == 'Erlang B' else 'customers go cold'})"
                )
        elif offered > WAITS_DOMINATE:
            status = "busy"
            warning = f"{pool} offered load {offered:.2f} > {WAITS_DOMINATE}: waits dominate"
        rows.append(
            {
                "pool": pool,
                "slots": c,
                "arrivals_per_day": lam,
                "mean_hold_days": hold,
                "offered_load": offered,
                "utilisation_expected": carried,
                "utilisation_window": in_window,
                "p_wait": pw,
                "mean_wait_days": wait,
                "mean_queue": queue,
                "p_abandon": ab,
                "method": method,
                "status": status,
                "warning": warning,
            }
        )
    return pd.DataFrame(rows)


def _funnel_tables(m: Model, runs: dict[str, Totals]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for cap, t in runs.items():
        per_grade: dict[str, dict[tuple[str, str], float]] = {}
        wins = bookings = cycle = leads = 0.0
        for (gi, _follow), fl in t.flows.items():
            rate = t.leads[(gi, _follow)] * YEAR
            g = m.grades[gi]
            acc = per_grade.setdefault(g, {})
            for s, key in enumerate(STAGES):
                for flow, v in (("entered", fl.entered[s]), ("passed", fl.passed[s])):
                    acc[(key, flow)] = acc.get((key, flow), 0.0) + rate * float(v)
                for reason, v in fl.exits[s].items():
                    acc[(key, reason)] = acc.get((key, reason), 0.0) + rate * v
            leads += rate
            wins += rate * fl.wins
            bookings += rate * fl.bookings
            cycle += rate * fl.cycle
        total: dict[tuple[str, str], float] = {}
        for grade, acc in per_grade.items():
            for (name, flow), v in acc.items():
                rows.append(
                    {"capacity": cap, "grade": grade, "stage": name, "flow": flow, "per_year": v}
                )
                total[(name, flow)] = total.get((name, flow), 0.0) + v
        for (name, flow), v in total.items():
            rows.append(
                {"capacity": cap, "grade": "all", "stage": name, "flow": flow, "per_year": v}
            )
        for measure, value in (
            ("leads", leads),
            ("wins", wins),
            ("bookings", bookings),
            ("cycle_time_days", cycle / wins if wins > 0 else math.nan),
        ):
            summary.append({"capacity": cap, "measure": measure, "value": value})
    funnel = pd.DataFrame(rows, columns=["capacity", "grade", "stage", "flow", "per_year"])
    order = {s: i for i, s in enumerate(STAGES)}
    funnel = funnel.sort_values(
        ["capacity", "grade", "stage", "flow"],
        key=lambda col: col.map(order) if col.name == "stage" else col,
        kind="stable",
    ).reset_index(drop=True)
    return funnel, pd.DataFrame(summary, columns=["capacity", "measure", "value"])


def _assumption_table(scenario: Scenario) -> pd.DataFrame:
    data = scenario.model_dump(mode="json", by_alias=True, exclude={"assumptions"})
    rows = []
    for key, a in scenario.assumptions.items():
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = _describe(node)
        rows.append({"key": key, "value": value, "low": a.low, "high": a.high, "source": a.source})
    return pd.DataFrame(rows, columns=["key", "value", "low", "high", "source"])


def _describe(node: Any) -> str:
    if isinstance(node, dict):
        return "{" + ", ".join(f"{k} = {_describe(v)}" for k, v in node.items()) + "}"
    if isinstance(node, float):
        return f"{node:g}"
    return str(node)


def _notes(scenario: Scenario) -> list[str]:
    notes = []
    if scenario.arrivals.seasonality is not None:
        notes.append("seasonal arrivals enter at their yearly mean; peak months wait longer")
    pr = scenario.policy.priority
    if pr.presales != "fifo" or pr.delivery != "fifo":
        notes.append("priority queues are read as first come, first served (same load)")
    if scenario.extensions:
        notes.append("extension steps are not modelled")
    if any(scenario.stages[s].month_of_quarter is not None for s in STAGES):
        notes.append("month-of-quarter effects are averaged over work started any day of the year")
    if any((p := scenario.stages[s].patience) is not None and not _exponential(p) for s in STAGES):
        notes.append("non-exponential patience enters Erlang A by its mean")
    return notes


def _exponential(d: Distribution) -> bool:
    return isinstance(d, Exponential)


__all__ = ["OVERLOADED", "WAITS_DOMINATE", "Check", "check"]
