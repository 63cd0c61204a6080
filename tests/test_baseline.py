"""The bundled baseline: valid, and every pool busy but stable (offered load 0.6-0.9).

The offered load of a pool is (leads per day) x (expected slot-days one lead takes from it) /
(slots), computed here from the scenario's own numbers: grade shares, base pass
probabilities by grade (a deal reaches stage s with the product of the pass probabilities
before it) and mean durations. It ignores waiting, and the odds and waiting effects on pass
chances, so it is a design figure, not a forecast. Pool uses are listed per stage visit, so a
new kind of use (a policy's executive visit, a contract approval) is one more entry in
``pool_uses``; with account-manager ownership the account manager is held for the whole
time from entering development to signing or leaving.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from constants import BASELINE, DAYS_PER_MONTH, POOLS, STAGES
from helpers import load_toml
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app


def pool_uses(scenario: kamsim.Scenario, stage: str) -> list[tuple[str, float]]:
    """(pool, mean days held) of every slot a deal takes while visiting ``stage``."""
    spec = scenario.stages[stage]
    uses = [(pool, spec.duration.mean) for pool in spec.pools]
    policy = scenario.policy
    if getattr(policy, "executive_engagement", "none") == stage:
        uses.append(("executives", scenario.relationship.executive_visit_days.mean))
    contract = getattr(scenario, "contract", None)
    if stage == "negotiation" and contract is not None and contract.approval_days is not None:
        uses.append(("approvers", contract.approval_days.mean))
    return uses


def offered_loads(scenario: kamsim.Scenario) -> dict[str, float]:
    """Offered load of each pool with at least one slot."""
    owner = "account_managers" if scenario.resources.account_managers.ownership else None
    slot_days = dict.fromkeys(POOLS, 0.0)
    for grade, spec in scenario.grades.items():
        reach = spec.share  # share of all leads that are of this grade and reach the stage
        for stage in STAGES:
            uses = pool_uses(scenario, stage)
            for pool, days in uses:
                if pool != owner:
                    slot_days[pool] += reach * days
            if owner is not None and stage != "implementation":
                # Owned from development to signing: the stage's work plus its extra steps
                # (visits, approvals) that do not run alongside the work.
                own_pools = set(scenario.stages[stage].pools)
                extra = sum(days for pool, days in uses if pool not in own_pools)
                slot_days[owner] += reach * (scenario.stages[stage].duration.mean + extra)
            reach *= scenario.stages[stage].pass_for(grade)
    leads_per_day = scenario.arrivals.rate_per_month / DAYS_PER_MONTH
    return {
        pool: leads_per_day * slot_days[pool] / scenario.resources[pool].capacity
        for pool in POOLS
        if scenario.resources[pool].capacity > 0
    }


def test_offered_load_by_hand(tmp_path: Path) -> None:
    """The calculation on a scenario small enough to do on paper."""
    scenario = load_toml(
        tmp_path,
        """
        [arrivals]
        rate_per_month = 60.833333333333336   # 2 leads a day
        [grades.A]
        share = 0.25
        value = { dist = "fixed", value = 1.0 }
        [grades.B]
        share = 0.75
        value = { dist = "fixed", value = 1.0 }
        [stages.development]
        duration = { dist = "fixed", value = 10.0 }
        pass_probability = { A = 1.0, B = 0.2 }
        [stages.proposal]
        duration = { dist = "uniform", low = 10.0, high = 30.0 }
        pools = ["presales"]
        [stages.implementation]
        duration = { dist = "exponential", mean = 100.0 }
        pools = ["delivery"]
        [resources.account_managers]
        headcount = 10
        deals_per_person = 4
        ownership = true
        [resources.presales]
        headcount = 20
        [resources.delivery]
        headcount = 50
        """,
    )
    reach_proposal = 0.25 * 1.0 + 0.75 * 0.2  # 0.4 of leads get past development
    loads = offered_loads(scenario)
    assert set(loads) == {"account_managers", "presales", "delivery"}
    # Account managers: 10 days for every lead, 20 more for the 40% reaching the proposal.
    assert loads["account_managers"] == pytest.approx(2 * (10 + reach_proposal * 20) / 40)
    assert loads["presales"] == pytest.approx(2 * reach_proposal * 20 / 20)
    assert loads["delivery"] == pytest.approx(2 * reach_proposal * 100 / 50)


def test_baseline_validates() -> None:
    result = CliRunner().invoke(app, ["validate", str(BASELINE)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert kamsim.load_scenario(BASELINE).name == "baseline"


def test_baseline_pools_are_busy_but_stable(baseline: kamsim.Scenario) -> None:
    loads = offered_loads(baseline)
    used = {p for s in STAGES for p, _ in pool_uses(baseline, s)}
    if baseline.resources.account_managers.ownership:
        used.add("account_managers")
    assert used == set(POOLS), f"pools no stage or policy uses: {set(POOLS) - used}"
    outside = {p: round(x, 3) for p, x in loads.items() if not 0.6 <= x <= 0.9}
    assert not outside, f"offered load outside 0.6-0.9: {outside} (all: {loads})"
