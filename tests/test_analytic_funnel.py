"""``kamsim check``'s funnel against the engine where nobody waits (capacity far above load).

With no queue, the analytic funnel has no approximation left but its fixed-seed sample: each
lead's chances, shaping, tender check, qualification, stall risk, executive visit, approvals
and escalation, period-end pace and discounts, value-scaled delivery with change orders. Leads
arrive for a year and the run drains, so every lead's fate is known; each replication gives one
figure per quantity (replications are independent), held to the run's own t interval with the
suite's 10% negative control.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import assert_estimates, load_toml

import kamsim
from kamsim.analytic import check

pytestmark = pytest.mark.slow  # 20 replications of 4,800 leads

REPS = 20
FUNNEL = """
    name = "funnel-no-queues"
    [calendar]
    horizon_months = 12
    arrivals_until_months = 12
    drain = true

    [arrivals]
    rate_per_month = 400.0

    [grades.A]
    share = 0.4
    value = { dist = "lognormal", mean = 4.0e6, cv = 0.3 }
    margin = { dist = "triangular", low = 0.05, mode = 0.20, high = 0.35 }
    [grades.B]
    share = 0.6
    value = { dist = "lognormal", mean = 2.0e6, cv = 0.3 }
    margin = { dist = "triangular", low = 0.02, mode = 0.12, high = 0.25 }

    [stages.development]
    duration = { dist = "lognormal", mean = 20.0, cv = 0.6 }
    pass_probability = { A = 0.95, B = 0.9 }
    stall_half_life_days = 40.0
    [stages.approval]
    duration = { dist = "exponential", mean = 30.0 }
    pass_probability = { A = 0.95, B = 0.9 }
    odds = { access = 1.5, champion = 2.0 }
    stall_half_life_days = 60.0
    [stages.proposal]
    duration = { dist = "lognormal", mean = 30.0, cv = 0.5 }
    pass_probability = 0.9
    odds = { champion = 1.5 }
    [stages.tender]
    duration = { dist = "triangular", low = 20.0, mode = 25.0, high = 40.0 }
    pass_probability = { A = 0.6, B = 0.5 }
    odds = { shaped = 2.0, executive = 1.8, competitor = 0.85 }
    [stages.negotiation]
    duration = { dist = "triangular", low = 5.0, mode = 10.0, high = 20.0 }
    pass_probability = 0.95
    [stages.implementation]
    duration = { dist = "lognormal", mean = 120.0, cv = 0.4 }
    pass_probability = 0.97

    [resources.executives]
    headcount = 10000
    [resources.approvers]
    headcount = 10000

    [relationship]
    access_probability = { A = 0.6, B = 0.3 }
    champion_probability = { A = 0.5, B = 0.2 }
    champion_loss_per_year = 0.5
    executive_probability = { A = 0.3, B = 0.0 }
    executive_visit_days = { dist = "uniform", low = 2.0, high = 6.0 }

    [competition]
    competitors = { dist = "empirical", values = [1, 2, 3, 4], weights = [0.2, 0.4, 0.3, 0.1] }
    shaping_probability = { A = 0.5, B = 0.3 }
    shaping_odds = { access = 1.5, champion = 2.0, executive = 1.5 }
    price_fight_discount = { dist = "uniform", low = 0.02, high = 0.12 }
    withdraw_probability = 0.1
    no_bid_probability = { A = 0.03, B = 0.08 }

    [contract]
    approval_days = { dist = "uniform", low = 2.0, high = 6.0 }

    [implementation]
    value_elasticity = 0.5
    reference_value = 3.0e6
    change_orders_per_month = 0.3
    change_order_value_share = 0.05
    change_order_days = 8.0

    [period_end]
    window_days = 10
    quarter = { intensity = 2.0, discount = 0.04 }
    year = { intensity = 3.0, discount = 0.06 }

    [policy]
    executive_engagement = "proposal"
    bid_min_margin = 0.06
    discount_authority = 0.10
    qualification = { min_margin = 0.04 }
"""


@pytest.fixture(scope="module")
def funnel(tmp_path_factory: pytest.TempPathFactory) -> tuple[kamsim.Scenario, pd.DataFrame]:
    scenario = load_toml(tmp_path_factory.mktemp("funnel"), FUNNEL)
    deals = kamsim.run(scenario, reps=REPS, seed=11).deals
    assert (deals["outcome"] != "open").all()
    return scenario, deals


def _analytic(scenario: kamsim.Scenario) -> dict[str, float]:
    c = check(scenario)
    s = c.summary[c.summary["capacity"] == "unlimited"].set_index("measure")["value"]
    f = c.funnel[(c.funnel["capacity"] == "unlimited") & (c.funnel["grade"] == "all")]
    tender = f[f["stage"] == "tender"].set_index("flow")["per_year"]
    return {
        "won": s["wins"] / s["leads"],
        "cycle": s["cycle_time_days"],
        "bookings": s["bookings"] / s["leads"],
        "declined": (tender.get("no_bid", 0.0) + tender.get("withdrew", 0.0)) / s["leads"],
    }


def test_no_pool_waits(funnel: tuple[kamsim.Scenario, pd.DataFrame]) -> None:
    scenario, deals = funnel
    pools = check(scenario).pools
    assert (pools["p_wait"] < 1e-6).all()
    assert (deals.filter(like="wait_").to_numpy() == 0).all()


def test_share_of_leads_signed(funnel: tuple[kamsim.Scenario, pd.DataFrame]) -> None:
    scenario, deals = funnel
    won = deals.groupby("replication")["outcome"].apply(lambda o: float((o == "won").mean()))
    assert_estimates(won.to_numpy(), _analytic(scenario)["won"], "share of leads signed")


def test_cycle_time_to_signature(funnel: tuple[kamsim.Scenario, pd.DataFrame]) -> None:
    scenario, deals = funnel
    won = deals[deals["outcome"] == "won"]
    cycle = (won["signed_at"] - won["arrived_at"]).groupby(won["replication"]).mean()
    assert_estimates(cycle.to_numpy(), _analytic(scenario)["cycle"], "days from lead to signature")


def test_bookings_per_lead(funnel: tuple[kamsim.Scenario, pd.DataFrame]) -> None:
    """Booked value after price-fight and period-end discounts, plus change orders."""
    scenario, deals = funnel
    per_lead = deals.groupby("replication")["booked_value"].mean()
    assert_estimates(per_lead.to_numpy(), _analytic(scenario)["bookings"], "bookings per lead")


def test_share_declined_at_the_tender(funnel: tuple[kamsim.Scenario, pd.DataFrame]) -> None:
    """Withdrawals (unshaped criteria) and no-bids (by chance and below the margin bar)."""
    scenario, deals = funnel
    declined = deals.groupby("replication")["exit_reason"].apply(
        lambda r: float(r.isin(["no_bid", "withdrew"]).mean())
    )
    assert_estimates(
        np.asarray(declined, dtype=float),
        _analytic(scenario)["declined"],
        "share declined at the tender",
    )
