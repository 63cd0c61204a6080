"""Directional claims on the baseline, from paired replications (common random numbers).

Every comparison runs the variant and the reference with the same seed and replication
indices and reads ``kamsim.analysis.paired_difference``: a claim holds when the mean paired
difference has the stated sign and its 95% interval excludes zero. The bundled variants'
claims are their files' comments, checked at the settings they were written for (20
replications, seed 3); the other claims use the first 12 of those replications.

Also here: the exit reasons and the stages where each can occur, and the KPI table's columns.
"""

from __future__ import annotations

import pandas as pd
import pytest
from constants import BASELINE, EXIT_STAGES, KPI_COLUMNS, POOLS, SCENARIOS
from mechanics_helpers import reason_is, visits

import kamsim
from kamsim.analysis import paired_difference

pytestmark = pytest.mark.slow  # every claim reads 12 to 20 replications of several scenarios

SEED, REPS, FEW = 3, 20, 12
EXECUTIVE_ODDS = [f"stages.{s}.odds.executive" for s in ("approval", "proposal", "tender")]
EXECUTIVE_ODDS.append("stages.negotiation.odds.executive")


def metrics(result: kamsim.Result) -> pd.DataFrame:
    """The KPIs plus per-replication means of the deals' waits and the number of bids."""
    table = result.kpis.set_index("replication")
    deals = result.deals
    for pool in POOLS:
        table[f"wait_{pool}"] = deals.groupby("replication")[f"wait_{pool}"].mean()
    table["went_cold"] = reason_is(deals, "went_cold").groupby(deals["replication"]).sum()
    tender = visits(result.events, "tender")
    bid = tender[~tender["result"].isin(["no_bid", "withdrew"])]
    table["bids"] = bid.groupby("replication").size().reindex(table.index, fill_value=0)
    return table.reset_index()


@pytest.fixture(scope="module")
def baseline_scenario() -> kamsim.Scenario:
    return kamsim.load_scenario(BASELINE)


