"""The KPIs in sales language, the warm-up window and the KPIs by calendar year.

Every KPI is recomputed here from the ``deals``, ``events`` and ``timeseries`` tables with
pandas, from its written definition (docs/kpis.md), never from kamsim's own helpers: a
window is [start, end) in days (the run's end belongs to the last window), the cohort is the
deals that arrived in it, and the exit reasons are spelled out from the scenario text. The
scenarios are small (a few hundred leads) and every check is exact, so the module runs in a
few seconds.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd
import pytest
from constants import DAYS_PER_MONTH, KPI_BY_YEAR_COLUMNS, KPI_COLUMNS, POOLS, ROOT
from helpers import load_toml

import kamsim
from kamsim.kpis import KPIS

M = DAYS_PER_MONTH
HORIZON = 30
START = dt.date(2027, 8, 20)
"""Mid-year, so the first and last calendar years are partial."""
SEED = 3
REPS = 2
WARMUP = 7
RENAMED = "no_fit"
"""The development stage's exit reason in the renamed variant."""

# A congested little pipeline with every way out: disqualified (or renamed), not_approved
# (margin bar), not_shortlisted, customer_dropped, no_bid, withdrew, bid_lost,
# negotiation_failed, went_cold (patience), stalled (monthly review); executives visit at
# negotiation, so some signings take longer than 30 days after the award.
SCENARIO = f"""
    name = "kpi-check"

    [calendar]
    start = {START.isoformat()}
    horizon_months = {HORIZON}

    [arrivals]
    rate_per_month = 14.0

    [grades.A]
    share = 0.4
    value = {{ dist = "lognormal", mean = 3.0e6, cv = 0.5 }}
    margin = {{ dist = "triangular", low = 0.05, mode = 0.2, high = 0.35 }}
    accounts = 20

    [grades.C]
    share = 0.6
    value = {{ dist = "lognormal", mean = 1.0e6, cv = 0.5 }}
    margin = {{ dist = "triangular", low = 0.05, mode = 0.15, high = 0.3 }}
    accounts = 50

    [stages.development]
    duration = {{ dist = "exponential", mean = 20.0 }}
    pools = ["account_managers"]
    pass_probability = {{ A = 0.85, C = 0.65 }}
    patience = {{ dist = "exponential", mean = 40.0 }}

    [stages.approval]
    duration = {{ dist = "exponential", mean = 15.0 }}
    pools = ["approvers"]
    pass_probability = 0.9

    [stages.proposal]
    duration = {{ dist = "exponential", mean = 25.0 }}
    pools = ["presales"]
    pass_probability = 0.75
    patience = {{ dist = "exponential", mean = 30.0 }}

    [stages.tender]
    duration = {{ dist = "triangular", low = 10.0, mode = 15.0, high = 30.0 }}
    pools = ["presales"]
    pass_probability = {{ A = 0.6, C = 0.4 }}
    patience = {{ dist = "exponential", mean = 30.0 }}

    [stages.negotiation]
    duration = {{ dist = "triangular", low = 5.0, mode = 15.0, high = 40.0 }}
    pass_probability = 0.9

    [stages.implementation]
    duration = {{ dist = "lognormal", mean = 90.0, cv = 0.5 }}
    pools = ["delivery"]
    pass_probability = 0.95

    [resources.account_managers]
    headcount = 3
    deals_per_person = 4
    monthly_cost = 40000.0

    [resources.presales]
    headcount = 3
    deals_per_person = 2
    monthly_cost = 35000.0

    [resources.delivery]
    headcount = 2
    deals_per_person = 2
    monthly_cost = 30000.0

    [resources.approvers]
    headcount = 1
    deals_per_person = 4
    monthly_cost = 30000.0

    [resources.executives]
    headcount = 1
    deals_per_person = 1
    monthly_cost = 90000.0

    [payments]
    signing = 0.3
    delivery = 0.6
    acceptance = 0.1
    delivery_at = 0.5
    lag_days = {{ dist = "exponential", mean = 45.0 }}

    [relationship]
    executive_visit_days = {{ dist = "triangular", low = 3.0, mode = 6.0, high = 10.0 }}

    [competition]
    withdraw_probability = 0.1

    [implementation]
    acceptance_delay_days = {{ dist = "exponential", mean = 30.0 }}

    [policy]
    executive_engagement = "negotiation"
    qualification = {{ min_margin = 0.1 }}
    bid_min_margin = 0.13
    pipeline_review = {{ every_days = 30.0, stale_after_days = 90.0, action = "close" }}
"""
PROPOSAL_EXIT = "customer_dropped"
TENDER_EXIT = "bid_lost"
MONTHLY_COST = 3 * 40000.0 + 3 * 35000.0 + 2 * 30000.0 + 30000.0 + 90000.0
"""Headcount x monthly cost, summed over the pools (read off the scenario text)."""
CAPACITY = {"account_managers": 12, "presales": 6, "delivery": 4, "approvers": 4, "executives": 1}
EXECUTIVES = 1

