"""The mechanisms that give levers a benefit beside their cost, each on a tiny scenario against
a hand-derived oracle: stall risk, named account managers and their focus, account ties,
engagement at implementation, no-bid, and the retention milestone.

Named owners are read from the plain records (``Records.deals.owner``) and account-manager
hold rows; everything else from the tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_estimates
from mechanics_helpers import batch, build, fixed, holds, sim, stream, visits

from kamsim.errors import ScenarioError
from kamsim.model import run_replication
from kamsim.model.records import CASH, REVENUE
from kamsim.vocabulary import POOLS

AM = POOLS.index("account_managers")
TINY, HUGE = 1e-9, 1e15


# -- stall risk --------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [None, 40.0])
def test_stall_risk_halves_the_chance_per_half_life_beyond_the_norm(norm: float | None) -> None:
    """Development takes uniform(0, 200) days; beyond the norm (given, or the mean 100 d) the
    pass chance 0.9 halves every 60 days. Each deal's expected pass chance is known from its
    own time in the stage, so the pass share must match their mean."""
    p, half_life = 0.9, 60.0
    stage: dict[str, object] = {
        "duration": {"dist": "uniform", "low": 0.0, "high": 200.0},
        "pass_probability": p,
        "stall_half_life_days": half_life,
    }
    if norm is not None:
        stage["norm_days"] = norm
    result = sim(stream(2000, 12, stages={"development": stage}), seed=31)
    v = visits(result.events, "development")
    days = (v["ended_at"] - v["queued_at"]).to_numpy()
    limit = 100.0 if norm is None else norm
    expected = p * 0.5 ** (np.maximum(days - limit, 0.0) / half_life)
    passed = (v["result"] == "passed").to_numpy()
    # Each deal's pass draw is independent: passed - expected has mean 0 per deal.
    late = days > limit
    assert late.sum() > 3000 and (~late).sum() > 3000
    assert_estimates(passed[~late], p, "pass share within the norm")
    assert_estimates(passed[late], float(expected[late].mean()), "pass share beyond the norm")


def test_no_stall_risk_without_a_half_life() -> None:
    stage = {"duration": {"dist": "uniform", "low": 0.0, "high": 200.0}, "pass_probability": 0.9}
    result = sim(stream(2000, 6, stages={"development": stage}), seed=32)
    v = visits(result.events, "development")
    long = (v["ended_at"] - v["queued_at"]).to_numpy() > 150.0
    assert_estimates((v["result"] == "passed").to_numpy()[long], 0.9, "pass share of long visits")


def test_stall_risk_is_refused_on_implementation() -> None:
    with pytest.raises(ScenarioError, match=r"stages\.implementation\.stall_half_life_days"):
        build(stream(1, 1, stages={"implementation": {"stall_half_life_days": 30.0}}))


# -- named account managers and focus ----------------------------------------------------------


def _owned(headcount: int, per_person: int, accounts: int, **tables: object) -> dict:
    return stream(
        60,
        24,
        grades={"A": {"share": 1.0, "value": fixed(1.0e6), "accounts": accounts}},
        stages={
            "development": {
                "duration": {"dist": "exponential", "mean": 30.0},
                "pools": ["account_managers"],
            },
            "approval": {"duration": {"dist": "exponential", "mean": 20.0}},
        },
        resources={
            "account_managers": {
                "headcount": headcount,
                "deals_per_person": per_person,
                "ownership": True,
            }
        },
        **tables,
    )


def _owner_holds(scenario_data: dict, seed: int) -> tuple[np.ndarray, ...]:
    """Per deal that got an account manager: its owner, account, and the hold's start and end."""
    rec = run_replication(build(scenario_data), seed, 0)
    owner = dict(zip(rec.deals.deal_id, rec.deals.owner, strict=True))
    account = dict(zip(rec.deals.deal_id, rec.deals.account, strict=True))
    rows = [h for h in rec.holds if h[2] == AM and not math.isnan(h[4])]
    ids = np.array([h[0] for h in rows])
    return (
        np.array([owner[i] for i in ids]),
        np.array([account[i] for i in ids]),
        np.array([h[4] for h in rows]),
        np.array([h[5] for h in rows]),
    )


def _most_at_once(starts: np.ndarray, ends: np.ndarray) -> int:
    ends = np.nan_to_num(ends, nan=np.inf)
    times = np.concatenate([starts, ends])
    kinds = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((kinds, times))
    return int(np.cumsum(kinds[order]).max(initial=0))


