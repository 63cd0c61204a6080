"""Every deal's luck, drawn in vectorised blocks before the deal needs it.

Common random numbers: deal k's grade, account, value, margin, every stage's duration and pass
draw and its payment lags come from per-purpose streams, row k of a block drawn in arrival
order. A variant that changes staffing, policy or pass probabilities leaves these draws alone,
so a paired comparison meets the same customers with the same luck. Blocks are converted to
Python lists once, because the event loop indexes them one deal at a time.

Follow-on leads (repeat business) are keyed the same way, by chain rather than by arrival:
generation g of follow-ons is one ``DrawBlock`` of ``n`` rows (one per new lead, with the new
leads' grades), drawn from the streams ``repeat.<g>.<purpose>`` when generation g is first
needed. The follow-on in the chain new lead k started uses row k of its generation's block,
and its id is its parent's plus ``FOLLOW_ON_ID_STRIDE`` (so ``id % stride`` is k and
``id // stride`` is g). Row k depends on nothing but (seed, replication, g, k): whichever other
follow-ons a variant produces, this one meets the same luck. A generation costs one set of
streams, not one per follow-on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kamsim.limits import MAX_CHANGE_ORDERS, MAX_COMPETITORS
from kamsim.model.switches import Switches
from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.vocabulary import DAYS_PER_MONTH, STAGES, GradeKey

NO_CHAMPION = -np.inf
"""Drawn champion loss time of a deal that never had a champion."""


class Rules(Protocol):
    """What the draws read of the rules: the scenario and its switches."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def switches(self) -> Switches: ...


def arrival_times(scenario: Scenario, streams: Streams) -> list[float]:
    """Poisson lead arrivals until ``arrivals_until``, with calendar-month seasonality.

    The rate is piecewise constant over model months (365/12 days); each month's count is
    Poisson and its arrivals are uniform inside it, which is exactly a non-homogeneous Poisson
    process with that rate.
    """
    starts, lengths, rates = scenario.arrival_months()
    if len(starts) == 0 or scenario.arrivals.rate_per_month == 0:
        return []
    rng = streams("arrivals")
    counts = rng.poisson(rates * lengths)
    offsets = rng.uniform(size=int(counts.sum()))
    times = np.sort(np.repeat(starts, counts) + offsets * np.repeat(lengths, counts))
    return [float(t) for t in times]


@dataclass(slots=True)
class DealDraws:
    """Random inputs of a block of deals; ``[k]`` of each list belongs to deal k of the block.

    Inputs of a mechanism that is off are ``None``: they are never drawn, which costs nothing
    and, since every purpose has its own stream, shifts no other draw.
    """

    grade: list[int]
    account: list[int]
    value: list[float]
    margin: list[float]
    duration: list[list[float]]
    """``duration[stage][k]``: working time of deal k in that stage, in days (implementation
    already scaled by contract value and extended by change orders' work)."""
    pass_u: list[list[float]]
    """``pass_u[stage][k]``: uniform compared with the stage's pass probability."""
    lag: list[list[float]]
    """``lag[milestone][k]``: days from milestone to cash (signing, delivery, acceptance, and
    with a retention, its defect period plus a lag)."""
    access: list[bool] | None = None
    champion_until: list[float] | None = None
    """Days from arrival until the champion is lost (``NO_CHAMPION``: never had one)."""
    executive: list[bool] | None = None
    competitors: list[int] | None = None
    shape_u: list[float] | None = None
    withdraw_u: list[float] | None = None
    no_bid_u: list[float] | None = None
    price_discount: list[float] | None = None
    visit: list[float] | None = None
    """Executive visit effort (days of an executive's time)."""
    tie_loss: list[float] | None = None
    """Days an account tie built by this deal's visit lasts."""
    patience: list[list[float] | None] | None = None
    """``patience[stage][k]`` for stages with a patience distribution."""
    change_orders: list[int] | None = None
    approval: list[float] | None = None
    """Contract approval duration."""
    acceptance_delay: list[float] | None = None
    repeat_u: list[float] | None = None
    repeat_delay: list[float] | None = None

    @classmethod
    def draw(
        cls,
        rules: Rules,
        streams: Streams,
        n: int,
        prefix: str = "",
        grade: np.ndarray[Any, Any] | None = None,
        value: np.ndarray[Any, Any] | None = None,
    ) -> DealDraws:
        """Draw ``n`` deals' inputs from the streams named ``prefix + purpose``.

        ``grade`` fixes the grades (follow-on leads keep their account's grade); ``value``
        fixes the contract values where it is not NaN (open deals whose value is known), and
        what depends on the value (implementation work) follows it. Neither changes a stream:
        the values are still drawn, then replaced.
        """
        return cls(**{k: _lists(v) for k, v in _draw(rules, streams, n, prefix, grade, value)})