MONEY = ["bookings", "revenue", "cash"]
UNCHANGED = [
    *MONEY,
    "gross_margin",
    "gross_margin_pct",
    "cycle_time_days",
    "deals_won",
    "deals_lost",
    "deals_open",
    "cost_of_sale",
    *(f"util_{p}" for p in POOLS),
]
"""The KPIs whose definition did not change: without a warm-up they are the run's as before."""


def _run(tmp_path_factory: pytest.TempPathFactory, *overrides: str) -> kamsim.Result:
    scenario = load_toml(tmp_path_factory.mktemp("kpis"), SCENARIO, overrides)
    return kamsim.run(scenario, reps=REPS, seed=SEED)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Result:
    return _run(tmp_path_factory)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Result:
    return _run(tmp_path_factory, f"calendar.warmup_months={WARMUP}")


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Result:
    return _run(
        tmp_path_factory,
        f"stages.development.exit_reason={RENAMED!r}",
        f"calendar.warmup_months={WARMUP}",
    )


@pytest.fixture(scope="module")
def drained(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Result:
    return _run(
        tmp_path_factory,
        "calendar.drain=true",
        "calendar.arrivals_until_months=28",
        f"calendar.warmup_months={WARMUP}",
    )


# -- the oracle: each definition, from the tables -----------------------------------------------


class Tables:
    """One replication's tables and its run's end (the span)."""

    def __init__(self, result: kamsim.Result, r: int) -> None:
        def mine(table: pd.DataFrame) -> pd.DataFrame:
            return table[table["replication"] == r].reset_index(drop=True)

        self.deals = mine(result.deals)
        self.events = mine(result.events)
        self.timeseries = mine(result.timeseries)
        self.kpis = mine(result.kpis).iloc[0]
        self.by_year = mine(result.kpis_by_year)
        self.visits = self.events[self.events["pool"].isna()]
        self.holds = self.events[self.events["pool"].notna()]
        horizon = HORIZON * M
        if result.scenario.calendar.drain:  # the run ends when the last deal leaves
            self.span = max(horizon, float(self.deals["closed_at"].max()))
        else:
            self.span = horizon


def _within(t: pd.Series, lo: float, hi: float, span: float) -> pd.Series:
    """In the window [lo, hi); the run's end belongs to the last window."""
    return ((t >= lo) & (t < hi)) | ((t == span) & (hi == span))


def _before_end(t: pd.Series, hi: float, span: float) -> pd.Series:
    return (t < hi) | ((t == hi) & (hi == span))


def _share(part: pd.Series, whole: pd.Series) -> float:
    """Share of ``whole`` (a boolean selection) that is also ``part``; NaN if empty."""
    n = int(whole.sum())
    return float((part & whole).sum()) / n if n else math.nan


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else math.nan


def expected(t: Tables, lo: float, hi: float, development_exit: str) -> dict[str, float]:
    """Every KPI but revenue and cash for the window [lo, hi), from the tables."""
    deals, visits, holds, span = t.deals, t.visits, t.holds, t.span
    won_all = deals["outcome"] == "won"
    lost_all = deals["outcome"] == "lost"
    reason = deals["exit_reason"].astype(object)
    out: dict[str, float] = {}

    # Time-based: what happened within the window.
    signed = _within(deals["signed_at"], lo, hi, span)
    out["bookings"] = float(deals.loc[signed, "booked_value"].sum())  # no change orders here
    margin = deals["booked_value"] * deals["booked_margin"]
    out["gross_margin"] = float(margin[signed].sum())
    out["cost_of_sale"] = MONTHLY_COST * (hi - lo) / M
    out["contribution"] = out["gross_margin"] - out["cost_of_sale"]
    out["deals_won"] = int(signed.sum())
    out["deals_lost"] = int((lost_all & _within(deals["closed_at"], lo, hi, span)).sum())
    arrived_by = _before_end(deals["arrived_at"], hi, span)
    signed_by = _before_end(deals["signed_at"], hi, span)
    lost_by = lost_all & _before_end(deals["closed_at"], hi, span)
    out["deals_open"] = int((arrived_by & ~signed_by & ~lost_by).sum())
    granted = holds[holds["started_at"].notna()]
    begin = granted["started_at"].clip(lower=lo)
    end = granted["ended_at"].fillna(span).clip(upper=hi)
    busy = (end - begin).clip(lower=0).groupby(granted["pool"].astype(str)).sum()
    for pool in POOLS:
        out[f"util_{pool}"] = float(busy.get(pool, 0.0)) / (CAPACITY[pool] * (hi - lo))
    out["executive_days_per_month"] = float(busy.get("executives", 0.0)) / (
        EXECUTIVES * (hi - lo) / M
    )
    accepted = deals.loc[_within(deals["accepted_at"], lo, hi, span), "accepted_at"]
    when = pd.Timestamp(START) + pd.to_timedelta(accepted, unit="D")
    out["q4_acceptance_share"] = _mean(when.dt.month.isin([10, 11, 12]))
    ts = t.timeseries
    receivable = ts["revenue"].cumsum() - ts["cash"].cumsum()
    month_end = np.minimum((ts["month"] + 1) * M, span)
    dso = []
    for k in range(12, len(ts) + 1):  # month ends with 12 months of revenue behind them
        trailing = float(ts["revenue"].iloc[k - 12 : k].sum())
        if lo < month_end.iloc[k - 1] <= hi and trailing > 0:
            dso.append(float(receivable.iloc[k - 1]) / trailing * 365)
    out["dso_days"] = float(np.mean(dso)) if dso else math.nan

    # Deal-based: the cohort of deals that arrived in the window, outcomes at the run's end.
    cohort = _within(deals["arrived_at"], lo, hi, span)
    ids = set(deals.loc[cohort, "deal_id"])
    won, lost = won_all & cohort, lost_all & cohort
    turned_away = reason.isin([development_exit, "not_approved"])
    out["win_rate"] = _share(won, won | (lost & ~turned_away))
    out["lead_conversion"] = _share(won, cohort)
    out["gross_margin_pct"] = (
        float(margin[won].sum() / deals.loc[won, "booked_value"].sum()) if won.any() else math.nan
    )
    out["cycle_time_days"] = _mean((deals["signed_at"] - deals["arrived_at"])[won])
    mine = visits[visits["deal_id"].isin(ids)]
    tender = mine[mine["stage"] == "tender"]
    bids = tender["result"].isin(["passed", TENDER_EXIT])
    out["tender_win_rate"] = _share(tender["result"] == "passed", bids)
    entered = deals["deal_id"].isin(mine.loc[mine["stage"] == "approval", "deal_id"])
    out["approval_to_signed"] = _share(won, entered & cohort)
    no_decision = lost & reason.isin([PROPOSAL_EXIT, "went_cold", "stalled"])
    out["no_decision_share"] = _share(no_decision, entered & (won | lost))
    signing = mine[(mine["stage"] == "negotiation") & (mine["result"] == "passed")]
    out["award_to_signature_30d"] = _mean(signing["ended_at"] - signing["queued_at"] <= 30.0)
    mine_holds = holds[holds["deal_id"].isin(ids)]
    waited = mine_holds["started_at"].fillna(mine_holds["ended_at"]).fillna(span)
    waits = (waited - mine_holds["queued_at"]).groupby(
        [mine_holds["pool"].astype(str), mine_holds["deal_id"]]
    )
    per_deal = waits.sum()
    for pool in POOLS:
        days = per_deal.xs(pool) if pool in per_deal.index.get_level_values(0) else []
        out[f"wait_{pool}"] = _mean(pd.Series(days, dtype=float))
    return out


def _monthly(t: Tables, flow: str, first_month: int) -> float:
    ts = t.timeseries
    return float(ts.loc[ts["month"] >= first_month, flow].sum())


def _agree(actual: pd.Series, wanted: dict[str, float], what: str) -> None:
    for name, value in wanted.items():
        got = float(actual[name])
        if math.isnan(value):
            assert math.isnan(got), f"{what}: {name} = {got}, expected NaN"
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), f"{what}: {name}"


