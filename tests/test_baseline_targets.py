"""The bundled baseline against its sourced targets, and its queues in the long run.

``tests/data/baseline_targets.csv`` lists each figure with its definition, the range its
sources give and the source. Each figure is a KPI of the ``kpis`` table (its registry entry
holds the same definition); the estimate over replications must lie inside the range, with
enough replications that the 95% half-width is under a quarter of the range's width.

The long run: ten years, drained, after the warm-up year. No pool's mean wait may grow from
year to year (the per-replication slope of yearly mean waits is not significantly above zero,
Bonferroni over the pools), while the same check flags a variant whose delivery team is too
small; and Little's law holds per stage once repeat business and account ties have settled.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from constants import BASELINE, DAYS_PER_MONTH, POOLS, STAGES
from helpers import assert_estimates, interval
from mechanics_helpers import little_ratio
from scipy import stats

import kamsim

TARGETS = Path(__file__).parent / "data" / "baseline_targets.csv"
REPS = 12
LONG_REPS = 20
LONG_MONTHS = 120
SETTLED_MONTHS = 36
"""Repeat business and account ties keep growing the flow into implementation for about
three years; the long-run checks of Little's law start after them."""


def _targets() -> list[dict[str, str]]:
    with TARGETS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def baseline_run() -> kamsim.Result:
    return kamsim.run(kamsim.load_scenario(BASELINE), reps=REPS, seed=2026)


def test_the_targets_file_names_kpis_with_their_definitions() -> None:
    rows = _targets()
    assert list(rows[0]) == ["metric", "definition", "low", "high", "source"]
    names = [r["metric"] for r in rows]
    assert len(names) == len(set(names))
    for r in rows:
        assert kamsim.kpis.lookup(r["metric"]) is not None, r["metric"]
        assert float(r["low"]) < float(r["high"]), r["metric"]
        assert r["definition"].strip() and r["source"].strip(), r["metric"]
    required = {
        "lead_conversion",
        "approval_to_signed",
        "tender_win_rate",
        "no_decision_share",
        "cycle_time_days",
        "award_to_signature_30d",
        "executive_days_per_month",
        "dso_days",
        "q4_acceptance_share",
        *(f"util_{p}" for p in POOLS),
    }
    assert required <= set(names)


@pytest.mark.parametrize("target", _targets(), ids=lambda r: r["metric"])
def test_baseline_meets_its_sourced_target(baseline_run: kamsim.Result, target: dict) -> None:
    low, high = float(target["low"]), float(target["high"])
    ci = interval(baseline_run.kpis[target["metric"]].to_numpy())
    assert ci.half_width < (high - low) / 4, f"{target['metric']}: too imprecise: {ci}"
    assert low <= ci.mean <= high, (
        f"{target['metric']} = {ci} outside [{low:g}, {high:g}] ({target['source']})"
    )


# -- the long run ------------------------------------------------------------------------------


def _long(overrides: list[str]) -> kamsim.Result:
    scenario = kamsim.load_scenario(
        BASELINE, [f"calendar.horizon_months={LONG_MONTHS}", "calendar.drain=true", *overrides]
    )
    return kamsim.run(scenario, reps=LONG_REPS, seed=7)


@pytest.fixture(scope="module")
def long_run() -> kamsim.Result:
    return _long([])


def _wait_slopes(result: kamsim.Result, pool: str) -> np.ndarray:
    """Per replication: the OLS slope (days per year) of the mean wait for ``pool`` of the
    deals arriving in each year once the flows have settled."""
    deals = result.deals
    year = (deals["arrived_at"] // (12 * DAYS_PER_MONTH)).astype(int)
    keep = (year >= SETTLED_MONTHS // 12) & (year < LONG_MONTHS // 12)
    by_year = deals[keep].groupby([deals["replication"][keep], year[keep]])[f"wait_{pool}"].mean()
    slopes = []
    for _, waits in by_year.groupby(level=0):
        years = waits.index.get_level_values(1).to_numpy(dtype=float)
        slopes.append(np.polyfit(years, waits.to_numpy(), 1)[0])
    return np.asarray(slopes)


MATERIAL_DAYS = 1.0
"""Growth of the mean wait over the settled years below a day is no queue building up."""


def _growing(result: kamsim.Result) -> dict[str, float]:
    """Pools whose yearly mean wait grows: significantly (a one-sided t-test on the
    replications' slopes, Bonferroni over the pools) and materially (by a day or more over the
    settled years); each with its mean slope in days per year."""
    out = {}
    years = (LONG_MONTHS - SETTLED_MONTHS) / 12
    for pool in POOLS:
        slopes = _wait_slopes(result, pool)
        if np.allclose(slopes, slopes[0]):
            continue  # no variation: a pool nobody waits for
        test = stats.ttest_1samp(slopes, 0.0, alternative="greater")
        if test.pvalue < 0.05 / len(POOLS) and slopes.mean() * years >= MATERIAL_DAYS:
            out[pool] = float(slopes.mean())
    return out


def test_every_pool_of_the_baseline_has_an_analytic_load_of_at_most_085() -> None:
    pools = kamsim.check(kamsim.load_scenario(BASELINE)).pools.set_index("pool")
    assert set(pools.index) == set(POOLS)
    assert (pools["offered_load"] <= 0.85).all(), pools["offered_load"].to_dict()
    assert (pools["warning"].fillna("") == "").all()


def test_no_queue_of_the_baseline_grows_over_ten_years(long_run: kamsim.Result) -> None:
    assert _growing(long_run) == {}
    after = long_run.timeseries[long_run.timeseries["month"] >= 12]
    for pool in POOLS:
        assert float(after[f"util_{pool}"].mean()) <= 0.85, pool


def test_the_growth_check_flags_an_undersized_delivery_team() -> None:
    """Negative control: the same check on the baseline with six delivery PMs."""
    assert "delivery" in _growing(_long(["resources.delivery.headcount=6"]))


@pytest.mark.parametrize("stage", STAGES)
def test_littles_law_holds_per_stage_in_the_long_run(long_run: kamsim.Result, stage: str) -> None:
    ratios = []
    for r in range(LONG_REPS):
        ts = long_run.timeseries[long_run.timeseries["replication"] == r]
        ts = ts[(ts["month"] >= SETTLED_MONTHS) & (ts["month"] < LONG_MONTHS)]
        events = long_run.events[long_run.events["replication"] == r]
        visits = events[events["pool"].isna() & (events["stage"] == stage)]
        ratios.append(
            little_ratio(
                ts[f"wip_{stage}"], visits, "queued_at", "ended_at", (SETTLED_MONTHS, LONG_MONTHS)
            )
        )
    assert_estimates(ratios, 1.0, f"L / (lambda W) for stage {stage}")
