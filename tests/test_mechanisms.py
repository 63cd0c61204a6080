"""Each key-account mechanism on a tiny scenario, against a hand-derived oracle.

Deterministic settings give exact checks; stochastic ones are compared with their closed form
through the suite's one rule (``helpers.assert_estimates``), whose observations are the deals'
own draws (independent, one per deal) or, for the queue, whole replications. Relationship
state is observed through pass draws with extreme odds ratios: with a base chance of 1e-9 and
an odds ratio of 1e15 a deal passes (up to a 1e-6 chance) exactly when it has the state.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from constants import DAYS_PER_MONTH as M
from helpers import assert_estimates
from mechanics_helpers import (
    batch,
    erlang_a_abandonment,
    fixed,
    holds,
    logistic_with_odds,
    reason_is,
    sim,
    stream,
    visits,
)

import kamsim

TINY = 1e-9
"""Base chance that, with ``HUGE`` odds, makes a pass draw reveal one relationship state."""
HUGE = 1e15


def reveal(state: str) -> dict[str, object]:
    """A stage that is passed exactly by deals in ``state`` (access/champion/executive)."""
    return {"pass_probability": TINY, "odds": {state: HUGE}}


def passed(events: pd.DataFrame, stage: str) -> pd.Series:
    """Per deal that visited ``stage``: whether it passed (indexed by deal_id)."""
    v = visits(events, stage)
    return (v.set_index("deal_id")["result"] == "passed").astype(bool)


# -- (1) relationship state drawn by grade ------------------------------------------------------

TWO_GRADES = {
    "A": {"share": 0.5, "value": fixed(4.0e6)},
    "B": {"share": 0.5, "value": fixed(1.0e6)},
}


@pytest.mark.parametrize("state", ["access", "champion", "executive"])
def test_relationship_state_is_drawn_by_grade(state: str) -> None:
    probability = {"A": 0.85, "B": 0.6}
    result = sim(
        batch(
            16000,
            grades=TWO_GRADES,
            relationship={f"{state}_probability": probability},
            stages={"development": reveal(state)},
        ),
        seed=5,
    )
    deals = result.deals
    has_state = deals["outcome"] == "won"
    for grade, p in probability.items():
        of_grade = has_state[deals["grade"] == grade]
        assert_estimates(of_grade, p, f"grade {grade} share with {state}")


def test_no_relationship_state_when_probabilities_are_zero() -> None:
    result = sim(
        batch(
            2000,
            stages={
                "development": reveal("access"),
                "approval": reveal("champion"),
                "proposal": reveal("executive"),
            },
        )
    )
    deals = result.deals
    assert (deals["outcome"] == "lost").all()
    assert (deals["last_stage"] == "development").all()


# -- (2) pass chance = logistic(logit(base) + log odds ratios) ----------------------------------


@pytest.mark.parametrize(
    ("base", "odds"),
    [
        (0.5, {"access": 3.0}),
        (0.3, {"champion": 2.0, "executive": 1.5}),
        (0.4, {"access": 2.0, "champion": 1.5, "executive": 3.0}),
        (0.9, {"access": 0.5}),
    ],
)
def test_pass_chance_adds_log_odds_ratios(base: float, odds: dict[str, float]) -> None:
    relationship = {f"{name}_probability": {"A": 1.0} for name in odds}
    result = sim(
        batch(
            10000,
            relationship=relationship,
            stages={"approval": {"pass_probability": base, "odds": odds}},
        ),
        seed=2,
    )
    target = logistic_with_odds(base, *(math.log(r) for r in odds.values()))
    assert_estimates(passed(result.events, "approval"), target, "approval pass share")


def test_odds_ratio_without_the_state_has_no_effect() -> None:
    """An access odds ratio does nothing to deals without access: pass share stays the base."""
    result = sim(
        batch(6000, stages={"approval": {"pass_probability": 0.8, "odds": {"access": 5.0}}}),
        seed=3,
    )
    assert_estimates(passed(result.events, "approval"), 0.8, "approval pass share")


@pytest.mark.parametrize(
    ("rivals", "ratio", "base"),
    [(3.0, 0.8, 0.9), (2.7, 0.5, 0.9), (1.0, 0.5, 0.7), (5.0, 1.3, 0.6)],
)
def test_competitor_odds_ratio_applies_per_rival_beyond_the_first(
    rivals: float, ratio: float, base: float
) -> None:
    beyond_first = math.floor(rivals) - 1  # the count is rounded down
    result = sim(
        batch(
            10000,
            competition={"competitors": fixed(rivals)},
            stages={"tender": {"pass_probability": base, "odds": {"competitor": ratio}}},
        ),
        seed=4,
    )
    target = logistic_with_odds(base, beyond_first * math.log(ratio))
    assert_estimates(passed(result.events, "tender"), target, "tender pass share")


def _champion_scenario(rate: float, months: float, days_to_decision: float) -> dict:
    return stream(
        rate,
        months,
        relationship={"champion_probability": {"A": 1.0}, "champion_loss_per_year": 1.0},
        stages={
            "development": {"duration": fixed(days_to_decision)},
            "approval": reveal("champion"),
        },
    )


def test_champion_is_lost_at_the_given_hazard() -> None:
    """Leads arriving together with a champion keep it for days_to_decision with probability
    exp(-hazard x days / 365)."""
    days = 200.0
    data = batch(
        10000,
        relationship={"champion_probability": {"A": 1.0}, "champion_loss_per_year": 1.0},
        stages={"development": {"duration": fixed(days)}, "approval": reveal("champion")},
    )
    result = sim(data, seed=6)
    assert_estimates(
        passed(result.events, "approval"), math.exp(-days / 365), "share keeping the champion"
    )


@pytest.mark.parametrize("days", [0.0, 200.0])
def test_champion_loss_hazard_runs_from_the_leads_arrival(days: float) -> None:
    """The champion is part of the state drawn when the lead arrives, and the loss hazard
    runs from then: a lead arriving in years 5-10 keeps the champion drawn for it (probability
    1) for ``days`` with probability exp(-hazard x days / 365), like a lead arriving on day 0.
    With a decision at the moment of arrival (0 days) no champion can have been lost."""
    result = sim(_champion_scenario(rate=150.0, months=120.0, days_to_decision=days), seed=6)
    deals = result.deals
    late = deals["arrived_at"] > 5 * 365
    has_champion = deals.loc[late, "outcome"] == "won"
    assert_estimates(has_champion, math.exp(-days / 365), "share keeping the champion")


# -- (3) waiting costs deals; patience ----------------------------------------------------------


def test_waiting_multiplies_the_pass_chance_by_half_per_half_life() -> None:
    """A batch of ~20,000 leads queues for 7,000 presales slots held for 30 days each: the
    first 7,000 wait 0 days, the next 7,000 wait 30, the rest 60.
    Pass share = p x 0.5^(wait / half-life)."""
    p, half_life, hold = 0.95, 120.0, 30.0
    result = sim(
        batch(
            20000,
            stages={
                "development": {
                    "duration": fixed(hold),
                    "pools": ["presales"],
                    "pass_probability": p,
                    "wait_half_life_days": half_life,
                }
            },
            resources={"presales": {"headcount": 7000}},
        ),
        seed=7,
    )
    deals = result.deals
    rows = holds(result.events, "presales", "development").set_index("deal_id")
    waits = (rows["started_at"] - rows["queued_at"]).reindex(deals["deal_id"]).to_numpy()
    np.testing.assert_allclose(deals["wait_presales"], waits, atol=1e-9)
    position = np.rint(waits / hold)
    # The construction gives waits of exactly 0, 30 and 60 days (up to the batch's 3e-8 d).
    np.testing.assert_allclose(waits, position * hold, atol=1e-6)
    assert set(position) == {0.0, 1.0, 2.0}
    won = (deals["outcome"] == "won").to_numpy()
    for k in (0, 1, 2):
        group = won[position == k]
        assert len(group) > 5000
        assert_estimates(group, p * 0.5 ** (k * hold / half_life), f"pass share after {k} waits")


def test_waiting_costs_nothing_without_a_half_life() -> None:
    result = sim(
        batch(
            3000,
            stages={"development": {"duration": fixed(30.0), "pools": ["presales"]}},
            resources={"presales": {"headcount": 1000}},
        )
    )
    assert result.deals["wait_presales"].max() == pytest.approx(60.0, abs=1e-6)
    assert (result.deals["outcome"] == "won").all()


@pytest.mark.slow  # six replications of a 90-month queue
def test_exponential_patience_gives_erlang_a_abandonment() -> None:
    """M/M/1+M: Poisson leads (3/day) queue for one presales engineer (exponential work, mean
    0.5 d) with exponential patience (mean 1 d); went_cold share = theta E[queue] / lambda."""
    lam, servers, mu, theta = 3.0, 1, 2.0, 1.0
    data = stream(
        lam * M,
        90,
        stages={
            "development": {
                "duration": {"dist": "exponential", "mean": 1 / mu},
                "pools": ["presales"],
                "patience": {"dist": "exponential", "mean": 1 / theta},
            }
        },
        resources={"presales": {"headcount": servers}},
    )
    many = kamsim.run(kamsim.Scenario.model_validate(data), reps=6, seed=8)
    deals = many.deals
    cold = reason_is(deals, "went_cold")
    assert (deals.loc[cold, "last_stage"] == "development").all()
    per_rep = cold.groupby(deals["replication"]).mean()
    target = erlang_a_abandonment(lam, servers, mu, theta)
    assert_estimates(per_rep, target, "went_cold share")
    # A deal that went cold never got the engineer: its presales row was never granted.
    rows = holds(many.events, "presales")
    gave_up = rows[rows["result"] == "went_cold"]
    assert gave_up["started_at"].isna().all()
    assert len(gave_up) == cold.sum()


def test_patience_is_counted_from_joining_the_queue() -> None:
    """Fixed patience of 10 days, 1 slot held for 25 days by the first of a batch: everyone
    else goes cold exactly 10 days after queueing, nobody is served but the first."""
    result = sim(
        batch(
            20,
            stages={
                "development": {
                    "duration": fixed(25.0),
                    "pools": ["presales"],
                    "patience": fixed(10.0),
                }
            },
            resources={"presales": {"headcount": 1}},
        )
    )
    deals = result.deals
    cold = reason_is(deals, "went_cold")
    assert cold.sum() == len(deals) - 1
    np.testing.assert_allclose(
        deals.loc[cold, "closed_at"] - deals.loc[cold, "arrived_at"], 10.0, atol=1e-6
    )
    assert (deals.loc[~cold, "outcome"] == "won").all()


# -- (4) criteria shaping and price fights ------------------------------------------------------


def test_shaping_share_follows_its_odds_and_unshaped_winners_pay_the_discount() -> None:
    """Shaping 0.5 with access (probability 1, shaping odds 3): shaped share 0.75. Shaped
    winners sign at full value; unshaped ones at value x (1 - 0.1) with margin 1-(1-m)/0.9."""
    d = 0.1
    result = sim(
        batch(
            8000,
            grades={
                "A": {
                    "share": 1.0,
                    "value": {"dist": "uniform", "low": 1.0e6, "high": 5.0e6},
                    "margin": {"dist": "uniform", "low": 0.1, "high": 0.4},
                }
            },
            relationship={"access_probability": {"A": 1.0}},
            competition={
                "shaping_probability": {"A": 0.5},
                "shaping_odds": {"access": 3.0},
                "price_fight_discount": fixed(d),
            },
        ),
        seed=9,
    )
    deals = result.deals
    assert (deals["outcome"] == "won").all()
    shaped = deals["discount"].abs() < 1e-12
    fought = np.isclose(deals["discount"], d, rtol=0, atol=1e-12)
    assert (shaped | fought).all()
    assert_estimates(shaped, 0.75, "shaped share")
    np.testing.assert_allclose(deals.loc[shaped, "booked_value"], deals.loc[shaped, "value"])
    np.testing.assert_allclose(
        deals.loc[fought, "booked_value"], deals.loc[fought, "value"] * (1 - d), rtol=1e-12
    )
    np.testing.assert_allclose(
        deals.loc[fought, "booked_margin"], 1 - (1 - deals.loc[fought, "margin"]) / (1 - d)
    )
    np.testing.assert_allclose(deals.loc[shaped, "booked_margin"], deals.loc[shaped, "margin"])
    # Gross margin = price received - cost = sum of value x (margin - discount).
    expected_gm = float((deals["value"] * (deals["margin"] - deals["discount"])).sum())
    assert result.kpis["gross_margin"].iloc[0] == pytest.approx(expected_gm, rel=1e-9)
    assert result.kpis["bookings"].iloc[0] == pytest.approx(
        float(deals["booked_value"].sum()), rel=1e-12
    )


def test_shaped_criteria_raise_the_tender_chance() -> None:
    """Shaping only through a champion (probability 1, shaping base 1e-9, odds huge) makes
    every deal shaped; the tender's shaped odds ratio 3 then lifts a 0.5 base to 0.75."""
    result = sim(
        batch(
            8000,
            relationship={"champion_probability": {"A": 1.0}},
            competition={"shaping_probability": {"A": TINY}, "shaping_odds": {"champion": HUGE}},
            stages={"tender": {"pass_probability": 0.5, "odds": {"shaped": 3.0}}},
        ),
        seed=10,
    )
    assert_estimates(passed(result.events, "tender"), 0.75, "tender pass share")