def _year_windows(t: Tables) -> list[tuple[int, float, float]]:
    """(year, first day, end) of each calendar year the run touches, in days from the start."""
    out = []
    year = START.year
    while True:
        lo = max(0.0, float((dt.date(year, 1, 1) - START).days))
        if lo >= t.span:
            return out
        hi = min(t.span, float((dt.date(year + 1, 1, 1) - START).days))
        out.append((year, lo, hi))
        year += 1


# -- every KPI against its definition ---------------------------------------------------------


def test_the_scenario_exercises_every_kpi(plain: kamsim.Result) -> None:
    """The checks below have something to check: every exit, waits, signings either side of
    30 days, acceptances in and out of Q4, open deals at the end."""
    reasons = set(plain.deals["exit_reason"].dropna())
    assert {
        "disqualified",
        "not_approved",
        "not_shortlisted",
        PROPOSAL_EXIT,
        "no_bid",
        "withdrew",
        TENDER_EXIT,
        "went_cold",
        "stalled",
    } <= reasons
    for r in range(REPS):
        k = plain.kpis.iloc[r]
        assert (plain.deals["outcome"] == "open").any()
        assert 0 < k["award_to_signature_30d"] < 1
        assert 0 < k["q4_acceptance_share"] < 1
        assert 0 < k["tender_win_rate"] < 1
        assert 0 < k["no_decision_share"] < 1
        for pool in POOLS:
            assert np.isfinite(k[f"wait_{pool}"]), pool
        assert k["wait_approvers"] > 1 and k["wait_presales"] > 1


