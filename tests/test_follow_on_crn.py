"""Common random numbers for follow-on leads: keyed to the parent, not to arrival order.

A follow-on lead (repeat business) continues the chain its new lead started. Its id is its
parent's id + 10,000,000 and its random inputs belong to that chain, so when two variants of
one scenario (different staffing, different policy) both see the same parent bring a
follow-on, that follow-on is the same lead: same id, value, margin, grade and account, and the
same working time in every stage it completes in both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE

import kamsim

pytestmark = pytest.mark.slow  # each variant pair runs 15 replications of 36 months twice

STRIDE = 10_000_000
"""Documented id offset of a follow-on lead from its parent (README, Outputs)."""
RUNS = [(seed, rep) for seed in (3, 8, 21) for rep in range(5)]
LONG = ["calendar.horizon_months=36", "calendar.warmup_months=0"]
VARIANTS = {
    "staffing": (["resources.presales.headcount=5"], ["resources.presales.headcount=8"]),
    "policy": ([], ['policy.executive_engagement="proposal"']),
}
WORK_STAGES = ("development", "approval", "proposal", "tender")
"""Stages whose visit ends when the work does (negotiation's end also waits for approvals
and is paced by period ends, implementation's for the customer's acceptance)."""

Tables = tuple[pd.DataFrame, pd.DataFrame]


def _run(overrides: list[str]) -> Tables:
    """Deals and events of every run, with a ``run`` column telling the runs apart."""
    scenario = kamsim.load_scenario(BASELINE, [*LONG, *overrides])
    deals, events = [], []
    for run, (seed, rep) in enumerate(RUNS):
        result = kamsim.simulate(scenario, seed=seed, replication=rep)
        deals.append(result.deals.assign(run=run))
        events.append(result.events.assign(run=run))
    return pd.concat(deals, ignore_index=True), pd.concat(events, ignore_index=True)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pair(request: pytest.FixtureRequest) -> tuple[Tables, Tables]:
    a, b = VARIANTS[request.param]
    return _run(a), _run(b)


def _follow_ons(tables: Tables) -> pd.DataFrame:
    """Follow-on leads indexed by (run, parent id)."""
    deals = tables[0]
    children = deals[deals["repeat_of"].notna()].copy()
    children["parent"] = children["repeat_of"].astype(np.int64)
    children["grade"] = children["grade"].astype(str)
    return children.set_index(["run", "parent"])


def _paired(pair: tuple[Tables, Tables]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Follow-ons of the parents that bring one in both variants, in the same order."""
    a, b = (_follow_ons(t) for t in pair)
    both = a.index.intersection(b.index)
    return a.loc[both], b.loc[both]


def test_follow_ons_of_the_same_parent_are_the_same_lead(pair: tuple[Tables, Tables]) -> None:
    a, b = _paired(pair)
    assert len(a) > 20, f"only {len(a)} parents bring a follow-on in both variants"
    np.testing.assert_array_equal(a["deal_id"].to_numpy(), b["deal_id"].to_numpy())
    parents = a.index.get_level_values("parent").to_numpy()
    np.testing.assert_array_equal(a["deal_id"].to_numpy(), parents + STRIDE)
    for column in ("value", "margin", "grade", "account_id"):
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(), err_msg=column)


def test_follow_ons_work_as_long_in_both_variants(pair: tuple[Tables, Tables]) -> None:
    a, _ = _paired(pair)
    paired = pd.MultiIndex.from_arrays([a.index.get_level_values("run"), a["deal_id"]])

    def work(events: pd.DataFrame) -> pd.Series:
        """Working time of every completed work visit of a paired follow-on, by stage."""
        ev = events[
            events["pool"].isna()
            & events["stage"].astype(str).isin(WORK_STAGES)
            & (events["result"] == "passed")
            & events["started_at"].notna()
        ]
        ev = ev[pd.MultiIndex.from_arrays([ev["run"], ev["deal_id"]]).isin(paired)]
        idx = pd.MultiIndex.from_arrays([ev["run"], ev["deal_id"], ev["stage"].astype(str)])
        return pd.Series((ev["ended_at"] - ev["started_at"]).to_numpy(float), index=idx)

    wa, wb = (work(t[1]) for t in pair)
    both = wa.index.intersection(wb.index)
    assert len(both) > 20, f"only {len(both)} work visits of paired follow-ons end in both"
    np.testing.assert_allclose(wa.loc[both], wb.loc[both], rtol=1e-12, atol=1e-9)


def test_the_pairing_is_not_trivial(pair: tuple[Tables, Tables]) -> None:
    """Negative controls: the variants really differ in which parents bring follow-ons, and
    paired follow-ons take different places in the arrival order of their grade's
    follow-ons, so inputs handed out in arrival order would differ between the variants."""
    a, b = (_follow_ons(t) for t in pair)
    only_one = a.index.symmetric_difference(b.index)
    assert len(only_one) > 0, "every parent brings a follow-on in both variants or neither"

    def places(children: pd.DataFrame) -> pd.Series:
        order = children.reset_index().sort_values(["run", "grade", "arrived_at"])
        order["place"] = order.groupby(["run", "grade"]).cumcount()
        return order.set_index(["run", "parent"])["place"]

    pa, pb = places(a), places(b)
    both = pa.index.intersection(pb.index)
    moved = int((pa.loc[both] != pb.loc[both]).sum())
    assert moved > 0, "paired follow-ons arrive in the same order in both variants"
