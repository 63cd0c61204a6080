"""The engine stays finite and prompt at the edges of what validation accepts.

- A drained run stops at the horizon + 600 months (months of 365/12 days); deals still in
  progress then stay open, and a run whose deals all leave earlier ends when the last leaves.
- Chances with any number of rivals and any odds ratio are valid probabilities.
- Period clocks (closing pace, acceptance pace) finish any amount of work in a few steps,
  never go back in time, and agree with a plain month-by-month walk of the calendar.
"""

from __future__ import annotations

import math
import time
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from constants import BASELINE, DAYS_PER_MONTH, POOLS
from invariants import check_kpi_values, check_kpis
from mechanics_helpers import batch, fixed, sim

import kamsim
from kamsim.model import Rules, World
from kamsim.model.deal import Deal
from kamsim.model.decisions import log_ratio, stage_log_odds, with_log_odds
from kamsim.model.draws import DealDraws
from kamsim.model.periods import PeriodClock
from kamsim.rng import Streams

M = DAYS_PER_MONTH
DRAIN_MONTHS = 600
"""Documented cap of a drain, in months past the horizon."""
MAX_RIVALS = 100
"""Documented most rivals a deal can draw."""
HORIZON_MONTHS = 12
CAP = (HORIZON_MONTHS + DRAIN_MONTHS) * M


def _drained(*overrides: str) -> kamsim.Scenario:
    return kamsim.load_scenario(
        BASELINE,
        [
            f"calendar.horizon_months={HORIZON_MONTHS}",
            "calendar.warmup_months=0",
            "calendar.arrivals_until_months=6",
            "calendar.drain=true",
            *overrides,
        ],
    )


def _span(result: kamsim.Result) -> float:
    """Run length in days, read back from the cost of sale (headcount x monthly cost x
    months of the run)."""
    res = result.scenario.resources
    per_month = float(sum(getattr(res, p).headcount * getattr(res, p).monthly_cost for p in POOLS))
    return float(result.kpis["cost_of_sale"].iloc[0]) / per_month * M


def _assert_finite(result: kamsim.Result) -> None:
    for name, table in result.tables().items():
        numbers = table.select_dtypes("number").to_numpy(float)
        assert not np.isinf(numbers).any(), name
    check_kpis(result.scenario, result.kpis.iloc[0])  # NaN only where a KPI is undefined
    for _, row in result.kpis_by_year.drop(columns="year").iterrows():
        check_kpi_values(row)


# -- drain cap ---------------------------------------------------------------------------------

# Implementation far longer than the cap: a century (the longest mean validation accepts),
# and a lognormal so skewed that single draws run to billions of days.
LONG_IMPLEMENTATIONS = {
    "century": 'stages.implementation.duration={dist="fixed", value=36500.0}',
    "skewed": 'stages.implementation.duration={dist="lognormal", mean=36500.0, cv=100.0}',
}


@pytest.mark.parametrize("case", sorted(LONG_IMPLEMENTATIONS))
def test_a_drain_stops_at_the_cap_with_deals_still_open(case: str) -> None:
    scenario = _drained(LONG_IMPLEMENTATIONS[case], "implementation.value_elasticity=0.0")
    began = time.perf_counter()
    result = kamsim.simulate(scenario, seed=5)
    assert time.perf_counter() - began < 30.0
    assert _span(result) == pytest.approx(CAP, rel=1e-12)
    assert len(result.timeseries) == HORIZON_MONTHS + DRAIN_MONTHS
    ev = result.events
    impl = ev[ev["pool"].isna() & (ev["stage"] == "implementation")]
    still = impl[impl["result"] == "open"]
    if case == "century":
        assert len(impl) > 10
        assert len(still) == len(impl), "a century of work cannot end within the cap"
    else:
        assert len(still) > 0
    deals = result.deals.set_index("deal_id").loc[still["deal_id"]]
    assert deals["accepted_at"].isna().all()
    assert (deals["outcome"] == "won").all()
    assert ev.loc[ev["result"] != "open", "ended_at"].max() <= CAP
    _assert_finite(result)


def test_value_scaled_work_beyond_any_calendar_stays_finite() -> None:
    """Implementation work scaled by (value / reference)^2 with a 1e12 deal and a reference
    of 1 runs to about 1e26 days, with change orders expected at 30 a month: the run still
    drains to the cap with finite tables."""
    scenario = _drained(
        "implementation.value_elasticity=2.0",
        "implementation.reference_value=1.0",
        "implementation.change_orders_per_month=30.0",
        'grades.A.value={dist="fixed", value=1e12}',
    )
    result = kamsim.simulate(scenario, seed=1)
    assert _span(result) == pytest.approx(CAP, rel=1e-12)
    _assert_finite(result)