@pytest.mark.parametrize("fixture", ["plain", "warm"])
def test_every_kpi_follows_its_definition(fixture: str, request: pytest.FixtureRequest) -> None:
    result: kamsim.Result = request.getfixturevalue(fixture)
    months = result.scenario.calendar.warmup_months
    for r in range(REPS):
        t = Tables(result, r)
        wanted = expected(t, months * M, t.span, "disqualified")
        for flow in ("revenue", "cash"):
            wanted[flow] = _monthly(t, flow, months)
        assert sorted(wanted) == sorted(KPIS), "the oracle covers every KPI"
        _agree(t.kpis, wanted, f"{fixture} replication {r}")


def test_a_renamed_development_exit_is_left_out_of_the_win_rate(
    renamed: kamsim.Result, warm: kamsim.Result
) -> None:
    assert "disqualified" not in set(renamed.deals["exit_reason"].dropna())
    assert RENAMED in set(renamed.deals["exit_reason"].dropna())
    for r in range(REPS):
        t = Tables(renamed, r)
        wanted = expected(t, WARMUP * M, t.span, RENAMED)
        _agree(t.kpis, wanted, f"renamed replication {r}")
        # The same deals as without the rename: the win rate does not move with the name.
        assert t.kpis["win_rate"] == warm.kpis.iloc[r]["win_rate"]
        # Negative control: counting the renamed exits as decisions gives another rate.
        counted = expected(t, WARMUP * M, t.span, "disqualified")["win_rate"]
        assert counted < t.kpis["win_rate"] - 0.01