class Runs:
    """Runs of the baseline and its variants at seed 3, each computed once per module."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, int], kamsim.Result] = {}
        self._metrics: dict[tuple[str, int], pd.DataFrame] = {}

    def result(
        self, name: str, reps: int = REPS, scenario: kamsim.Scenario | None = None
    ) -> kamsim.Result:
        """A bundled scenario by file name, or ``scenario`` under the label ``name``."""
        if (name, reps) not in self._results:
            if scenario is None:
                scenario = kamsim.load_scenario(SCENARIOS / f"{name}.toml")
            self._results[(name, reps)] = kamsim.run(scenario, reps=reps, seed=SEED)
        return self._results[(name, reps)]

    def metrics(
        self, name: str, reps: int = REPS, scenario: kamsim.Scenario | None = None
    ) -> pd.DataFrame:
        if (name, reps) not in self._metrics:
            self._metrics[(name, reps)] = metrics(self.result(name, reps, scenario))
        return self._metrics[(name, reps)]


@pytest.fixture(scope="module")
def runs() -> Runs:
    return Runs()


def difference(variant: pd.DataFrame, reference: pd.DataFrame, kpi: str) -> pd.Series:
    table = paired_difference(variant, reference).set_index("kpi")
    row = table.loc[kpi]
    assert row["n"] == len(variant)
    return row


def assert_rises(variant: pd.DataFrame, reference: pd.DataFrame, kpi: str) -> pd.Series:
    row = difference(variant, reference, kpi)
    assert row["mean"] > 0 and row["low"] > 0, f"{kpi} does not rise: {row.to_dict()}"
    return row


def assert_falls(variant: pd.DataFrame, reference: pd.DataFrame, kpi: str) -> pd.Series:
    row = difference(variant, reference, kpi)
    assert row["mean"] < 0 and row["high"] < 0, f"{kpi} does not fall: {row.to_dict()}"
    return row


def first(table: pd.DataFrame, n: int = FEW) -> pd.DataFrame:
    return table[table["replication"] < n].reset_index(drop=True)


# -- directional claims at 12 replications ------------------------------------------------------


def test_more_presales_shorten_presales_waits(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    reference = first(runs.metrics("baseline"))
    more = baseline_scenario.with_overrides(["resources.presales.headcount=6"])
    assert_falls(runs.metrics("presales-6", FEW, more), reference, "wait_presales")


def test_a_larger_executive_uplift_raises_the_win_rate(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    strong = baseline_scenario.with_overrides([f"{key}=3.0" for key in EXECUTIVE_ODDS])
    none = baseline_scenario.with_overrides([f"{key}=1.0" for key in EXECUTIVE_ODDS])
    assert_rises(
        runs.metrics("exec-or-3", FEW, strong), runs.metrics("exec-or-1", FEW, none), "win_rate"
    )


def test_engagement_without_uplift_only_adds_waiting(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    """All executive odds ratios 1: engaging executives at the proposal (waiting for them)
    adds executive waits and does not raise the win rate."""
    no_uplift = [f"{key}=1.0" for key in EXECUTIVE_ODDS]
    no_uplift.append("competition.shaping_odds.executive=1.0")
    engaged = baseline_scenario.with_overrides(
        [*no_uplift, "policy.executive_engagement=proposal", "policy.executive_wait=wait"]
    )
    idle = baseline_scenario.with_overrides([*no_uplift, "policy.executive_engagement=none"])
    variant = runs.metrics("zero-uplift-proposal", FEW, engaged)
    reference = runs.metrics("zero-uplift-none", FEW, idle)
    assert (variant["wait_executives"] > 0).all()
    assert_rises(variant, reference, "wait_executives")
    win = difference(variant, reference, "win_rate")
    assert win["low"] < 0 or win["mean"] < 0, f"win_rate rose: {win.to_dict()}"
    waited = runs.result("zero-uplift-proposal", FEW).events
    rows = waited[waited["pool"] == "executives"]
    assert (rows["started_at"] > rows["queued_at"]).any()


def test_a_stricter_bid_margin_lowers_the_number_of_bids(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    strict = baseline_scenario.with_overrides(["policy.bid_min_margin=0.15"])
    assert_falls(runs.metrics("bid-15", FEW, strict), first(runs.metrics("baseline")), "bids")


# -- the bundled variants' claims (their files' comments) ---------------------------------------


def test_exec_early_raises_the_win_rate_at_the_same_headcount(
    runs: Runs,
) -> None:
    variant, reference = runs.metrics("exec-early"), runs.metrics("baseline")
    assert_rises(variant, reference, "win_rate")
    assert (difference(variant, reference, "cost_of_sale")[["low", "high"]] == 0).all()


def test_presales_plus_2_cuts_presales_waits_and_raises_bookings(
    runs: Runs,
) -> None:
    variant, reference = runs.metrics("presales-plus-2"), runs.metrics("baseline")
    assert_falls(variant, reference, "wait_presales")
    assert_falls(variant, reference, "went_cold")
    assert_rises(variant, reference, "bookings")


def test_strict_qualification_lowers_presales_load_and_raises_margin(
    runs: Runs,
) -> None:
    variant, reference = runs.metrics("strict-qualification"), runs.metrics("baseline")
    assert_falls(variant, reference, "util_presales")
    assert_rises(variant, reference, "gross_margin_pct")
    assert_falls(variant, reference, "bookings")


def test_wip_cap_makes_leads_wait_for_account_managers_and_wins_fewer(
    runs: Runs,
) -> None:
    variant, reference = runs.metrics("wip-cap"), runs.metrics("baseline")
    assert_rises(variant, reference, "wait_account_managers")
    assert_rises(variant, reference, "went_cold")
    assert_falls(variant, reference, "deals_won")


def test_pipeline_review_leaves_fewer_deals_open_and_shortens_cycles(
    runs: Runs,
) -> None:
    variant, reference = runs.metrics("pipeline-review"), runs.metrics("baseline")
    assert_falls(variant, reference, "deals_open")
    assert_falls(variant, reference, "cycle_time_days")


# -- exit reasons and the funnel ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["baseline", "strict-qualification", "pipeline-review", "exec-early"]
)
def test_every_lost_deal_has_a_known_exit_reason_at_the_right_stage(runs: Runs, name: str) -> None:
    result = runs.result(name)
    deals = result.deals
    lost = deals[deals["outcome"] == "lost"]
    assert lost["exit_reason"].notna().all()
    assert set(lost["exit_reason"]) <= set(EXIT_STAGES)
    for reason, stages in EXIT_STAGES.items():
        at = set(lost.loc[lost["exit_reason"] == reason, "last_stage"].astype(str))
        assert at <= stages, f"{reason} at {at - stages}"
    # Patience is set for development, proposal and tender only.
    cold = set(lost.loc[reason_is(lost, "went_cold"), "last_stage"].astype(str))
    assert cold <= {"development", "proposal", "tender"}
    # Won and open deals carry no exit reason.
    assert deals.loc[deals["outcome"] != "lost", "exit_reason"].isna().all()
    # The funnel read from deals agrees with the stage visits: a lost deal's last visit ended
    # with its exit reason.
    last = visits(result.events).sort_values(["replication", "deal_id", "queued_at"])
    last = last.groupby(["replication", "deal_id"]).tail(1).set_index(["replication", "deal_id"])
    key = lost.set_index(["replication", "deal_id"])
    assert (last.loc[key.index, "result"] == key["exit_reason"]).all()
    assert (last.loc[key.index, "stage"].astype(str) == key["last_stage"].astype(str)).all()
    # Cancellations after signing live in ``cancelled``: won deals whose implementation
    # visit ended "cancelled".
    cancelled = deals.set_index(["replication", "deal_id"])["cancelled"]
    impl = visits(result.events, "implementation").set_index(["replication", "deal_id"])
    ended_cancelled = impl.index[impl["result"] == "cancelled"]
    assert set(cancelled.index[cancelled]) == set(ended_cancelled)
    assert (deals.loc[deals["cancelled"], "outcome"] == "won").all()


def test_baseline_funnel_shows_the_levers_exit_reasons(
    runs: Runs,
) -> None:
    deals = runs.result("baseline").deals
    reasons = set(deals["exit_reason"].dropna())
    expected = {"disqualified", "not_shortlisted", "customer_dropped", "bid_lost"}
    expected |= {"negotiation_failed", "went_cold", "no_bid", "withdrew"}
    assert expected <= reasons
    assert deals["cancelled"].any()
    assert "not_approved" in set(runs.result("strict-qualification").deals["exit_reason"])
    assert "stalled" in set(runs.result("pipeline-review").deals["exit_reason"])


def test_kpis_keep_the_foundation_columns(runs: Runs) -> None:
    kpis = runs.result("baseline").kpis
    assert list(kpis.columns) == KPI_COLUMNS
    assert list(kpis["replication"]) == list(range(REPS))
    assert (kpis["seed"] == SEED).all()
