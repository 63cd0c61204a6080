"""Tier 2: closed forms of the plain funnel with unlimited capacity (no pools).

With no pools nobody waits, so a lead of grade g signs with probability prod_s p_g(s) over
development..negotiation, and a won deal's cycle time is the sum of its five stage durations,
whose mean is the sum of the stage means (durations are drawn independently of the pass draws).
Leads stop after 12 months and the run drains, so no deal is left open to bias either figure.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from helpers import assert_estimates, load_toml

import kamsim

pytestmark = pytest.mark.slow  # 20 replications of 12 months at 500 leads a month

PASS = {  # grade -> pass probability of development..negotiation
    "A": (0.9, 0.8, 0.75, 0.5, 0.9),
    "B": (0.6, 0.7, 0.75, 0.3, 0.9),
}
SHARE = {"A": 0.4, "B": 0.6}
MEANS = (10.0, 20.0, 15.0, 20.0, 8.0)  # development..negotiation, as written below

FUNNEL = """
    [calendar]
    horizon_months = 24
    arrivals_until_months = 12
    drain = true

    [arrivals]
    rate_per_month = 500.0

    [grades.A]
    share = 0.4
    value = { dist = "fixed", value = 1.0 }
    [grades.B]
    share = 0.6
    value = { dist = "fixed", value = 1.0 }

    [stages.development]
    duration = { dist = "exponential", mean = 10.0 }
    pass_probability = { A = 0.9, B = 0.6 }
    [stages.approval]
    duration = { dist = "lognormal", mean = 20.0, cv = 0.8 }
    pass_probability = { A = 0.8, B = 0.7 }
    [stages.proposal]
    duration = { dist = "exponential", mean = 15.0 }
    pass_probability = 0.75
    [stages.tender]
    duration = { dist = "gamma", shape = 2.0, scale = 10.0 }
    pass_probability = { A = 0.5, B = 0.3 }
    [stages.negotiation]
    duration = { dist = "lognormal", mean = 8.0, cv = 0.5 }
    pass_probability = 0.9
    [stages.implementation]
    duration = { dist = "exponential", mean = 30.0 }
    pass_probability = 0.9
"""
REPS = 20


@pytest.fixture(scope="module")
def funnel(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Result:
    scenario = load_toml(tmp_path_factory.mktemp("funnel"), FUNNEL)
    return kamsim.run(scenario, reps=REPS, seed=2024)


def test_nothing_is_left_open(funnel: kamsim.Result) -> None:
    assert (funnel.deals["outcome"] != "open").all()
    assert (funnel.kpis["deals_open"] == 0).all()


def test_share_signed_is_product_of_pass_probabilities(funnel: kamsim.Result) -> None:
    expected = sum(SHARE[g] * math.prod(PASS[g]) for g in SHARE)
    assert expected == pytest.approx(0.4 * 0.243 + 0.6 * 0.08505)  # the product by hand
    by_rep = funnel.deals.groupby("replication")["outcome"].apply(lambda o: (o == "won").mean())
    assert len(by_rep) == REPS
    assert_estimates(by_rep, expected, "share of leads signed")


def test_cycle_time_of_won_deals_is_sum_of_stage_means(funnel: kamsim.Result) -> None:
    won = funnel.deals[funnel.deals["outcome"] == "won"]
    cycle = (won["signed_at"] - won["arrived_at"]).groupby(won["replication"]).mean()
    assert_estimates(cycle, sum(MEANS), "cycle time of won deals")
    # The KPI is the same per-replication figure.
    kpi = funnel.kpis.set_index("replication")["cycle_time_days"]
    pd.testing.assert_series_equal(kpi, cycle, check_names=False, rtol=1e-12)


def test_grade_mix_entering_tender_follows_reach(funnel: kamsim.Result) -> None:
    """Grade A's share of tender entries is its share of leads that pass three stages."""
    visits = funnel.events[funnel.events["pool"].isna()]
    tender = visits[visits["stage"] == "tender"].merge(
        funnel.deals[["replication", "deal_id", "grade"]], on=["replication", "deal_id"]
    )
    entering = tender.groupby("grade", observed=True).size()
    reach = {g: math.prod(PASS[g][:3]) * SHARE[g] for g in SHARE}
    expected_a = reach["A"] / (reach["A"] + reach["B"])
    shares = tender.groupby("replication")["grade"].apply(lambda g: (g == "A").mean())
    assert entering.sum() == len(tender)
    assert_estimates(shares, expected_a, "grade A share of tender entries")