def test_without_a_warm_up_the_unchanged_kpis_are_the_whole_runs(plain: kamsim.Result) -> None:
    """The previous definitions, written out over the whole run and every deal."""
    for r in range(REPS):
        t = Tables(plain, r)
        k, deals, ts = t.kpis, t.deals, t.timeseries
        won = deals[deals["outcome"] == "won"]
        for flow in MONEY:
            assert k[flow] == pytest.approx(ts[flow].sum(), rel=1e-12), flow
        gm = (won["booked_value"] * won["booked_margin"]).sum()
        assert k["gross_margin"] == pytest.approx(gm, rel=1e-12)
        assert k["gross_margin_pct"] == pytest.approx(gm / ts["bookings"].sum(), rel=1e-9)
        cycle = (won["signed_at"] - won["arrived_at"]).mean()
        assert k["cycle_time_days"] == pytest.approx(cycle, rel=1e-12)
        counts = deals["outcome"].value_counts()
        for outcome in ("won", "lost", "open"):
            assert k[f"deals_{outcome}"] == counts[outcome], outcome
        assert k["cost_of_sale"] == pytest.approx(MONTHLY_COST * HORIZON, rel=1e-12)
        widths = np.diff(np.minimum(np.arange(len(ts) + 1) * M, t.span))
        for pool in POOLS:
            util = float(np.dot(ts[f"util_{pool}"], widths)) / t.span
            assert k[f"util_{pool}"] == pytest.approx(util, rel=1e-9), pool


# -- the warm-up ------------------------------------------------------------------------------


def test_the_warm_up_changes_the_kpis_not_the_simulation(
    plain: kamsim.Result, warm: kamsim.Result
) -> None:
    for name in ("deals", "events", "timeseries"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(warm, name), obj=name)


def test_time_kpis_cover_the_months_after_the_warm_up(
    plain: kamsim.Result, warm: kamsim.Result
) -> None:
    for r in range(REPS):
        t, whole = Tables(warm, r), Tables(plain, r)
        for flow in MONEY:
            assert t.kpis[flow] == pytest.approx(_monthly(t, flow, WARMUP), rel=1e-9), flow
            # Warm-up 0 less the warm-up's months: exactly the months dropped.
            dropped = float(t.timeseries.loc[t.timeseries["month"] < WARMUP, flow].sum())
            assert dropped > 0, flow
            assert whole.kpis[flow] - t.kpis[flow] == pytest.approx(dropped, rel=1e-9), flow
        months = HORIZON - WARMUP
        assert t.kpis["cost_of_sale"] == pytest.approx(MONTHLY_COST * months, rel=1e-12)
        signed = t.deals["signed_at"] >= WARMUP * M
        assert t.kpis["deals_won"] == signed.sum() < whole.kpis["deals_won"]


def test_deal_kpis_read_only_the_deals_arriving_after_the_warm_up(warm: kamsim.Result) -> None:
    for r in range(REPS):
        t = Tables(warm, r)
        late = t.deals[t.deals["arrived_at"] >= WARMUP * M]
        won = late[late["outcome"] == "won"]
        assert t.kpis["lead_conversion"] == pytest.approx(len(won) / len(late), rel=1e-12)
        cycle = (won["signed_at"] - won["arrived_at"]).mean()
        assert t.kpis["cycle_time_days"] == pytest.approx(cycle, rel=1e-12)
        # Negative control: every deal's figures differ, so the cohort made the difference.
        everyone = t.deals
        all_won = everyone[everyone["outcome"] == "won"]
        assert len(all_won) / len(everyone) != pytest.approx(t.kpis["lead_conversion"])
        assert (all_won["signed_at"] - all_won["arrived_at"]).mean() != pytest.approx(cycle)