class DrawBlock:
    """A block of deals' random inputs kept as arrays, handed out one deal at a time.

    Follow-on leads use it: generation g of follow-ons is one block with a row per new lead,
    and ``row(k)`` is the inputs of the follow-on in the chain new lead k started. The block
    is stored as one matrix per kind of number (float, int, bool) with a column per input, so
    a row costs three conversions, not one per input, and the rows no follow-on uses are never
    turned into Python objects (an eighth of the memory of lists).
    """

    __slots__ = ("_layout", "_matrices")

    def __init__(
        self,
        rules: Rules,
        streams: Streams,
        n: int,
        prefix: str,
        grade: np.ndarray[Any, Any],
    ) -> None:
        """Draw the block as ``DealDraws.draw`` would (same streams, same numbers)."""
        columns: dict[str, list[np.ndarray[Any, Any]]] = {"f": [], "i": [], "b": []}

        def place(a: np.ndarray[Any, Any] | None) -> tuple[str, int] | None:
            """Add an input's column to its matrix; where to find it again."""
            if a is None:
                return None
            kind = "b" if a.dtype.kind == "b" else "i" if a.dtype.kind in "iu" else "f"
            columns[kind].append(a)
            return kind, len(columns[kind]) - 1

        self._layout: list[tuple[str, Any]] = []
        for name, v in _draw(rules, streams, n, prefix, grade):
            if v is not None:
                self._layout.append(
                    (name, [place(a) for a in v] if isinstance(v, list) else place(v))
                )
        self._matrices = {
            kind: np.column_stack(cols) if cols else np.empty((n, 0))
            for kind, cols in columns.items()
        }

    def row(self, k: int) -> DealDraws:
        """Inputs of the block's deal ``k``, as a one-deal ``DealDraws`` (its row 0)."""
        rows = {kind: m[k].tolist() for kind, m in self._matrices.items()}
        fields: dict[str, Any] = {}
        for name, where in self._layout:
            if isinstance(where, list):
                fields[name] = [None if w is None else [rows[w[0]][w[1]]] for w in where]
            else:
                fields[name] = [rows[where[0]][where[1]]]
        return DealDraws(**fields)


def _lists(v: Any) -> Any:
    """Arrays (possibly in lists, or None) as Python lists."""
    if v is None:
        return None
    if isinstance(v, list):
        return [_lists(a) for a in v]
    return v.tolist()


def _draw(
    rules: Rules,
    streams: Streams,
    n: int,
    prefix: str,
    grade: np.ndarray[Any, Any] | None,
    known: np.ndarray[Any, Any] | None = None,
) -> Iterator[tuple[str, Any]]:
    """``(field of DealDraws, array or list of arrays)`` of ``n`` deals; see ``DealDraws``
    (``known``: its ``value``)."""
    scenario = rules.scenario

    def rng(purpose: str) -> np.random.Generator:
        return streams(prefix + purpose)

    grades = scenario.grade_keys
    if grade is None:
        shares = np.cumsum([scenario.grades[g].share for g in grades])
        shares[-1] = np.inf  # rounding in the shares never leaves a deal without a grade
        grade = np.searchsorted(shares, rng("grade").uniform(size=n), side="right")
    accounts = np.array([scenario.grades[g].accounts for g in grades])
    account = np.floor(rng("account").uniform(size=n) * accounts[grade])
    value = np.empty(n)
    margin = np.empty(n)
    for i, g in enumerate(grades):
        spec = scenario.grades[g]
        mask = grade == i
        # Each grade samples a full block so one grade's draws never shift another's.
        value[mask] = spec.value.sample(rng(f"value.{g}"), n)[mask]
        margin[mask] = spec.margin.sample(rng(f"margin.{g}"), n)[mask]
    if known is not None:
        value = np.where(np.isnan(known), value, known)
    durations = [scenario.stages[s].duration.sample(rng(f"duration.{s}"), n) for s in STAGES]
    impl = scenario.implementation
    work = durations[-1]
    if impl.value_elasticity:
        work = work * (np.maximum(value, 0) / impl.reference_value) ** impl.value_elasticity
    change_orders = None
    if rules.switches.change_orders:
        mean = np.minimum(impl.change_orders_per_month * work / DAYS_PER_MONTH, MAX_CHANGE_ORDERS)
        change_orders = rng("change_orders").poisson(mean)
        work = work + change_orders * impl.change_order_days
    durations[-1] = work
    lag_rng = rng("payment_lag")
    yield "grade", grade
    yield "account", account.astype(int)
    yield "value", value
    yield "margin", margin
    yield "duration", durations
    yield "pass_u", [rng(f"pass.{s}").uniform(size=n) for s in STAGES]
    pay = scenario.payments
    lags = [pay.lag_days.sample(lag_rng, n) for _ in range(3)]
    if rules.switches.retention:
        retained = pay.retention_days.sample(rng("retention"), n)
        lags.append(retained + pay.lag_days.sample(lag_rng, n))
    yield "lag", lags
    yield "change_orders", change_orders
    yield from _draw_mechanisms(rules, rng, n, grade)


