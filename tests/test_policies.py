"""Policy levers on tiny scenarios: exact traces where the settings are deterministic, closed
forms where they are not; validation of lever values; effect sizes drawn per replication.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE, GRADES
from helpers import assert_estimates
from mechanics_helpers import (
    batch,
    build,
    fixed,
    holds,
    logistic_with_odds,
    max_concurrency,
    reason_is,
    sim,
    stream,
    visits,
)

import kamsim
from kamsim.model import World

TINY, HUGE = 1e-9, 1e15


def reveal_executive() -> dict[str, object]:
    """A stage passed exactly by deals with an executive relationship (up to 1e-6)."""
    return {"pass_probability": TINY, "odds": {"executive": HUGE}}


def rows_by_deal(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("deal_id").size()


# -- (5) bid / no-bid and withdrawal ------------------------------------------------------------


@pytest.mark.parametrize(
    "discount",
    [fixed(0.1), {"dist": "triangular", "low": 0.05, "mode": 0.1, "high": 0.15}],
    ids=["fixed", "triangular"],
)
def test_no_bid_below_the_margin_after_the_expected_discount(discount: dict) -> None:
    """Expected discount 0.1 and a 10% bar: an unshaped deal bids iff 1-(1-m)/0.9 >= 0.1,
    i.e. m >= 0.19; a shaped deal expects no price fight and bids iff m >= 0.1. Half the
    deals are shaped. No-bid deals leave at the tender before taking presales time."""
    result = sim(
        batch(
            3000,
            grades={
                "A": {
                    "share": 1.0,
                    "value": fixed(1.0e6),
                    "margin": {"dist": "uniform", "low": 0.0, "high": 0.4},
                }
            },
            competition={"shaping_probability": {"A": 0.5}, "price_fight_discount": discount},
            stages={"tender": {"pools": ["presales"], "duration": fixed(5.0)}},
            resources={"presales": {"headcount": 10000}},
            policy={"bid_min_margin": 0.1},
        ),
        seed=21,
    )
    deals = result.deals.set_index("deal_id")
    m = deals["margin"]
    no_bid = reason_is(deals, "no_bid")
    assert (deals.loc[no_bid, "last_stage"] == "tender").all()
    assert no_bid[m < 0.1].all()
    assert not no_bid[m >= 0.19].any()
    band = (m >= 0.1) & (m < 0.19)
    assert 0 < no_bid[band].sum() < band.sum()
    # Deals in the band that bid were shaped: they won at full price (tender always passes).
    bid_in_band = band & ~no_bid
    assert (deals.loc[bid_in_band, "outcome"] == "won").all()
    np.testing.assert_allclose(deals.loc[bid_in_band, "discount"], 0.0)
    # Unshaped deals that bid are charged the drawn price-fight discount; all have m >= 0.19.
    fought = deals["discount"] > 0
    assert (m[fought] >= 0.19).all()
    # No presales row at the tender for a no-bid deal; one for every deal that bid.
    presales = rows_by_deal(holds(result.events, "presales", "tender"))
    assert not presales.index.isin(deals.index[no_bid]).any()
    assert set(presales.index) == set(deals.index[~no_bid])
    tender = visits(result.events, "tender").set_index("deal_id")
    np.testing.assert_allclose(
        tender.loc[no_bid[no_bid].index, "ended_at"], tender.loc[no_bid[no_bid].index, "queued_at"]
    )


@pytest.mark.parametrize("bar", [0.05, 0.1, 0.2, 0.3])
def test_a_margin_that_reaches_the_bar_is_bid(bar: float) -> None:
    """``bid_min_margin``: bid when the expected margin reaches the bar (policies docstring).
    With no price fight expected, a deal whose margin equals the bar bids."""
    result = sim(
        batch(
            50,
            grades={"A": {"share": 1.0, "value": fixed(1.0e6), "margin": fixed(bar)}},
            policy={"bid_min_margin": bar},
        )
    )
    no_bid = reason_is(result.deals, "no_bid")
    assert not no_bid.any(), (
        f"{int(no_bid.sum())} of {len(no_bid)} deals with a margin of exactly {bar} were not "
        f"bid under a bar of {bar}"
    )


def test_withdrawal_without_shaped_criteria() -> None:
    p = 0.6
    result = sim(
        batch(
            8000,
            competition={"withdraw_probability": p},
            stages={"tender": {"pools": ["presales"], "duration": fixed(5.0)}},
            resources={"presales": {"headcount": 10000}},
        ),
        seed=22,
    )
    deals = result.deals
    withdrew = reason_is(deals, "withdrew")
    assert (deals.loc[withdrew, "last_stage"] == "tender").all()
    assert_estimates(withdrew, p, "share withdrawn")
    presales = holds(result.events, "presales", "tender")
    assert not presales["deal_id"].isin(deals.loc[withdrew, "deal_id"]).any()


def test_shaped_deals_never_withdraw() -> None:
    result = sim(
        batch(
            2000,
            competition={"withdraw_probability": 0.9, "shaping_probability": {"A": 1.0}},
        )
    )
    assert not reason_is(result.deals, "withdrew").any()
    assert (result.deals["outcome"] == "won").all()


def test_no_bid_and_withdraw_are_off_by_default() -> None:
    result = sim(
        batch(
            1000,
            grades={"A": {"share": 1.0, "value": fixed(1.0e6), "margin": fixed(0.0)}},
            competition={"price_fight_discount": fixed(0.5)},
        )
    )
    assert (result.deals["outcome"] == "won").all()


# -- (6) approvals ------------------------------------------------------------------------------


def test_qualification_rejects_exactly_the_deals_below_the_bar() -> None:
    value = {"dist": "uniform", "low": 0.0, "high": 4.0e6}
    margin = {"dist": "uniform", "low": 0.0, "high": 0.3}
    grades = {g: {"share": 0.25, "value": value, "margin": margin} for g in "ABCD"}
    result = sim(
        batch(
            4000,
            grades=grades,
            stages={"approval": {"duration": fixed(3.0)}},
            policy={"qualification": {"min_grade": "B", "min_margin": 0.15, "min_value": 1.5e6}},
        ),
        seed=23,
    )
    deals = result.deals
    below = deals["grade"].isin(["C", "D"]) | (deals["margin"] < 0.15) | (deals["value"] < 1.5e6)
    rejected = reason_is(deals, "not_approved")
    assert (rejected == below).all()
    assert (deals.loc[rejected, "last_stage"] == "approval").all()
    # The bar is applied at the end of the approval work.
    np.testing.assert_allclose(
        deals.loc[rejected, "closed_at"] - deals.loc[rejected, "arrived_at"], 3.0, atol=1e-6
    )
    assert (deals.loc[~rejected, "outcome"] == "won").all()
    assert 0.2 < rejected.mean() < 0.95


@pytest.mark.parametrize("min_grade", GRADES)
def test_minimum_grade_approves_that_grade_and_better(min_grade: str) -> None:
    grades = {g: {"share": 0.25, "value": fixed(1.0e6)} for g in "ABCD"}
    result = sim(batch(400, grades=grades, policy={"qualification": {"min_grade": min_grade}}))
    deals = result.deals
    worse = deals["grade"].astype(str) > min_grade
    assert (reason_is(deals, "not_approved") == worse).all()


def test_contract_approval_and_escalation_hold_approvers_in_negotiation() -> None:
    """Half the deals are shaped (no discount), half pay a 10% price-fight discount. Contract
    approval holds an approver 3 days; above the 5% authority a second 3-day hold follows.
    Signing = negotiation entry + 7 d of negotiation + 3 d per approval."""
    result = sim(
        batch(
            2000,
            competition={"shaping_probability": {"A": 0.5}, "price_fight_discount": fixed(0.1)},
            stages={"negotiation": {"duration": fixed(7.0)}},
            contract={"approval_days": fixed(3.0)},
            resources={"approvers": {"headcount": 10000}},
            policy={"discount_authority": 0.05},
        ),
        seed=24,
    )
    deals = result.deals.set_index("deal_id")
    rows = holds(result.events, "approvers")
    assert (rows["stage"] == "negotiation").all()
    np.testing.assert_allclose(rows["ended_at"] - rows["started_at"], 3.0)
    count = rows_by_deal(rows).reindex(deals.index, fill_value=0)
    discounted = deals["discount"] > 0.05
    assert 0 < discounted.sum() < len(deals)
    assert (count[discounted] == 2).all()
    assert (count[~discounted] == 1).all()
    entry = visits(result.events, "negotiation").set_index("deal_id")["queued_at"]
    np.testing.assert_allclose(deals["signed_at"], entry + 7.0 + 3.0 * count, atol=1e-9)


def test_no_escalation_without_discount_authority() -> None:
    result = sim(
        batch(
            500,
            competition={"price_fight_discount": fixed(0.3)},
            contract={"approval_days": fixed(2.0)},
            resources={"approvers": {"headcount": 10000}},
        )
    )
    count = rows_by_deal(holds(result.events, "approvers", "negotiation"))
    assert len(count) == len(result.deals)
    assert (count == 1).all()


@pytest.mark.parametrize("authority", [0.05, 0.1, 0.15, 0.2])
def test_discount_equal_to_the_authority_needs_no_second_approval(authority: float) -> None:
    """The authority is the largest discount signed without escalation (policies docstring):
    a price-fight discount of exactly that size is within it."""
    result = sim(
        batch(
            50,
            competition={"price_fight_discount": fixed(authority)},
            contract={"approval_days": fixed(2.0)},
            resources={"approvers": {"headcount": 1000}},
            policy={"discount_authority": authority},
        )
    )
    count = rows_by_deal(holds(result.events, "approvers", "negotiation"))
    assert (count == 1).all(), (
        f"a discount of exactly {authority} (= the authority) was escalated for "
        f"{int((count == 2).sum())} of {len(count)} deals"
    )


# -- (7) executives -----------------------------------------------------------------------------


def test_engagement_holds_an_executive_for_the_visit_at_the_named_stage() -> None:
    result = sim(
        batch(
            300,
            stages={"tender": {"duration": fixed(6.0)}},
            relationship={"executive_visit_days": fixed(4.0)},
            resources={"executives": {"headcount": 1000}},
            policy={"executive_engagement": "tender"},
        )
    )
    deals = result.deals
    rows = holds(result.events, "executives")
    assert (rows["stage"] == "tender").all()
    assert sorted(rows["deal_id"]) == sorted(deals["deal_id"])
    np.testing.assert_allclose(rows["started_at"], rows["queued_at"])
    np.testing.assert_allclose(rows["ended_at"] - rows["started_at"], 4.0)
    tender = visits(result.events, "tender").set_index("deal_id")
    visit = rows.set_index("deal_id")
    # The visit comes first; the tender's own work starts when it ends.
    np.testing.assert_allclose(visit.loc[tender.index, "queued_at"], tender["queued_at"])
    np.testing.assert_allclose(tender["started_at"], tender["queued_at"] + 4.0, atol=1e-9)
    np.testing.assert_allclose(tender["ended_at"], tender["queued_at"] + 10.0, atol=1e-9)


def _skip_scenario(wait: str) -> dict:
    return stream(
        6.0,
        24,
        stages={
            "approval": {"duration": fixed(5.0)},
            "negotiation": reveal_executive(),
        },
        relationship={"executive_visit_days": fixed(10.0)},
        resources={"executives": {"headcount": 1}},
        policy={"executive_engagement": "approval", "executive_wait": wait},
    )


def test_skip_never_waits_and_a_busy_executive_means_no_visit() -> None:
    result = sim(_skip_scenario("skip"), seed=25)
    rows = holds(result.events, "executives")
    assert (rows["started_at"] == rows["queued_at"]).all()
    assert max_concurrency(rows["started_at"], rows["ended_at"]) == 1
    entries = visits(result.events, "approval").set_index("deal_id")["queued_at"]
    visited = entries.index.isin(rows["deal_id"])
    assert 0 < visited.sum() < len(entries)
    starts = rows["started_at"].to_numpy()
    ends = rows["ended_at"].to_numpy()
    ids = rows["deal_id"].to_numpy()
    for deal_id, t in entries.items():
        busy = bool(((starts <= t) & (t < ends) & (ids != deal_id)).any())
        assert busy != (deal_id in ids), (deal_id, t)


def test_wait_queues_for_the_executive() -> None:
    result = sim(_skip_scenario("wait"), seed=25)
    rows = holds(result.events, "executives")
    entries = visits(result.events, "approval").set_index("deal_id")
    assert sorted(rows["deal_id"]) == sorted(entries.index)
    assert (rows["started_at"] > rows["queued_at"] + 1e-9).any()
    assert max_concurrency(rows["started_at"], rows["ended_at"]) == 1
    visit = rows.set_index("deal_id")
    np.testing.assert_allclose(entries["started_at"], visit.loc[entries.index, "ended_at"])
    assert (result.deals["outcome"] == "won").all()


def test_a_completed_visit_gives_the_executive_relationship() -> None:
    """Negotiation is passed only with an executive relationship: exactly the deals the
    executive visited at approval win."""
    result = sim(_skip_scenario("skip"), seed=26)
    deals = result.deals
    visited = deals["deal_id"].isin(holds(result.events, "executives")["deal_id"])
    assert 0 < visited.sum() < len(deals)
    assert ((deals["outcome"] == "won") == visited).all()


def test_a_visit_raises_later_chances_by_the_odds_ratio() -> None:
    """Executives always free: every deal gets the relationship at the proposal; the tender's
    executive odds ratio 3 lifts a 0.5 base to 0.75."""
    result = sim(
        batch(
            8000,
            stages={"tender": {"pass_probability": 0.5, "odds": {"executive": 3.0}}},
            resources={"executives": {"headcount": 100000}},
            policy={"executive_engagement": "proposal"},
        ),
        seed=27,
    )
    tender = visits(result.events, "tender")
    assert_estimates(tender["result"] == "passed", 0.75, "tender pass share")


# -- (10) pipeline review -----------------------------------------------------------------------


def _first_review_after(arrived: np.ndarray, stale: float, every: float) -> np.ndarray:
    """First review time t (a multiple of ``every``) with t - arrival > stale."""
    return every * (np.floor((arrived + stale) / every) + 1)


def test_review_closes_deals_stalled_before_signing() -> None:
    """Reviews every 30 d close deals in one pre-signing stage for more than 45 d; development
    takes 50 d, so a deal is closed at the first review more than 45 d after its arrival if
    that falls before day 50 of its development; others sign after 50 + 10 d and are never
    reviewed again before signing, nor during their 400 d of implementation."""
    result = sim(
        stream(
            20.0,
            6,
            stages={
                "development": {"duration": fixed(50.0)},
                "approval": {"duration": fixed(10.0)},
                "implementation": {"duration": fixed(400.0)},
            },
            policy={"pipeline_review": {"every_days": 30.0, "stale_after_days": 45.0}},
        ),
        seed=28,
    )
    deals = result.deals
    a = deals["arrived_at"].to_numpy()
    review = _first_review_after(a, 45.0, 30.0)
    stalled = review < a + 50.0
    assert 0 < stalled.sum() < len(deals)
    assert (reason_is(deals, "stalled").to_numpy() == stalled).all()
    assert (deals.loc[stalled, "last_stage"] == "development").all()
    np.testing.assert_allclose(deals.loc[stalled, "closed_at"], review[stalled])
    np.testing.assert_allclose(deals.loc[~stalled, "signed_at"], a[~stalled] + 60.0)
    np.testing.assert_allclose(deals.loc[~stalled, "accepted_at"], a[~stalled] + 460.0)
    # The stalled deal's development visit ends at the review, with the reason.
    dev = visits(result.events, "development").set_index("deal_id")
    ids = deals.loc[stalled, "deal_id"]
    assert (dev.loc[ids, "result"] == "stalled").all()


def test_review_rescues_stalled_deals_with_one_executive_visit() -> None:
    """With action rescue, a stalled deal gets one executive visit (5 d) at the first review
    that finds it stalled, and with it the executive relationship that (here) alone passes
    negotiation. Development lasts 40-120 d, so some deals are never stalled."""
    result = sim(
        stream(
            20.0,
            6,
            stages={
                "development": {"duration": {"dist": "uniform", "low": 40.0, "high": 120.0}},
                "negotiation": reveal_executive(),
            },
            relationship={"executive_visit_days": fixed(5.0)},
            resources={"executives": {"headcount": 1000}},
            policy={
                "pipeline_review": {
                    "every_days": 30.0,
                    "stale_after_days": 45.0,
                    "action": "rescue",
                }
            },
        ),
        seed=29,
    )
    deals = result.deals.set_index("deal_id")
    dev = visits(result.events, "development").set_index("deal_id").loc[deals.index]
    a = deals["arrived_at"].to_numpy()
    review = _first_review_after(a, 45.0, 30.0)
    rescued = review < dev["ended_at"].to_numpy()
    assert 0 < rescued.sum() < len(deals)
    rows = holds(result.events, "executives").set_index("deal_id")
    assert not rows.index.duplicated().any(), "a deal was rescued twice"
    assert set(rows.index) == set(deals.index[rescued])
    assert (rows["stage"] == "development").all()
    np.testing.assert_allclose(rows.loc[deals.index[rescued], "started_at"], review[rescued])
    np.testing.assert_allclose(rows["ended_at"] - rows["started_at"], 5.0)
    assert ((deals["outcome"] == "won").to_numpy() == rescued).all()
    assert not reason_is(deals, "stalled").any()


def test_rescue_waits_for_a_free_executive() -> None:
    result = sim(
        stream(
            20.0,
            6,
            stages={"development": {"duration": fixed(100.0)}},
            relationship={"executive_visit_days": fixed(20.0)},
            resources={"executives": {"headcount": 1}},
            policy={
                "pipeline_review": {
                    "every_days": 30.0,
                    "stale_after_days": 45.0,
                    "action": "rescue",
                }
            },
        ),
        seed=30,
    )
    rows = holds(result.events, "executives")
    assert len(rows) > 1
    assert len(rows) < len(result.deals)
    assert max_concurrency(rows["started_at"], rows["ended_at"]) == 1
    # Rescues start only at review times.
    np.testing.assert_allclose(rows["started_at"] / 30.0, np.rint(rows["started_at"] / 30.0))


# -- (12) queue priority ------------------------------------------------------------------------

GRADE_CODE = {grade: rank for rank, grade in enumerate(GRADES)}


def priority_violations(result: kamsim.Result, pool: str, order: str) -> int:
    """Grants from a queue that skipped a waiting deal which ``order`` serves first.

    A grant at time t from the queue (started_at > queued_at) must go to the deal with the
    smallest (key, queued_at) among all deals queued before t and not yet served; several
    grants at one instant must go to that many smallest.
    """
    rows = holds(result.events, pool).copy()
    deals = result.deals.set_index("deal_id")
    key = {
        "fifo": rows["queued_at"].to_numpy(),
        "grade": deals.loc[rows["deal_id"], "grade"].astype(str).map(GRADE_CODE).to_numpy(),
        "value": -deals.loc[rows["deal_id"], "value"].to_numpy(),
        "oldest": deals.loc[rows["deal_id"], "arrived_at"].to_numpy(),
    }[order].astype(float)
    q = rows["queued_at"].to_numpy()
    s = rows["started_at"].to_numpy()
    assert not np.isnan(s).any()
    violations = 0
    for t in np.unique(s[s > q]):
        waiting = (q < t) & (s >= t)
        granted = waiting & (s == t)
        rest = waiting & ~granted
        if not rest.any():
            continue
        worst = max(zip(key[granted], q[granted], strict=True))
        best_left = min(zip(key[rest], q[rest], strict=True))
        violations += worst > best_left
    return violations


ORDERS = ("fifo", "grade", "value", "oldest")


@pytest.fixture(scope="module")
def priority_runs() -> dict[str, kamsim.Result]:
    """One busy presales engineer and one delivery PM; development times are spread so that
    deals reach the queues in another order than they arrived."""
    grades = {
        g: {"share": 0.25, "value": {"dist": "uniform", "low": lo, "high": lo + 3.0e6}}
        for g, lo in zip("ABCD", (3.0e6, 2.0e6, 1.0e6, 0.0), strict=True)
    }
    data = stream(
        20.0,
        10,
        grades=grades,
        stages={
            "development": {"duration": {"dist": "uniform", "low": 0.0, "high": 60.0}},
            "proposal": {"duration": fixed(2.0), "pools": ["presales"]},
            "implementation": {"duration": fixed(4.0), "pools": ["delivery"]},
        },
        resources={"presales": {"headcount": 1}, "delivery": {"headcount": 1}},
    )
    return {
        order: kamsim.simulate(build(data).with_overrides([f"policy.priority={order}"]), 31)
        for order in ORDERS
    }


@pytest.mark.parametrize("pool", ["presales", "delivery"])
@pytest.mark.parametrize("order", ORDERS)
def test_queues_serve_in_the_policy_order(
    priority_runs: dict[str, kamsim.Result], order: str, pool: str
) -> None:
    result = priority_runs[order]
    waited = holds(result.events, pool)
    assert (waited["started_at"] > waited["queued_at"] + 1).sum() > 50, "queue too short"
    assert priority_violations(result, pool, order) == 0
    # The check has power: every other order's rule is broken in this run.
    for other in ORDERS:
        if other != order:
            assert priority_violations(result, pool, other) > 0, other


def test_priority_can_differ_by_pool(priority_runs: dict[str, kamsim.Result]) -> None:
    base = priority_runs["fifo"].scenario
    mixed = base.with_overrides(['policy.priority.presales="grade"'])
    result = kamsim.simulate(mixed, 31)
    assert priority_violations(result, "presales", "grade") == 0
    assert priority_violations(result, "delivery", "fifo") == 0
    assert priority_violations(result, "delivery", "grade") > 0


# -- (13) WIP cap -------------------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "slots"), [(None, 10), (3, 6), (8, 10)])
def test_active_deal_cap_lowers_account_manager_capacity(cap: int | None, slots: int) -> None:
    """Two account managers carrying 5 deals each, owning deals until signing, under a load
    far above 10: concurrent holds reach headcount x min(deals_per_person, cap), never more."""
    data = stream(
        30.0,
        6,
        stages={
            "development": {"duration": fixed(30.0)},
            "approval": {"duration": fixed(30.0)},
        },
        resources={"account_managers": {"headcount": 2, "deals_per_person": 5, "ownership": True}},
        policy={"am_active_deal_cap": cap},
    )
    result = sim(data, seed=32)
    rows = holds(result.events, "account_managers")
    assert len(rows) == len(result.deals)
    assert max_concurrency(rows["started_at"], rows["ended_at"]) == slots
    # Each owned slot is held from the start of development until signing.
    deals = result.deals.set_index("deal_id")
    held = rows.set_index("deal_id")
    np.testing.assert_allclose(held["ended_at"], deals.loc[held.index, "signed_at"])


# -- validation of lever values -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "field", "valid"),
    [
        (
            'policy.executive_engagement="early"',
            "policy.executive_engagement",
            ["none", "approval", "proposal", "tender", "negotiation"],
        ),
        ('policy.priority="foo"', "policy.priority.presales", ["fifo", "grade", "value", "oldest"]),
        (
            'policy.priority.delivery="foo"',
            "policy.priority.delivery",
            ["fifo", "grade", "value", "oldest"],
        ),
        ('policy.executive_wait="maybe"', "policy.executive_wait", ["wait", "skip"]),
        (
            'policy.pipeline_review.action="kill"',
            "policy.pipeline_review.action",
            ["close", "rescue"],
        ),
        ('policy.qualification.min_grade="E"', "policy.qualification.min_grade", list("ABCD")),
    ],
)
def test_invalid_lever_values_list_the_valid_ones(
    override: str, field: str, valid: list[str]
) -> None:
    with pytest.raises(kamsim.ScenarioError) as err:
        kamsim.load_scenario(BASELINE, [override])
    problems = [p for p in err.value.problems if p.where == field]
    assert problems, str(err.value)
    for word in valid:
        assert f"'{word}'" in problems[0].message, problems[0].message
    # The same through the in-memory API.
    with pytest.raises(kamsim.ScenarioError, match="|".join(valid)):
        kamsim.load_scenario(BASELINE).with_overrides([override])


TINY_TOML = """\
[grades.A]
share = 1.0
value = { dist = "fixed", value = 1.0e6 }
"""


@pytest.mark.parametrize(
    ("tables", "field"),
    [
        ('[policy]\nexecutive_engagement = "proposal"', "resources.executives.headcount"),
        (
            '[policy.pipeline_review]\nevery_days = 30.0\naction = "rescue"',
            "policy.pipeline_review.action",
        ),
        (
            '[contract]\napproval_days = { dist = "fixed", value = 2.0 }',
            "resources.approvers.headcount",
        ),
        ("[policy]\ndiscount_authority = 0.1", "policy.discount_authority"),
        ("[resources.account_managers]\nownership = true", "resources.account_managers.headcount"),
        ('[stages.proposal]\npools = ["presales"]', "resources.presales.headcount"),
    ],
    ids=["engagement", "rescue", "contract-approval", "authority", "ownership", "stage-pool"],
)
def test_a_lever_needing_an_empty_pool_is_an_error_naming_the_field(
    tmp_path: Path, tables: str, field: str
) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(TINY_TOML + "\n" + tables + "\n", encoding="utf-8")
    with pytest.raises(kamsim.ScenarioError) as err:
        kamsim.load_scenario(path)
    assert [p.where for p in err.value.problems] == [field], str(err.value)
    # Without the lever the same file is valid.
    path.write_text(TINY_TOML, encoding="utf-8")
    kamsim.load_scenario(path)


def test_skipping_executives_needs_none() -> None:
    """``executive_wait = "skip"`` never waits, so zero executives is allowed (no visits)."""
    result = sim(
        batch(
            50,
            policy={"executive_engagement": "proposal", "executive_wait": "skip"},
        )
    )
    assert holds(result.events, "executives").empty
    assert (result.deals["outcome"] == "won").all()


# -- effect sizes drawn once per replication ----------------------------------------------------

TENDER, EXECUTIVE = 3, 2
"""Index of the tender in the stage order, and of the executive ratio in a stage's odds."""
EFFECT_LEADS = 6000
"""Leads per replication when each replication's pass share is checked against the closed
form for its own drawn ratio (a share near 0.6 needs about 6,000 to meet the rule's 2%)."""