def test_with_drain_the_cohort_finishes(drained: kamsim.Result, warm: kamsim.Result) -> None:
    assert (warm.deals["outcome"] == "open").any()  # without drain some cohort deals are open
    for r in range(REPS):
        t = Tables(drained, r)
        assert t.span > HORIZON * M
        cohort = t.deals[t.deals["arrived_at"] >= WARMUP * M]
        assert len(cohort) > 0
        assert (cohort["outcome"] != "open").all()
        assert t.kpis["deals_open"] == 0
        won = int((cohort["outcome"] == "won").sum())
        lost = int((cohort["outcome"] == "lost").sum())
        assert t.kpis["lead_conversion"] == pytest.approx(won / (won + lost), rel=1e-12)
        # The window runs to the drain's end: the cost of sale counts those months too.
        cost = MONTHLY_COST * (t.span - WARMUP * M) / M
        assert t.kpis["cost_of_sale"] == pytest.approx(cost, rel=1e-12)
        wanted = expected(t, WARMUP * M, t.span, "disqualified")
        for flow in ("revenue", "cash"):
            wanted[flow] = _monthly(t, flow, WARMUP)
        _agree(t.kpis, wanted, f"drained replication {r}")


# -- KPIs by calendar year --------------------------------------------------------------------


def test_kpis_by_year_has_a_row_per_replication_and_calendar_year(
    plain: kamsim.Result,
) -> None:
    table = plain.kpis_by_year
    assert list(table.columns) == KPI_BY_YEAR_COLUMNS
    last = START + dt.timedelta(days=HORIZON * M)
    years = list(range(START.year, last.year + 1))
    assert len(years) == 4  # a partial first and last year
    for r in range(REPS):
        rows = table[table["replication"] == r]
        assert rows["year"].tolist() == years
        assert (rows["seed"] == SEED).all()


def test_yearly_flows_add_up_to_the_runs(plain: kamsim.Result) -> None:
    for r in range(REPS):
        t = Tables(plain, r)
        for name in ("bookings", "revenue", "cash", "gross_margin", "cost_of_sale"):
            total = t.by_year[name].sum()
            assert total == pytest.approx(t.kpis[name], rel=1e-9), name
        for name in ("deals_won", "deals_lost"):
            assert t.by_year[name].sum() == t.kpis[name], name
        # Signings fall in the year of their calendar date.
        signed = t.deals["signed_at"].dropna()
        year = (pd.Timestamp(START) + pd.to_timedelta(signed, unit="D")).dt.year
        per_year = year.value_counts().reindex(t.by_year["year"], fill_value=0)
        assert t.by_year["deals_won"].tolist() == per_year.tolist()


@pytest.mark.parametrize("fixture", ["plain", "warm"])
def test_every_kpi_of_a_year_follows_its_definition(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """A year is a window like the run's after the warm-up: its time and its arrivals (the
    warm-up does not cut the years)."""
    result: kamsim.Result = request.getfixturevalue(fixture)
    for r in range(REPS):
        t = Tables(result, r)
        windows = _year_windows(t)
        assert t.by_year["year"].tolist() == [year for year, _, _ in windows]
        for (year, lo, hi), (_, row) in zip(windows, t.by_year.iterrows(), strict=True):
            _agree(row, expected(t, lo, hi, "disqualified"), f"{fixture} {year} rep {r}")


# -- the registry and the docs ----------------------------------------------------------------


def test_both_kpi_tables_have_a_column_per_registered_kpi(plain: kamsim.Result) -> None:
    assert list(plain.kpis.columns) == KPI_COLUMNS
    assert [c for c in plain.kpis.columns if c not in ("replication", "seed")] == list(KPIS)
    assert [c for c in plain.kpis_by_year.columns if c not in ("replication", "seed", "year")] == (
        list(KPIS)
    )


def test_the_kpi_docs_name_every_kpi() -> None:
    text = (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z0-9_]+)`", text))
    missing = [name for name in KPIS if name not in named]
    assert not missing, f"docs/kpis.md does not name {missing}"
    for name, entry in KPIS.items():
        row = re.search(rf"^\| `{name}` \|(.*)$", text, re.MULTILINE)
        assert row, f"docs/kpis.md has no table row for {name}"
        assert entry.basis in row.group(1) and entry.unit in row.group(1), name


def test_the_kpi_docs_state_the_warm_up_rules() -> None:
    text = (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    for phrase in ("warmup_months", "cohort", "drain", "kpis_by_year"):
        assert phrase in text, phrase