def test_nothing_is_shaped_when_the_shaping_chance_is_zero() -> None:
    result = sim(
        batch(
            3000,
            relationship={"executive_probability": {"A": 1.0}},
            competition={"shaping_odds": {"executive": HUGE}, "price_fight_discount": fixed(0.2)},
        )
    )
    np.testing.assert_allclose(result.deals["discount"], 0.2)


# -- (8) implementation -------------------------------------------------------------------------


def _implementation_visits(result: kamsim.Result) -> pd.DataFrame:
    v = visits(result.events, "implementation").set_index("deal_id")
    return v.reindex(result.deals["deal_id"])


def test_implementation_duration_scales_with_value() -> None:
    """Work = 100 d x (value / 2M)^0.5: 141.42 d for a 4M deal, 70.71 d for a 1M deal."""
    result = sim(
        batch(
            200,
            grades=TWO_GRADES,
            stages={"implementation": {"duration": fixed(100.0)}},
            implementation={"value_elasticity": 0.5, "reference_value": 2.0e6},
        )
    )
    impl = _implementation_visits(result)
    work = (impl["ended_at"] - impl["started_at"]).to_numpy()
    expected = np.where(result.deals["grade"] == "A", 100 * math.sqrt(2), 100 / math.sqrt(2))
    np.testing.assert_allclose(work, expected, rtol=1e-12)


