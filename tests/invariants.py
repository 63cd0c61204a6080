"""Invariants every replication's tables hold, whatever the scenario.

Shared by the property tests (random valid scenarios) and the fuzz suite (anything that
validates): deals are conserved and agree with the KPIs, nobody waits a negative time, every
event is well ordered, a pool never holds more deals than its slots, money is never negative,
and KPIs are finite or NaN exactly where they are undefined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from constants import POOLS

import kamsim

NAN_ALLOWED = {
    "gross_margin_pct": "no bookings",
    "win_rate": "no deal won, or lost other than by our own qualification",
    "lead_conversion": "no leads",
    "tender_win_rate": "no bid submitted",
    "approval_to_signed": "no deal entered approval",
    "no_decision_share": "no deal that entered approval was won or lost",
    "award_to_signature_30d": "no deal signed",
    "q4_acceptance_share": "no final acceptance",
    "cycle_time_days": "no deal won",
    "dso_days": "no month end with 12 months of revenue behind it",
    **{f"wait_{p}": "no deal queued for or took the pool" for p in POOLS},
    "executive_days_per_month": "no executives",
    **{f"util_{p}": "a pool without people" for p in POOLS},
}
"""KPIs that may be NaN, and when (README: a KPI is NaN only where it is undefined)."""


def max_concurrent(starts: np.ndarray, ends: np.ndarray) -> int:
    """Most intervals open at once; an interval ending at t frees its slot for one starting at t."""
    times = np.concatenate([starts, ends])
    deltas = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((deltas, times))  # at equal times, ends (-1) before starts (+1)
    return int(np.cumsum(deltas[order]).max(initial=0))


def check_kpi_values(kpis: pd.Series) -> None:
    """No inf; NaN only in KPIs that can be undefined; bookings, revenue and cash never
    negative (any window: the run's or a calendar year)."""
    for name, value in kpis.items():
        x = float(value)
        assert not np.isinf(x), f"{name} is {x}"
        if np.isnan(x):
            assert name in NAN_ALLOWED, f"{name} is NaN"
    for money in ("bookings", "revenue", "cash"):
        assert float(kpis[money]) >= 0, f"{money} = {kpis[money]}"


def check_kpis(scenario: kamsim.Scenario, kpis: pd.Series) -> None:
    """The run's KPIs: :func:`check_kpi_values`, and NaN exactly where undefined."""
    check_kpi_values(kpis)
    if scenario.calendar.warmup_months == 0:
        # Without a warm-up the window is the run and the cohort every deal, so deal-based
        # KPIs are undefined exactly when the counts say so (with one, check_replication
        # checks them against the cohort).
        bookings = float(kpis["bookings"])
        assert np.isnan(kpis["gross_margin_pct"]) == (bookings == 0)
        if int(kpis["deals_won"]) + int(kpis["deals_lost"]) == 0:
            assert np.isnan(kpis["win_rate"])
        assert np.isnan(kpis["cycle_time_days"]) == (int(kpis["deals_won"]) == 0)
        assert np.isnan(kpis["award_to_signature_30d"]) == (int(kpis["deals_won"]) == 0)
    for pool in POOLS:
        assert np.isnan(kpis[f"util_{pool}"]) == (scenario.resources[pool].capacity == 0)
    executives = scenario.resources["executives"].headcount
    assert np.isnan(kpis["executive_days_per_month"]) == (executives == 0)


def check_replication(scenario: kamsim.Scenario, result: kamsim.Result, r: int) -> None:
    deals = result.deals[result.deals["replication"] == r]
    events = result.events[result.events["replication"] == r]
    series = result.timeseries[result.timeseries["replication"] == r]
    kpis = result.kpis[result.kpis["replication"] == r].iloc[0]
    outcome = deals["outcome"].astype(str)
    check_kpis(scenario, kpis)

    # Conservation: every lead that arrived is won, lost or open, and the KPIs agree.
    assert outcome.isin(["won", "lost", "open"]).all()
    counts = outcome.value_counts()
    n_won, n_lost, n_open = (int(counts.get(o, 0)) for o in ("won", "lost", "open"))
    assert n_won + n_lost + n_open == len(deals)
    # Counts cover the window after the warm-up; rates the cohort arriving after it.
    warm = scenario.calendar.warmup_days
    won_in = int((deals["signed_at"] >= warm).sum())
    lost_in = int(((outcome == "lost") & (deals["closed_at"] >= warm)).sum())
    assert (kpis["deals_won"], kpis["deals_lost"], kpis["deals_open"]) == (won_in, lost_in, n_open)
    cohort = (deals["arrived_at"] >= warm).to_numpy()
    assert np.isnan(kpis["lead_conversion"]) == (not cohort.any())
    # Turned away by our own qualification: not a decision of the customer's.
    turned_away = [scenario.stages.exit_reason("development"), "not_approved"]
    decided = (outcome == "won") | ((outcome == "lost") & ~deals["exit_reason"].isin(turned_away))
    assert np.isnan(kpis["win_rate"]) == (not (decided.to_numpy() & cohort).any())
    won_cohort = ((outcome == "won").to_numpy() & cohort).any()
    assert np.isnan(kpis["cycle_time_days"]) == (not won_cohort)
    assert np.isnan(kpis["award_to_signature_30d"]) == (not won_cohort)
    assert deals["deal_id"].is_unique
    assert set(events["deal_id"]) == set(deals["deal_id"])
    visits = events[events["pool"].isna()]
    holds = events[events["pool"].notna()]
    first = visits[visits["stage"] == "development"]
    assert len(first) == len(deals), "every lead enters development exactly once"

    # Outcomes agree with the visits: won = passed negotiation, lost = left with its reason.
    signed = visits[(visits["stage"] == "negotiation") & (visits["result"] == "passed")]
    assert sorted(signed["deal_id"]) == sorted(deals.loc[outcome == "won", "deal_id"])
    by_id = deals.set_index("deal_id")
    np.testing.assert_allclose(
        by_id.loc[signed["deal_id"], "signed_at"].to_numpy(float),
        signed["ended_at"].to_numpy(float),
    )
    lost = by_id[outcome.to_numpy() == "lost"]
    assert lost["exit_reason"].notna().all()
    assert (lost["booked_value"] == 0).all()
    won = by_id[outcome.to_numpy() == "won"]
    assert (won["booked_value"] >= 0).all()
    assert (won["signed_at"] >= won["arrived_at"]).all()
    assert deals.loc[outcome != "won", "signed_at"].isna().all()

    # No negative waits; every event is well ordered.
    for pool in POOLS:
        assert (deals[f"wait_{pool}"] >= 0).all(), pool
    queued, started, ended = (
        events[c].to_numpy(float) for c in ("queued_at", "started_at", "ended_at")
    )
    ok = ~np.isnan(started)
    assert (queued[ok] <= started[ok]).all()
    ok = ~np.isnan(started) & ~np.isnan(ended)
    assert (started[ok] <= ended[ok]).all()
    ok = ~np.isnan(ended)
    assert (queued[ok] <= ended[ok]).all()
    arrived = events["deal_id"].map(by_id["arrived_at"]).to_numpy(float)
    assert (queued >= arrived).all()
    open_rows = events["result"] == "open"
    assert events.loc[open_rows, "ended_at"].isna().all()
    assert events.loc[~open_rows, "ended_at"].notna().all()

    # A pool never holds more deals than its slots.
    for pool in POOLS:
        rows = holds[holds["pool"] == pool]
        granted = rows[rows["started_at"].notna()]
        end = granted["ended_at"].fillna(np.inf).to_numpy(float)
        capacity = scenario.resources[pool].capacity
        assert max_concurrent(granted["started_at"].to_numpy(float), end) <= capacity, pool

    # KPIs by calendar year: consecutive years from the start's, adding up to the run's
    # (without a warm-up both cover the whole run).
    years = result.kpis_by_year[result.kpis_by_year["replication"] == r]
    first = scenario.calendar.start.year
    assert years["year"].tolist() == list(range(first, first + len(years)))
    for _, row in years.drop(columns="year").iterrows():
        check_kpi_values(row)
    if scenario.calendar.warmup_months == 0:
        for flow in ("bookings", "revenue", "cash", "gross_margin", "cost_of_sale"):
            assert np.isclose(years[flow].sum(), float(kpis[flow]), rtol=1e-9, atol=1e-6), flow
        for count in ("deals_won", "deals_lost"):
            assert years[count].sum() == kpis[count], count
        assert years["deals_open"].iloc[-1] == kpis["deals_open"]

    # Monthly series: finite flows that add up to the KPIs, levels within their bounds.
    measured = (series["month"] >= scenario.calendar.warmup_months).to_numpy()
    for money in ("bookings", "revenue", "cash"):
        flow = series[money].to_numpy(float)
        assert np.isfinite(flow).all() and (flow >= 0).all(), money
        total = flow[measured].sum()
        assert float(kpis[money]) == np.float64(total) or np.isclose(
            float(kpis[money]), total, rtol=1e-9
        ), money
    for column in series.columns:
        if column.startswith(("wip_", "queue_")):
            assert (series[column].to_numpy(float) >= -1e-9).all(), column
        if column.startswith("util_"):
            util = series[column].to_numpy(float)
            assert (np.isnan(util) | ((util >= -1e-9) & (util <= 1 + 1e-9))).all(), column