def test_each_account_manager_carries_at_most_their_slots() -> None:
    """4 people x 3 slots under heavy load: every owned deal has a named owner, and no one ever
    holds more than 3 deals at once, while all of them are used."""
    owner, _, starts, ends = _owner_holds(_owned(4, 3, accounts=50), seed=3)
    assert set(owner) == {0, 1, 2, 3}
    for am in range(4):
        mine = owner == am
        assert _most_at_once(starts[mine], ends[mine]) == 3


def test_an_account_stays_with_its_owner_while_they_have_room() -> None:
    """Ample slots (3 people x 100): each account's deals all go to the account manager who
    took its first deal. With one slot each, accounts must spread over several people."""
    owner, account, _, _ = _owner_holds(_owned(3, 100, accounts=5), seed=4)
    per_account = {a: set(owner[account == a]) for a in set(account)}
    assert all(len(people) == 1 for people in per_account.values())
    assert len(set(owner)) > 1  # least-loaded placement spread the first deals
    owner, account, _, _ = _owner_holds(_owned(3, 1, accounts=2), seed=4)
    assert any(len(set(owner[account == a])) > 1 for a in set(account))


def test_focus_lowers_the_chance_by_the_odds_ratio_per_deal_beyond_the_norm() -> None:
    """Ten account managers with 40 slots each; development's pass chance 0.8 is shifted by
    log(0.95) per active deal of the owner beyond 5, counting the owner's deals at the pass
    draw (read off the records: the owner's account-manager holds open at that instant)."""
    data = _owned(10, 40, accounts=500, focus={"norm_deals": 5, "odds_per_deal": 0.95})
    data["arrivals"]["rate_per_month"] = 200.0
    data["calendar"].update(horizon_months=48, arrivals_until_months=48)
    data["stages"]["development"]["pass_probability"] = 0.8
    rec = run_replication(build(data), 5, 0)
    owner = dict(zip(rec.deals.deal_id, rec.deals.owner, strict=True))
    passed_code = rec.results.index("passed")
    decided = [v for v in rec.visits if v[1] == 0 and not math.isnan(v[4]) and owner[v[0]] >= 0]
    at = np.array([v[4] for v in decided])
    who = np.array([owner[v[0]] for v in decided])
    passed = np.array([v[5] == passed_code for v in decided])
    rows = [h for h in rec.holds if h[2] == AM and not math.isnan(h[4])]
    starts = np.array([h[4] for h in rows])
    ends = np.nan_to_num(np.array([h[5] for h in rows]), nan=np.inf)
    held_by = np.array([owner[h[0]] for h in rows])
    load = np.zeros(len(at), dtype=int)
    for am in range(10):
        mine, theirs = who == am, held_by == am
        s_, e_ = starts[theirs], ends[theirs]
        t = at[mine][:, None]
        # A deal's own slot is released at its pass draw only if it fails or signs: count it.
        load[mine] = ((s_[None, :] <= t) & (e_[None, :] >= t)).sum(axis=1)
    assert (load > 15).mean() > 0.5
    logit = math.log(0.8 / 0.2) + np.maximum(load - 5, 0) * math.log(0.95)
    expected = 1 / (1 + np.exp(-logit))
    # Each pass draw is independent given its chance: passed - chance + mean chance has the
    # mean chance as its mean.
    assert_estimates(passed - expected + expected.mean(), float(expected.mean()), "pass share")


def test_focus_needs_named_account_managers() -> None:
    with pytest.raises(ScenarioError, match=r"focus\.odds_per_deal"):
        build(stream(1, 1, focus={"odds_per_deal": 0.9}))


# -- account ties ------------------------------------------------------------------------------


def _ties(account_ties: bool, **relationship: object) -> dict:
    """One account; executives visit at negotiation. A deal's proposal is shaped exactly when
    it has an executive relationship then (shaping base 1e-9, executive odds 1e15), and an
    unshaped winner pays a 10% price-fight discount: the discount reveals the relationship."""
    return stream(
        20,
        12,
        grades={"A": {"share": 1.0, "value": fixed(1.0e6), "accounts": 1}},
        stages={
            "development": {"duration": fixed(10.0)},
            "negotiation": {"duration": fixed(5.0)},
        },
        resources={"executives": {"headcount": 1, "deals_per_person": 1000}},
        relationship={
            "account_ties": account_ties,
            "executive_visit_days": fixed(2.0),
            **relationship,
        },
        competition={
            "shaping_probability": TINY,
            "shaping_odds": {"executive": HUGE},
            "price_fight_discount": fixed(0.1),
        },
        policy={"executive_engagement": "negotiation"},
    )


def test_a_visit_ties_the_account_so_later_deals_start_with_the_relationship() -> None:
    """Every deal arriving after the first visit ended has the relationship at its proposal
    (no discount); every deal arriving before it does not."""
    result = sim(_ties(True), seed=6)
    first_tie = holds(result.events, "executives")["ended_at"].min()
    deals = result.deals
    after = deals["arrived_at"] > first_tie
    assert after.sum() > 100 and (~after).sum() > 5
    assert (deals.loc[after, "discount"] == 0.0).all()
    assert np.allclose(deals.loc[~after, "discount"], 0.1)