def test_change_orders_add_value_and_work_at_their_poisson_rate() -> None:
    """0.3 change orders a month over 100 d of work: Poisson with mean 0.3 x 100 / (365/12);
    each adds 5% of the signed value and 10 days of work."""
    rate, share, extra_days, work = 0.3, 0.05, 10.0, 100.0
    result = sim(
        batch(
            12000,
            stages={"implementation": {"duration": fixed(work)}},
            implementation={
                "change_orders_per_month": rate,
                "change_order_value_share": share,
                "change_order_days": extra_days,
            },
        ),
        seed=11,
    )
    deals = result.deals
    added = deals["booked_value"] - deals["value"]
    orders = (added / (share * deals["value"])).to_numpy()
    np.testing.assert_allclose(orders, np.rint(orders), atol=1e-6)
    impl = _implementation_visits(result)
    np.testing.assert_allclose(
        (impl["ended_at"] - impl["started_at"]).to_numpy(), work + extra_days * np.rint(orders)
    )
    expected_orders = rate * work / M
    assert_estimates(added, expected_orders * share * 1.0e6, "value added by change orders")
    # Bookings and revenue include the change orders (all milestones fall inside the run).
    kpis = result.kpis.iloc[0]
    assert kpis["bookings"] == pytest.approx(float(deals["booked_value"].sum()), rel=1e-12)
    assert kpis["revenue"] == pytest.approx(float(deals["booked_value"].sum()), rel=1e-12)