def _draw_mechanisms(
    rules: Rules,
    rng: Callable[[str], np.random.Generator],
    n: int,
    grade: np.ndarray[Any, Any],
) -> Iterator[tuple[str, Any]]:
    """Inputs of the optional mechanisms that are on (the others keep their ``None``); the
    switches are the rules', so the engine's steps and these draws always agree."""
    scenario = rules.scenario
    on = rules.switches
    grades = scenario.grade_keys

    def by_grade(table: dict[GradeKey, float]) -> np.ndarray[Any, Any]:
        per_grade: np.ndarray[Any, Any] = np.array([table.get(g, 0.0) for g in grades])
        return np.asarray(per_grade[grade])

    rel = scenario.relationship
    if on.access:
        u = rng("relationship.access").uniform(size=n)
        yield "access", u < by_grade(rel.access_probability)
    if on.champion:
        has = rng("relationship.champion").uniform(size=n) < by_grade(rel.champion_probability)
        loss = np.full(n, np.inf)
        if on.champion_loss:
            loss = rng("relationship.champion_loss").exponential(
                365.0 / rel.champion_loss_per_year, n
            )
        yield "champion_until", np.where(has, loss, NO_CHAMPION)
    if on.executive:
        u = rng("relationship.executive").uniform(size=n)
        yield "executive", u < by_grade(rel.executive_probability)
    if on.visits:
        yield "visit", rel.executive_visit_days.sample(rng("executive_visit"), n)
    if on.tie_loss:
        yield "tie_loss", rng("relationship.tie_loss").exponential(365.0 / rel.tie_loss_per_year, n)
    comp = scenario.competition
    if on.competitors:
        rivals = comp.competitors.sample(rng("competitors"), n)
        yield "competitors", np.minimum(np.floor(rivals), MAX_COMPETITORS).astype(int)
    if on.shaping:
        yield "shape_u", rng("shaping").uniform(size=n)
    if on.withdraw:
        yield "withdraw_u", rng("withdraw").uniform(size=n)
    if on.no_bid:
        yield "no_bid_u", rng("no_bid").uniform(size=n)
    if on.price_fight:
        yield "price_discount", comp.price_fight_discount.sample(rng("price_fight_discount"), n)
    patience = [
        None if (p := scenario.stages[s].patience) is None else p.sample(rng(f"patience.{s}"), n)
        for s in STAGES
    ]
    if any(on.patience):
        yield "patience", patience
    if on.approval and scenario.contract.approval_days is not None:
        yield "approval", scenario.contract.approval_days.sample(rng("contract_approval"), n)
    delay = scenario.implementation.acceptance_delay_days
    if on.acceptance_delay:
        yield "acceptance_delay", delay.sample(rng("acceptance_delay"), n)
    rep = scenario.repeat
    if on.repeat:
        yield "repeat_u", rng("repeat.decision").uniform(size=n)
        yield "repeat_delay", rep.delay_days.sample(rng("repeat.delay"), n)
