"""Every deal's luck, drawn in vectorised blocks before the deal needs it.

Common random numbers: deal k's grade, account, value, margin, every stage's duration and pass
draw and its payment lags come from per-purpose streams, row k of a block drawn in arrival
order. A variant that changes staffing, policy or pass probabilities leaves these draws alone,
so a paired comparison meets the same customers with the same luck. Blocks are converted to
Python lists once, because the event loop indexes them one deal at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.vocabulary import DAYS_PER_MONTH, STAGES, GradeKey


def arrival_times(scenario: Scenario, streams: Streams) -> list[float]:
    """Poisson lead arrivals until ``arrivals_until``, with calendar-month seasonality.

    The rate is piecewise constant over model months (365/12 days); each month's count is
    Poisson and its arrivals are uniform inside it, which is exactly a non-homogeneous Poisson
    process with that rate.
    """
    arr = scenario.arrivals
    until = scenario.calendar.arrivals_until_days
    n_months = int(np.ceil(until / DAYS_PER_MONTH - 1e-12))
    if n_months == 0 or arr.rate_per_month == 0:
        return []
    starts = np.arange(n_months) * DAYS_PER_MONTH
    lengths = np.minimum(starts + DAYS_PER_MONTH, until) - starts
    factors = np.ones(12)
    if arr.seasonality is not None:
        factors = np.asarray(arr.seasonality, dtype=float)
        factors = factors * 12 / factors.sum()
    month_of_year = (scenario.calendar.start.month - 1 + np.arange(n_months)) % 12
    rates = arr.rate_per_month / DAYS_PER_MONTH * factors[month_of_year]
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
    """``lag[milestone][k]``: days from milestone to cash (signing, delivery, acceptance)."""
    access: list[bool] | None = None
    champion_until: list[float] | None = None
    """Time the champion is lost (-inf: never had one)."""
    executive: list[bool] | None = None
    competitors: list[int] | None = None
    shape_u: list[float] | None = None
    withdraw_u: list[float] | None = None
    price_discount: list[float] | None = None
    visit: list[float] | None = None
    """Executive visit duration."""
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
        scenario: Scenario,
        streams: Streams,
        n: int,
        prefix: str = "",
        grade: np.ndarray[Any, Any] | None = None,
    ) -> DealDraws:
        """Draw ``n`` deals' inputs from the streams named ``prefix + purpose``.

        ``grade`` fixes the grades (follow-on leads keep their account's grade).
        """

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
        durations = [scenario.stages[s].duration.sample(rng(f"duration.{s}"), n) for s in STAGES]
        impl = scenario.implementation
        work = durations[-1]
        if impl.value_elasticity:
            work = work * (np.maximum(value, 0) / impl.reference_value) ** impl.value_elasticity
        change_orders = None
        if impl.change_orders_per_month > 0:
            mean = impl.change_orders_per_month * work / DAYS_PER_MONTH
            counts = rng("change_orders").poisson(mean)
            work = work + counts * impl.change_order_days
            change_orders = counts.tolist()
        durations[-1] = work
        lag_rng = rng("payment_lag")
        lag = [scenario.payments.lag_days.sample(lag_rng, n).tolist() for _ in range(3)]
        out = cls(
            grade=grade.tolist(),
            account=account.astype(int).tolist(),
            value=value.tolist(),
            margin=margin.tolist(),
            duration=[d.tolist() for d in durations],
            pass_u=[rng(f"pass.{s}").uniform(size=n).tolist() for s in STAGES],
            lag=lag,
            change_orders=change_orders,
        )
        out._draw_mechanisms(scenario, rng, n, grade)
        return out

    def _draw_mechanisms(
        self,
        scenario: Scenario,
        rng: Callable[[str], np.random.Generator],
        n: int,
        grade: np.ndarray[Any, Any],
    ) -> None:
        grades = scenario.grade_keys

        def by_grade(table: dict[GradeKey, float]) -> np.ndarray[Any, Any]:
            per_grade: np.ndarray[Any, Any] = np.array([table.get(g, 0.0) for g in grades])
            return np.asarray(per_grade[grade])

        rel = scenario.relationship
        if any(rel.access_probability.values()):
            u = rng("relationship.access").uniform(size=n)
            self.access = (u < by_grade(rel.access_probability)).tolist()
        if any(rel.champion_probability.values()):
            has = rng("relationship.champion").uniform(size=n) < by_grade(rel.champion_probability)
            loss = np.full(n, np.inf)
            if rel.champion_loss_per_year > 0:
                loss = rng("relationship.champion_loss").exponential(
                    365.0 / rel.champion_loss_per_year, n
                )
            self.champion_until = np.where(has, loss, -np.inf).tolist()
        if any(rel.executive_probability.values()):
            u = rng("relationship.executive").uniform(size=n)
            self.executive = (u < by_grade(rel.executive_probability)).tolist()
        pol = scenario.policy
        if pol.executive_engagement != "none" or pol.pipeline_review.action == "rescue":
            self.visit = rel.executive_visit_days.sample(rng("executive_visit"), n).tolist()
        comp = scenario.competition
        if any(scenario.stages[s].odds.competitor != 1.0 for s in STAGES):
            rivals = comp.competitors.sample(rng("competitors"), n)
            self.competitors = np.floor(rivals).astype(int).tolist()
        if any(comp.shaping_probability.values()):
            self.shape_u = rng("shaping").uniform(size=n).tolist()
        if comp.withdraw_probability > 0:
            self.withdraw_u = rng("withdraw").uniform(size=n).tolist()
        if comp.price_fight_discount.mean > 0:
            self.price_discount = comp.price_fight_discount.sample(
                rng("price_fight_discount"), n
            ).tolist()
        patience = [
            None
            if (p := scenario.stages[s].patience) is None
            else p.sample(rng(f"patience.{s}"), n).tolist()
            for s in STAGES
        ]
        if any(p is not None for p in patience):
            self.patience = patience
        if scenario.contract.approval_days is not None:
            self.approval = scenario.contract.approval_days.sample(
                rng("contract_approval"), n
            ).tolist()
        delay = scenario.implementation.acceptance_delay_days
        if delay.mean > 0:
            self.acceptance_delay = delay.sample(rng("acceptance_delay"), n).tolist()
        rep = scenario.repeat
        if rep.probability > 0:
            self.repeat_u = rng("repeat.decision").uniform(size=n).tolist()
            self.repeat_delay = rep.delay_days.sample(rng("repeat.delay"), n).tolist()