def _uncertain_effect(leads: float = 3000) -> dict:
    return batch(
        leads,
        relationship={"executive_probability": {"A": 1.0}},
        stages={
            "tender": {
                "pass_probability": 0.5,
                "odds": {"executive": {"dist": "uniform", "low": 0.25, "high": 4.0}},
            }
        },
    )


def test_uncertain_effect_is_one_draw_per_replication() -> None:
    scenario = build(_uncertain_effect())
    drawn = []
    for rep in range(6):
        world = World(scenario, 40, rep)
        ratios = world.effects.odds[TENDER]
        assert ratios is not None
        drawn.append(ratios[EXECUTIVE])
        again = World(scenario, 40, rep).effects.odds[TENDER]
        assert again is not None and again[EXECUTIVE] == ratios[EXECUTIVE]
    assert all(0.25 <= r <= 4.0 for r in drawn)
    assert len(set(drawn)) == len(drawn)
    fixed_world = World(scenario.with_overrides(["stages.tender.odds.executive=2.0"]), 40, 0)
    assert fixed_world.effects.odds[TENDER] == (1.0, 1.0, 2.0, 1.0, 1.0)


@pytest.mark.slow  # four replications of 6,000 leads, each checked against its own closed form
def test_every_deal_of_a_replication_shares_the_drawn_effect() -> None:
    """Each replication's tender pass share is the closed form for its own drawn ratio, and
    differs from the others' by more than binomial noise."""
    scenario = build(_uncertain_effect(EFFECT_LEADS))
    shares, targets = [], []
    for rep in range(4):
        ratio = World(scenario, 41, rep).effects.odds[TENDER][EXECUTIVE]  # type: ignore[index]
        tender = visits(kamsim.simulate(scenario, 41, rep).events, "tender")
        target = logistic_with_odds(0.5, math.log(ratio))
        what = f"replication {rep}: tender pass share at odds ratio {ratio:.3g}"
        shares.append(assert_estimates(tender["result"] == "passed", target, what))
        targets.append(target)
    # Replications differ by far more than binomial noise (chi-square homogeneity).
    from scipy import stats

    table = [[round(ci.mean * ci.n), ci.n - round(ci.mean * ci.n)] for ci in shares]
    assert stats.chi2_contingency(table)[1] < 1e-6
    assert max(targets) - min(targets) > 0.05