def test_acceptance_follows_delivery_after_the_acceptance_delay() -> None:
    result = sim(
        batch(
            50,
            stages={"implementation": {"duration": fixed(40.0)}},
            implementation={"acceptance_delay_days": fixed(20.0)},
        )
    )
    impl = _implementation_visits(result)
    deals = result.deals.set_index("deal_id")
    np.testing.assert_allclose(deals["accepted_at"], impl["started_at"] + 40.0 + 20.0)
    np.testing.assert_allclose(impl["ended_at"], deals["accepted_at"])
    assert (impl["result"] == "passed").all()


def test_delivery_capacity_queues_implementations() -> None:
    """Two delivery slots, 10 days of work each: the batch starts implementation in pairs at
    0, 10, 20, ... days, and never more than two at once."""
    result = sim(
        batch(
            30,
            stages={"implementation": {"duration": fixed(10.0), "pools": ["delivery"]}},
            resources={"delivery": {"headcount": 2}},
        ),
        seed=12,
    )
    impl = _implementation_visits(result)
    n = len(impl)
    starts = np.sort(impl["started_at"].to_numpy())
    np.testing.assert_allclose(starts, 10.0 * (np.arange(n) // 2), atol=1e-6)
    rows = holds(result.events, "delivery")
    assert len(rows) == n
    np.testing.assert_allclose(rows["ended_at"] - rows["started_at"], 10.0)
    np.testing.assert_allclose(
        np.sort((rows["started_at"] - rows["queued_at"]).to_numpy()),
        10.0 * (np.arange(n) // 2),
        atol=1e-6,
    )


@pytest.mark.parametrize("shares", [(0.3, 0.6, 0.1), (0.2, 0.5, 0.3)])
def test_milestones_turn_bookings_into_revenue_and_cash(
    shares: tuple[float, float, float],
) -> None:
    """Signing at day 10 (month 0), delivery 70% into 100 days of work at day 80 (month 2),
    acceptance at day 110 (month 3); cash 40 days after each: days 50, 120, 150 (months 1, 3,
    4). Months are 365/12 days."""
    signing, delivery, acceptance = shares
    result = sim(
        batch(
            40,
            stages={
                "negotiation": {"duration": fixed(10.0)},
                "implementation": {"duration": fixed(100.0)},
            },
            payments={
                "signing": signing,
                "delivery": delivery,
                "acceptance": acceptance,
                "delivery_at": 0.7,
                "lag_days": fixed(40.0),
            },
        ),
        seed=13,
    )
    total = float(result.deals["value"].sum())
    assert (result.deals["booked_value"] == result.deals["value"]).all()
    ts = result.timeseries.set_index("month")
    revenue = np.zeros(len(ts))
    cash = np.zeros(len(ts))
    bookings = np.zeros(len(ts))
    for day, share in ((10.0, signing), (80.0, delivery), (110.0, acceptance)):
        revenue[int(day // M)] += share * total
        cash[int((day + 40.0) // M)] += share * total
    bookings[0] = total
    np.testing.assert_allclose(ts["revenue"], revenue, rtol=1e-12, atol=1e-3)
    np.testing.assert_allclose(ts["cash"], cash, rtol=1e-12, atol=1e-3)
    np.testing.assert_allclose(ts["bookings"], bookings, rtol=1e-12, atol=1e-3)
    np.testing.assert_allclose(result.deals["accepted_at"], 110.0, atol=1e-6)


# -- (9) repeat business ------------------------------------------------------------------------


def _repeat_scenario(probability: float, months: float, rate: float) -> dict:
    return stream(
        rate,
        months,
        grades={
            "A": {"share": 0.5, "value": {"dist": "lognormal", "mean": 4.0e6, "cv": 0.5}},
            "B": {"share": 0.5, "value": {"dist": "lognormal", "mean": 1.0e6, "cv": 0.5}},
        },
        relationship={"executive_probability": {"A": 1.0, "B": 0.0}},
        stages={"implementation": {"duration": fixed(30.0)}},
        repeat={"probability": probability, "delay_days": fixed(50.0)},
    )


def test_accepted_projects_with_executive_ties_bring_follow_on_leads() -> None:
    """Probability 1, delay 50 d: every accepted A deal (all have executive ties) whose lead
    would arrive before new leads stop brings one, from its account, 50 days after acceptance;
    B deals (no executive ties) never do."""
    months = 12.0
    result = sim(_repeat_scenario(1.0, months, rate=10.0), seed=14)
    deals = result.deals.set_index("deal_id")
    children = deals[deals["repeat_of"].notna()]
    assert len(children) > 20
    until = months * M
    eligible = deals[
        (deals["grade"] == "A")
        & deals["accepted_at"].notna()
        & (deals["accepted_at"] + 50.0 <= until)
    ]
    assert sorted(children["repeat_of"].astype(int)) == sorted(eligible.index)
    parents = deals.loc[children["repeat_of"].astype(int)]
    np.testing.assert_allclose(
        children["arrived_at"].to_numpy(), parents["accepted_at"].to_numpy() + 50.0
    )
    assert (children["account_id"].to_numpy() == parents["account_id"].to_numpy()).all()
    assert (
        children["grade"].astype(str).to_numpy() == parents["grade"].astype(str).to_numpy()
    ).all()
    # Follow-on leads are new deals with their own luck, not copies of the parent.
    assert (children["value"].to_numpy() != parents["value"].to_numpy()).all()


def test_follow_on_probability() -> None:
    probability = 0.8
    months = 48.0
    result = sim(_repeat_scenario(probability, months, rate=40.0), seed=15)
    deals = result.deals
    eligible = deals[
        (deals["grade"] == "A")
        & deals["accepted_at"].notna()
        & (deals["accepted_at"] + 50.0 <= months * M)
    ]
    had_child = eligible["deal_id"].isin(deals["repeat_of"].dropna().astype(int))
    assert_estimates(had_child, probability, "share bringing a follow-on")


def test_follow_on_leads_draw_fresh_luck() -> None:
    """Hundreds of follow-on leads of one grade: their values come from a continuous
    distribution, so no two may coincide (a reused block of random numbers would repeat
    them)."""
    result = sim(_repeat_scenario(1.0, 36.0, rate=10.0), seed=16)
    children = result.deals[result.deals["repeat_of"].notna()]
    assert len(children) > 300
    values = children["value"].to_numpy()
    repeated = len(values) - len(np.unique(values))
    assert repeated == 0, f"{repeated} of {len(values)} follow-on leads repeat an earlier value"


# -- (11) period ends ---------------------------------------------------------------------------

WINDOW = 10.0
PERIODS = {
    "window_days": WINDOW,
    "month": {"intensity": 2.0, "discount": 0.01},
    "quarter": {"intensity": 3.0, "discount": 0.02},
    "year": {"intensity": 4.0, "discount": 0.03},
}


@pytest.mark.parametrize(
    ("start", "enter", "work", "end", "discount"),
    [
        # outside any window: plain 10 days
        ("2027-01-01", 5.0, 10.0, 15.0, 0.0),
        # 5 d at pace 1 reach January's window, the other 5 d of work at pace 2 take 2.5 d
        ("2027-01-01", M - 15, 10.0, M - 10 + 5 / 2, 0.01),
        # March closes a quarter: pace 3
        ("2027-01-01", 3 * M - 15, 10.0, 3 * M - 10 + 5 / 3, 0.02),
        # December closes the year: pace 4
        ("2027-01-01", 12 * M - 15, 10.0, 12 * M - 10 + 5 / 4, 0.03),
        # 5 d in January's window at pace 2 do 10 d of work; the other 10 d run in February
        ("2027-01-01", M - 5, 20.0, M + 10, 0.0),
        # 2 d at pace 1, the whole window (20 d of work), then 8 d in February
        ("2027-01-01", M - 12, 30.0, M + 8, 0.0),
        # a run starting in October: model month 2 is December (year end), month 0 October
        ("2027-10-01", 3 * M - 15, 10.0, 3 * M - 10 + 5 / 4, 0.03),
        ("2027-10-01", M - 15, 10.0, M - 10 + 5 / 2, 0.01),
        ("2027-10-01", 6 * M - 15, 10.0, 6 * M - 10 + 5 / 3, 0.02),
    ],
)
def test_negotiation_closes_faster_and_cheaper_in_period_end_windows(
    start: str, enter: float, work: float, end: float, discount: float
) -> None:
    result = sim(
        batch(
            5,
            calendar={"start": start, "horizon_months": 24},
            stages={
                "development": {"duration": fixed(enter)},
                "negotiation": {"duration": fixed(work)},
            },
            period_end=PERIODS,
        )
    )
    deals = result.deals
    np.testing.assert_allclose(deals["signed_at"], end, atol=1e-6)
    np.testing.assert_allclose(deals["discount"], discount, atol=1e-12)
    np.testing.assert_allclose(deals["booked_value"], deals["value"] * (1 - discount))


def test_no_period_effects_with_neutral_levels() -> None:
    result = sim(
        batch(
            5,
            stages={
                "development": {"duration": fixed(M - 5)},
                "negotiation": {"duration": fixed(20.0)},
            },
        )
    )
    np.testing.assert_allclose(result.deals["signed_at"], M + 15, atol=1e-6)
    np.testing.assert_allclose(result.deals["discount"], 0.0)


PACE = [0.5, 2.0, *([1.0] * 10)]
"""Acceptance pace: January half speed, February double, the rest normal."""


@pytest.mark.parametrize(
    ("ready", "delay", "accepted"),
    [
        (5.0, 5.0, 15.0),  # January at half pace: 5 d of delay take 10 d
        (M - 5, 10.0, M + 3.75),  # 5 d of January do 2.5 d; the other 7.5 at pace 2
        (2 * M - 2, 10.0, 2 * M + 6),  # 2 d of February do 4 d; the other 6 in March
        (3 * M + 1, 4.0, 3 * M + 5),  # April: normal pace
    ],
)
def test_acceptance_pace_by_calendar_month(ready: float, delay: float, accepted: float) -> None:
    result = sim(
        batch(
            5,
            stages={
                "development": {"duration": fixed(ready - 1.0)},
                "implementation": {"duration": fixed(1.0)},
            },
            implementation={"acceptance_delay_days": fixed(delay)},
            period_end={"acceptance_pace": PACE},
        )
    )
    np.testing.assert_allclose(result.deals["accepted_at"], accepted, atol=1e-6)