def test_without_ties_a_visit_helps_only_its_own_deal() -> None:
    deals = sim(_ties(False), seed=6).deals
    assert np.allclose(deals["discount"], 0.1)


def test_ties_fade_at_their_hazard() -> None:
    """A tie lasting an exponential time (mean a day here) covers fewer later deals than one
    that lasts, and the same seed meets the same customers (paired)."""
    lasting = sim(_ties(True), seed=6).deals
    fading = sim(_ties(True, tie_loss_per_year=365.0), seed=6).deals
    assert (lasting["arrived_at"].to_numpy() == fading["arrived_at"].to_numpy()).all()
    tied_lasting = (lasting["discount"] == 0.0).mean()
    tied_fading = (fading["discount"] == 0.0).mean()
    assert 0.05 < tied_fading < tied_lasting - 0.05


# -- engagement at implementation --------------------------------------------------------------


@pytest.mark.parametrize("engagement", ["implementation", "none"])
def test_engagement_at_implementation_brings_repeat_business(engagement: str) -> None:
    """No deal starts with an executive relationship; meeting the customer's executives at
    implementation gives every accepted deal one, so each brings its follow-on lead
    (probability 1) when it would arrive before leads stop. Without engagement none does."""
    months = 12.0
    result = sim(
        stream(
            10,
            months,
            stages={"implementation": {"duration": fixed(30.0)}},
            resources={"executives": {"headcount": 1, "deals_per_person": 100}},
            relationship={"executive_visit_days": fixed(1.0)},
            repeat={"probability": 1.0, "delay_days": fixed(50.0)},
            policy={"executive_engagement": engagement},
        ),
        seed=8,
    )
    deals = result.deals.set_index("deal_id")
    eligible = deals[deals["accepted_at"].notna() & (deals["accepted_at"] + 50.0 <= months * 30.4)]
    children = deals["repeat_of"].dropna().astype(int)
    visited = holds(result.events, "executives", "implementation")
    if engagement == "none":
        assert children.empty and visited.empty
    else:
        assert len(eligible) > 50
        assert set(eligible.index) <= set(children)
        assert set(visited["deal_id"]) == set(deals.index[deals["signed_at"].notna()])


# -- no-bid ------------------------------------------------------------------------------------


def test_no_bid_by_chance_per_grade_before_any_presales_time() -> None:
    chance = {"A": 0.3, "B": 0.5}
    result = sim(
        batch(
            50000,
            grades={
                "A": {"share": 0.5, "value": fixed(2.0e6)},
                "B": {"share": 0.5, "value": fixed(1.0e6)},
            },
            stages={"tender": {"duration": fixed(10.0), "pools": ["presales"]}},
            resources={"presales": {"headcount": 100000}},
            competition={"no_bid_probability": chance},
        ),
        seed=10,
    )
    deals = result.deals
    no_bid = (deals["exit_reason"] == "no_bid").fillna(False).to_numpy()
    for grade, p in chance.items():
        assert_estimates(no_bid[(deals["grade"] == grade).to_numpy()], p, f"no-bid share {grade}")
    tender_holds = holds(result.events, "presales", "tender")
    assert not set(tender_holds["deal_id"]) & set(deals.loc[no_bid, "deal_id"])


# -- retention ---------------------------------------------------------------------------------


def test_retention_is_recognised_at_acceptance_and_paid_after_the_defect_period() -> None:
    scenario = build(
        stream(
            10,
            6,
            stages={"implementation": {"duration": fixed(40.0)}},
            payments={
                "signing": 0.3,
                "delivery": 0.6,
                "acceptance": 0.0,
                "retention": 0.1,
                "retention_days": fixed(365.0),
                "lag_days": fixed(10.0),
            },
        )
    )
    rec = run_replication(scenario, 11, 0)
    accepted = dict(zip(rec.deals.deal_id, rec.deals.accepted_at, strict=True))
    booked = dict(zip(rec.deals.deal_id, rec.deals.booked, strict=True))
    late_cash = [(d, t, a) for d, kind, t, a in rec.money if kind == CASH and a < 0.2e6]
    assert len(late_cash) == len(accepted) > 30
    for deal, t, amount in late_cash:
        assert t == pytest.approx(accepted[deal] + 375.0)
        assert amount == pytest.approx(0.1 * booked[deal])
    revenue = sum(a for _, kind, _, a in rec.money if kind == REVENUE)
    assert revenue == pytest.approx(sum(booked.values()))
