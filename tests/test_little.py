"""Tier 2: Little's law, L = lambda W, for every stage and every pool.

The monthly ``wip_<stage>``, ``util_<pool>`` and ``queue_<pool>`` columns come from level
monitors the engine logs as levels change; the events table is written separately, from each
visit's and each hold's start and end. Over a window of whole months after a warm-up, the
time-average level must equal (entries in the window / window length) x (mean time each entry
spends), with both sides estimated per replication. The check is on their ratio, target 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from constants import POOLS, STAGES
from helpers import assert_estimates, load_toml
from mechanics_helpers import little_ratio

import kamsim

# Several pools at 75-85% load, one stage holding two pools, account-manager ownership so
# one pool is held across stages; leads arrive until the horizon and the run drains, so every
# visit entering the window has ended.
LITTLE = """
    [calendar]
    horizon_months = 48
    drain = true

    [arrivals]
    rate_per_month = 40.0

    [grades.A]
    share = 0.5
    value = { dist = "fixed", value = 1.0 }
    [grades.B]
    share = 0.5
    value = { dist = "fixed", value = 1.0 }

    [stages.development]
    duration = { dist = "exponential", mean = 10.0 }
    pass_probability = { A = 0.8, B = 0.6 }
    [stages.approval]
    duration = { dist = "exponential", mean = 8.0 }
    pools = ["approvers"]
    pass_probability = 0.8
    [stages.proposal]
    duration = { dist = "lognormal", mean = 15.0, cv = 0.6 }
    pools = ["presales"]
    pass_probability = 0.7
    [stages.tender]
    duration = { dist = "triangular", low = 10.0, mode = 15.0, high = 25.0 }
    pools = ["presales", "executives"]
    pass_probability = { A = 0.6, B = 0.4 }
    [stages.negotiation]
    duration = { dist = "uniform", low = 5.0, high = 15.0 }
    pools = ["executives"]
    pass_probability = 0.9
    [stages.implementation]
    duration = { dist = "exponential", mean = 40.0 }
    pools = ["delivery"]
    pass_probability = 0.9

    [resources.account_managers]
    headcount = 14
    deals_per_person = 4
    ownership = true
    [resources.approvers]
    headcount = 9
    [resources.presales]
    headcount = 12
    deals_per_person = 2
    [resources.executives]
    headcount = 14
    [resources.delivery]
    headcount = 12
"""
WARM_UP_MONTHS = 12
LAST_MONTH = 48  # window = months 12..47, while leads still arrive
REPS = 10


def _little_ratio(
    level: pd.Series, rows: pd.DataFrame, start: str, end: str, scale: float = 1.0
) -> float:
    return little_ratio(level, rows, start, end, (WARM_UP_MONTHS, LAST_MONTH), scale)


@pytest.fixture(scope="module")
def little(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Result:
    scenario = load_toml(tmp_path_factory.mktemp("little"), LITTLE)
    return kamsim.run(scenario, reps=REPS, seed=99)


def _window(result: kamsim.Result, r: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ts = result.timeseries[result.timeseries["replication"] == r]
    ts = ts[(ts["month"] >= WARM_UP_MONTHS) & (ts["month"] < LAST_MONTH)]
    assert len(ts) == LAST_MONTH - WARM_UP_MONTHS
    events = result.events[result.events["replication"] == r]
    return ts, events


@pytest.mark.parametrize("stage", STAGES)
def test_littles_law_per_stage(little: kamsim.Result, stage: str) -> None:
    ratios = []
    for r in range(REPS):
        ts, events = _window(little, r)
        visits = events[events["pool"].isna() & (events["stage"] == stage)]
        ratios.append(_little_ratio(ts[f"wip_{stage}"], visits, "queued_at", "ended_at"))
    assert_estimates(ratios, 1.0, f"L / (lambda W) for stage {stage}")


@pytest.mark.parametrize("pool", POOLS)
def test_littles_law_for_busy_slots(little: kamsim.Result, pool: str) -> None:
    """Busy slots (util x capacity) = grant rate x mean hold, holds read from pool rows."""
    capacity = little.scenario.resources[pool].capacity
    ratios = []
    for r in range(REPS):
        ts, events = _window(little, r)
        holds = events[events["pool"] == pool]
        ratios.append(_little_ratio(ts[f"util_{pool}"], holds, "started_at", "ended_at", capacity))
    assert_estimates(ratios, 1.0, f"busy {pool} / (lambda x hold)")


@pytest.mark.parametrize("pool", ["presales", "account_managers"])
def test_littles_law_for_queues(little: kamsim.Result, pool: str) -> None:
    """Queue length = request rate x mean wait, for the two pools with real queues."""
    ratios = []
    for r in range(REPS):
        ts, events = _window(little, r)
        holds = events[events["pool"] == pool]
        ratios.append(_little_ratio(ts[f"queue_{pool}"], holds, "queued_at", "started_at"))
    assert_estimates(ratios, 1.0, f"queue {pool} / (lambda x wait)")


def test_the_window_is_busy_but_stable(little: kamsim.Result) -> None:
    """Guards that the checks above test loaded pools, not idle ones."""
    for pool in POOLS:
        util = little.timeseries[little.timeseries["month"] >= WARM_UP_MONTHS][f"util_{pool}"]
        assert 0.5 < float(np.mean(util)) < 0.95, pool
    for pool in ("presales", "account_managers"):
        assert (little.deals[f"wait_{pool}"] > 0).mean() > 0.05, pool
