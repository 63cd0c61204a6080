"""Directional claims on the baseline, from paired replications (common random numbers).

Every comparison runs the variant and the reference with the same seed and replication
indices and reads ``kamsim.analysis.paired_difference``: a claim holds when the mean paired
difference has the stated sign and its 95% interval excludes zero. The bundled variants'
measured answers are their files' comments, recomputed at the settings they state (20
replications, seed 2026); the other claims use the first 12 of those replications.

Also here: the exit reasons and the stages where each can occur, and the KPI table's columns.
"""

from __future__ import annotations

import re
import sys

import pandas as pd
import pytest
from constants import BASELINE, EXIT_STAGES, KPI_COLUMNS, POOLS, SCENARIOS
from mechanics_helpers import reason_is, visits

import kamsim
from kamsim.analysis import format_kpi, paired_difference

pytestmark = pytest.mark.slow  # every claim reads 12 to 20 replications of several scenarios

SEED, REPS, FEW = 2026, 20, 12
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
    """Runs of the baseline and its variants at seed 2026, each computed once per session."""

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


RUNS = Runs()


@pytest.fixture(scope="module")
def runs() -> Runs:
    return RUNS


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


def test_a_larger_executive_uplift_raises_the_win_rate(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    strong = baseline_scenario.with_overrides([f"{key}=3.0" for key in EXECUTIVE_ODDS])
    none = baseline_scenario.with_overrides([f"{key}=1.0" for key in EXECUTIVE_ODDS])
    assert_rises(
        runs.metrics("exec-or-3", FEW, strong), runs.metrics("exec-or-1", FEW, none), "win_rate"
    )


def test_engagement_without_uplift_only_costs_executive_time(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    """All executive odds ratios 1 and no account ties: engaging executives at the proposal
    (waiting for them) spends their days and does not raise the win rate."""
    no_uplift = [f"{key}=1.0" for key in EXECUTIVE_ODDS]
    no_uplift += ["competition.shaping_odds.executive=1.0", "relationship.account_ties=false"]
    engaged = baseline_scenario.with_overrides(
        [*no_uplift, "policy.executive_engagement=proposal", "policy.executive_wait=wait"]
    )
    idle = baseline_scenario.with_overrides([*no_uplift, "policy.executive_engagement=none"])
    variant = runs.metrics("zero-uplift-proposal", FEW, engaged)
    reference = runs.metrics("zero-uplift-none", FEW, idle)
    assert_rises(variant, reference, "executive_days_per_month")
    win = difference(variant, reference, "win_rate")
    assert win["low"] < 0 or win["mean"] < 0, f"win_rate rose: {win.to_dict()}"


def test_a_stricter_bid_margin_lowers_the_number_of_bids(
    runs: Runs, baseline_scenario: kamsim.Scenario
) -> None:
    strict = baseline_scenario.with_overrides(["policy.bid_min_margin=0.15"])
    assert_falls(runs.metrics("bid-15", FEW, strict), first(runs.metrics("baseline")), "bids")


# -- the bundled variants' measured answers (their files' comments) -----------------------------

MEASURED_REPS, MEASURED_SEED = REPS, SEED
"""The settings at which each variant's comment states its measured effect."""
ANSWERS: dict[str, tuple[str, ...]] = {
    "exec-early": ("bookings", "contribution", "win_rate", "executive_days_per_month"),
    "exec-at-implementation": ("bookings", "contribution", "deals_won", "cycle_time_days"),
    "presales-plus-2": ("bookings", "contribution", "wait_presales"),
    "am-plus-1": ("bookings", "contribution", "deals_won"),
    "strict-qualification": ("bookings", "contribution", "win_rate", "util_presales"),
    "wip-cap": ("bookings", "win_rate", "wait_account_managers", "deals_won"),
    "pipeline-review": ("bookings", "contribution", "cycle_time_days", "deals_won"),
}
"""Each bundled variant and the KPIs its comment answers with."""
HEADER = (
    f"# Measured against the baseline (paired, {MEASURED_REPS} replications, seed "
    f"{MEASURED_SEED}, after the warm-up year; variant - baseline, 95% interval):"
)
ANSWER = re.compile(r"^#   (\w+): (.+)$")


def _signed(kpi: str, x: float) -> str:
    text = format_kpi(kpi, x)
    return text if text.startswith("-") else f"+{text}"


def measured(name: str, overrides: tuple[str, ...] = ()) -> pd.DataFrame:
    """KPIs of a bundled scenario (with ``overrides``) at the measured settings."""
    if not overrides:
        return RUNS.result(name).kpis
    scenario = kamsim.load_scenario(SCENARIOS / f"{name}.toml", list(overrides))
    return RUNS.result(f"{name} {' '.join(overrides)}", REPS, scenario).kpis


def measured_lines(name: str) -> list[str]:
    """The comment lines stating variant ``name``'s paired effect on its KPIs, as measured."""
    table = paired_difference(measured(name), measured("baseline")).set_index("kpi")
    lines = [HEADER]
    for kpi in ANSWERS[name]:
        row = table.loc[kpi]
        lines.append(
            f"#   {kpi}: {_signed(kpi, row['mean'])} "
            f"[{_signed(kpi, row['low'])}, {_signed(kpi, row['high'])}]"
        )
    return lines


def stated_lines(name: str) -> list[str]:
    """The comment's measured block as written in the variant's file."""
    lines = (SCENARIOS / f"{name}.toml").read_text(encoding="utf-8").splitlines()
    at = lines.index(HEADER)
    block = [HEADER]
    for line in lines[at + 1 :]:
        if not ANSWER.match(line):
            break
        block.append(line)
    return block


def test_every_bundled_variant_states_a_question_and_its_answer() -> None:
    names = sorted(p.stem for p in SCENARIOS.glob("*.toml") if p.stem != "baseline")
    assert names == sorted(ANSWERS)
    for name in names:
        text = (SCENARIOS / f"{name}.toml").read_text(encoding="utf-8")
        assert text.startswith("# Question:"), name
        assert "# Why:" in text, name
        assert HEADER in text, name


def test_one_more_account_manager_is_the_hire_that_pays_best() -> None:
    """am-plus-1's claim: of the single hires it names, it adds the most contribution."""
    base = measured("baseline")["contribution"]
    best = (measured("am-plus-1")["contribution"] - base).mean()
    others = {
        "presales +2": measured("presales-plus-2"),
        "delivery +2": measured("baseline", ("resources.delivery.headcount=12",)),
        "approvers +1": measured("baseline", ("resources.approvers.headcount=6",)),
        "executives +1": measured("baseline", ("resources.executives.headcount=3",)),
    }
    for hire, kpis in others.items():
        assert (kpis["contribution"] - base).mean() < best, hire


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_variants_stated_effect_is_what_it_measures(name: str) -> None:
    """Claims are measured: the effect in the comment is recomputed at the stated settings
    (regenerate with ``python tests/test_variants.py`` after a change that moves results)."""
    assert stated_lines(name) == measured_lines(name)


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


def _rewrite(name: str) -> None:
    """Replace the variant's measured block (or add it after the comment) with a fresh one."""
    path = SCENARIOS / f"{name}.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    if HEADER in lines:
        old = stated_lines(name)
        at = lines.index(HEADER)
        lines[at : at + len(old)] = measured_lines(name)
    else:
        at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        lines[at:at] = measured_lines(name)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    for variant in sys.argv[1:] or sorted(ANSWERS):
        _rewrite(variant)
        print(f"measured {variant}")
