"""The tables' contract: columns, one row per month, and KPIs that agree with the rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from constants import DAYS_PER_MONTH, KPI_COLUMNS, POOLS, STAGES

import kamsim

DEAL_COLUMNS = [
    "replication",
    "deal_id",
    "account_id",
    "grade",
    "value",
    "margin",
    "arrived_at",
    "last_stage",
    "outcome",
    "exit_reason",
    "signed_at",
    "closed_at",
    "booked_value",
    "accepted_at",
    "cancelled",
    "owner",
    *(f"wait_{p}" for p in POOLS),
]
EVENT_COLUMNS = [
    "replication",
    "deal_id",
    "stage",
    "pool",
    "queued_at",
    "started_at",
    "ended_at",
    "result",
]
TIMESERIES_COLUMNS = [
    "replication",
    "month",
    "date",
    "bookings",
    "revenue",
    "cash",
    *(f"wip_{s}" for s in STAGES),
    *(f"util_{p}" for p in POOLS),
    *(f"queue_{p}" for p in POOLS),
]


@pytest.fixture(scope="module")
def result(baseline: kamsim.Scenario) -> kamsim.Result:
    return kamsim.run(
        baseline.with_overrides(["calendar.horizon_months=18", "calendar.warmup_months=0"]),
        reps=2,
        seed=21,
    )


def test_columns(result: kamsim.Result) -> None:
    assert list(result.kpis.columns) == KPI_COLUMNS
    assert list(result.events.columns) == EVENT_COLUMNS
    assert set(TIMESERIES_COLUMNS) <= set(result.timeseries.columns)
    assert set(DEAL_COLUMNS) <= set(result.deals.columns)
    assert list(result.deals.columns[:2]) == ["replication", "deal_id"]


def test_one_row_per_model_month(result: kamsim.Result) -> None:
    start = result.scenario.calendar.start
    for _, ts in result.timeseries.groupby("replication"):
        assert ts["month"].tolist() == list(range(18))
        days = [(d - start).days for d in ts["date"]]
        assert days == [math.floor(m * DAYS_PER_MONTH) for m in range(18)]


def test_kpis_agree_with_the_rows(result: kamsim.Result) -> None:
    span = 18 * DAYS_PER_MONTH
    res = result.scenario.resources
    for r, kpis in result.kpis.groupby("replication"):
        k = kpis.iloc[0]
        deals = result.deals[result.deals["replication"] == r]
        events = result.events[result.events["replication"] == r]
        won = deals[deals["outcome"] == "won"]
        lost = deals[deals["outcome"] == "lost"]
        assert k["bookings"] == pytest.approx(won["booked_value"].sum(), rel=1e-9)
        # Deals our own qualification turned away were in no race: not in the win rate.
        raced = lost[~lost["exit_reason"].isin(["disqualified", "not_approved"])]
        assert len(raced) < len(lost)
        assert k["win_rate"] == pytest.approx(len(won) / (len(won) + len(raced)))
        cycle = (won["signed_at"] - won["arrived_at"]).mean()
        assert k["cycle_time_days"] == pytest.approx(cycle, rel=1e-12)
        assert k["gross_margin_pct"] == pytest.approx(k["gross_margin"] / k["bookings"])
        monthly_cost = sum(res[p].headcount * res[p].monthly_cost for p in POOLS)
        assert k["cost_of_sale"] == pytest.approx(monthly_cost * 18, rel=1e-9)
        for pool in POOLS:
            holds = events[(events["pool"] == pool) & events["started_at"].notna()]
            busy = (holds["ended_at"].fillna(span) - holds["started_at"]).sum()
            assert k[f"util_{pool}"] == pytest.approx(
                busy / (res[pool].capacity * span), rel=1e-9
            ), pool
        ts = result.timeseries[result.timeseries["replication"] == r]
        for flow in ("revenue", "cash"):
            assert k[flow] == pytest.approx(ts[flow].sum(), rel=1e-12)
        assert (ts[["bookings", "revenue", "cash"]] >= 0).all().all()
        assert k["cash"] <= k["revenue"] <= k["bookings"] + 1e-6


def test_waits_in_deals_are_the_sums_of_pool_waits(result: kamsim.Result) -> None:
    span = 18 * DAYS_PER_MONTH
    holds = result.events[result.events["pool"].notna()]
    end_of_wait = holds["started_at"].fillna(holds["ended_at"]).fillna(span)
    waits = (
        (end_of_wait - holds["queued_at"])
        .groupby([holds["replication"], holds["deal_id"], holds["pool"].astype(str)])
        .sum()
    )
    deals = result.deals.set_index(["replication", "deal_id"])
    for pool in POOLS:
        expected = np.zeros(len(deals))
        mine = waits.xs(pool, level=2) if pool in waits.index.get_level_values(2) else None
        if mine is not None:
            expected = mine.reindex(deals.index, fill_value=0.0).to_numpy(float)
        np.testing.assert_allclose(deals[f"wait_{pool}"].to_numpy(float), expected, atol=1e-9)