def test_a_drain_that_empties_ends_when_the_last_deal_leaves() -> None:
    result = kamsim.simulate(_drained(), seed=5)
    last = float(result.deals["closed_at"].max())
    assert HORIZON_MONTHS * M < last < CAP
    assert (result.deals["outcome"] != "open").all()
    assert _span(result) == pytest.approx(last, rel=1e-12)


# -- odds --------------------------------------------------------------------------------------

EXTREME_LOG_ODDS = [
    -math.inf,
    -1e308,
    -(1e6 - 1) * math.log(1000.0),
    -745.2,
    -1.0,
    0.0,
    1.0,
    745.2,
    (1e6 - 1) * math.log(1000.0),
    1e308,
    math.inf,
]


@pytest.mark.parametrize("p", [0.0, 1e-300, 1e-9, 0.3, 0.5, 1 - 1e-12, 1.0])
def test_a_chance_with_any_odds_is_a_probability(p: float) -> None:
    chances = [with_log_odds(p, x) for x in EXTREME_LOG_ODDS]
    assert all(0.0 <= c <= 1.0 for c in chances), chances
    assert chances == sorted(chances), "a larger odds ratio never lowers the chance"
    if p in (0.0, 1.0):
        assert all(c == p for c in chances), "certain outcomes stay certain"
    assert with_log_odds(p, 0.0) == pytest.approx(p, rel=1e-15)
    if 0.0 < p < 1.0:
        assert with_log_odds(p, math.log(3.0)) == pytest.approx(3 * p / (1 - p + 3 * p))


@pytest.mark.parametrize("ratio", [0.0, 1e-320, 1e-300, 1.0, 1e300, math.inf])
def test_log_ratios_are_finite(ratio: float) -> None:
    x = log_ratio(ratio)
    assert math.isfinite(x)
    assert (x > 0) == (ratio > 1.0) and (x < 0) == (ratio < 1.0)


class _Constant:
    """A distribution stand-in that always draws ``value`` (bypasses validation)."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.mean = value

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
        return np.full(n, self.value)


def _rivals(scenario: kamsim.Scenario, count: float) -> kamsim.Scenario:
    competition = scenario.competition.model_copy(update={"competitors": _Constant(count)})
    return scenario.model_copy(update={"competition": competition})


@pytest.mark.parametrize("ratio", [1e-3, 1e3])
def test_a_million_rivals_give_a_valid_chance(ratio: float) -> None:
    scenario = kamsim.load_scenario(
        BASELINE,
        [
            f"calendar.horizon_months={HORIZON_MONTHS}",
            "calendar.warmup_months=0",
            *(f"stages.{s}.odds.competitor={ratio}" for s in ("tender", "negotiation")),
        ],
    )
    # Draws are capped at the documented most rivals.
    draws = DealDraws.draw(Rules(_rivals(scenario, 1e6)), Streams(1, 0), 20)
    assert draws.competitors == [MAX_RIVALS] * 20
    # The chance itself stays valid for any count, even one no draw can reach.
    world = World(scenario, 1, 0)
    deal = Deal(0, 0, world.follow_ons.new_leads, 0, 0, 1.0, 0.2, 0.0)
    deal.competitors = 10**6
    tender = 3
    logs = world.effects.log_odds[tender]
    assert logs is not None
    x = stage_log_odds(deal, logs, 0.0)
    assert math.isfinite(x)
    chance = with_log_odds(0.5, x)
    assert (chance < 1e-300) if ratio < 1 else (chance == 1.0)
    # And a run where every deal has the most rivals completes with finite tables.
    result = kamsim.simulate(_rivals(scenario, 1e6), seed=2)
    _assert_finite(result)


# -- period clocks -----------------------------------------------------------------------------

PACES = {
    "baseline": [],
    "extreme": [
        "period_end.window_days=30.0",
        "period_end.month.intensity=0.01",
        "period_end.quarter.intensity=100.0",
        "period_end.year.intensity=0.5",
        "period_end.acceptance_pace="
        "[0.01, 100.0, 0.01, 1.0, 1.0, 0.5, 0.5, 2.0, 0.01, 3.0, 9.0, 0.2]",
    ],
}


def _clock(case: str, start_month: int = 4) -> tuple[PeriodClock, Any]:
    spec = kamsim.load_scenario(BASELINE, PACES[case]).period_end
    return PeriodClock(spec, start_month), spec


def _reference(t0: float, work: float, pace_of: Any, window: float) -> float:
    """Month-by-month walk of a piecewise-constant pace: pace 1 until the last ``window``
    days of each model month, ``pace_of(month index)`` inside them."""
    t, left = t0, work
    m = math.floor(t0 / M)
    while True:
        end = (m + 1) * M
        for a, b, pace in ((m * M, end - window, 1.0), (end - window, end, pace_of(m))):
            a = max(a, t)
            if b <= a:
                continue
            if left <= pace * (b - a):
                return a + left / pace
            left -= pace * (b - a)
            t = b
        m += 1


def _close_pace(spec: Any, start_month: int) -> Any:
    def pace(m: int) -> float:
        calendar = (start_month - 1 + m) % 12  # 0 = January
        if calendar == 11:
            return float(spec.year.intensity)
        if calendar % 3 == 2:
            return float(spec.quarter.intensity)
        return float(spec.month.intensity)

    return pace


def _accept_pace(spec: Any, start_month: int) -> Any:
    return lambda m: float(spec.acceptance_pace[(start_month - 1 + m) % 12])


@pytest.mark.parametrize("case", sorted(PACES))
def test_period_clocks_agree_with_a_month_by_month_walk(case: str) -> None:
    clock, spec = _clock(case)
    rng = np.random.default_rng(7)
    starts = np.concatenate([rng.uniform(0, 3000, 300), np.arange(0, 400) * M])
    works = np.concatenate([rng.exponential(60.0, 300), rng.uniform(0, 3 * 365, 400)])
    for t0, work in zip(starts, works, strict=True):
        close = _reference(t0, work, _close_pace(spec, 4), spec.window_days)
        accept = _reference(t0, work, _accept_pace(spec, 4), M)
        assert clock.close_at(t0, work) == pytest.approx(close, rel=1e-9, abs=1e-7)
        assert clock.accept_at(t0, work) == pytest.approx(accept, rel=1e-9, abs=1e-7)


HUGE_WORKS = [0.0, 1e-9, 1.0, 30.0, 365.0, 1e3, 1e5, 1e9, 1e15, 1e100, 1e300]


@pytest.mark.parametrize("case", sorted(PACES))
@pytest.mark.parametrize("t0", [0.0, 17.3, 36_500.0, 1e9])
def test_period_clocks_finish_any_work_promptly_and_in_order(case: str, t0: float) -> None:
    clock, _ = _clock(case)
    for at in (clock.close_at, clock.accept_at):
        began = time.perf_counter()
        ends = [at(t0, w) for w in HUGE_WORKS]
        # A month-by-month walk would take years of CPU for 1e300 days; a few steps a call
        # take well under a millisecond.
        assert time.perf_counter() - began < 0.5
        assert all(math.isfinite(e) for e in ends)
        assert ends[0] == t0
        assert all(e >= t0 for e in ends)
        assert ends == sorted(ends), ends
        assert all(b > a for a, b in pairwise(ends[2:])), ends


@pytest.mark.parametrize("t0", [1e15, 1e17, 1e300])
def test_period_clocks_advance_where_month_ends_round(t0: float) -> None:
    """Far beyond any calendar a month boundary can round to the start time itself; the
    clock must still return, and not before it started."""
    clock, _ = _clock("extreme")
    for at in (clock.close_at, clock.accept_at):
        for w in (1.0, 1e9, 1e300):
            assert at(t0, w) >= t0


# -- deal ids ----------------------------------------------------------------------------------


def test_too_many_new_leads_for_the_id_scheme_stop_before_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ids of follow-on leads are their parents' plus a stride, so a replication with as many
    new leads as the stride must refuse to start (validation keeps real runs far below the
    real stride; a small stride stands in for it here)."""
    import kamsim.model.follow_ons as follow_ons

    monkeypatch.setattr(follow_ons, "FOLLOW_ON_ID_STRIDE", 10)
    scenario = kamsim.load_scenario(
        BASELINE, [f"calendar.horizon_months={HORIZON_MONTHS}", "calendar.warmup_months=0"]
    )
    with pytest.raises(ValueError, match="new leads"):
        World(scenario, 1, 0)


def test_follow_on_chains_stop_after_twenty_generations() -> None:
    """Instant stages, certain follow-ons, no delay: every chain would loop at one instant;
    it stops after the documented 20 generations, and ids tell each deal's generation and
    chain (id // 10,000,000 and id % 10,000,000)."""
    scenario = batch(
        40.0,
        relationship={"executive_probability": {"A": 1.0}},
        repeat={"probability": 1.0, "delay_days": fixed(0.0)},
    )
    deals = sim(scenario, seed=3).deals.set_index("deal_id")
    stride = 10_000_000
    generation, chain = np.divmod(deals.index.to_numpy(), stride)
    new = deals[generation == 0]
    assert len(new) > 10
    assert generation.max() == 20
    assert len(deals) == 21 * len(new)
    assert set(chain) == set(new.index)
    children = deals[generation > 0]
    np.testing.assert_array_equal(
        children["repeat_of"].astype(np.int64).to_numpy(), children.index.to_numpy() - stride
    )
    roots = new.loc[children.index.to_numpy() % stride]
    assert (children["account_id"].to_numpy() == roots["account_id"].to_numpy()).all()
