"""Tier 1: exact traces of tiny deterministic scenarios, worked out by hand.

Durations are fixed and pass probabilities 0 or 1, so the only randomness is when the leads
arrive and which grade they are. The tests read ``arrived_at`` and ``grade`` from the deals
table and derive every other time from them with the rules of the model written out below
(single-slot pools serve first come, first served), then compare with what the engine did.
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from constants import CANCELLED, DAYS_PER_MONTH, STAGE_EXIT_REASONS, STAGES
from helpers import load_toml

import kamsim

NAN = math.nan
ROW = ["deal_id", "stage", "pool", "queued_at", "started_at", "ended_at", "result"]

# Contention for pools: one presales slot, two delivery slots. Grade A passes everything,
# grade B loses the tender, grade C signs but its project is cancelled. 8 leads a month in
# the first month against a 10-day proposal on one presales slot: a queue is certain. The
# implementation (100 days, delivery milestone a quarter in) and the 40-day payment lag are
# long enough that a wrong milestone time or a missing lag moves money to another month.
CONTENTION = """
    name = "trace-contention"
    [calendar]
    horizon_months = 24
    arrivals_until_months = 1
    drain = true

    [arrivals]
    rate_per_month = 8.0

    [grades.A]
    share = 0.4
    value = { dist = "fixed", value = 1000000.0 }
    margin = { dist = "fixed", value = 0.25 }
    [grades.B]
    share = 0.3
    value = { dist = "fixed", value = 2000000.0 }
    margin = { dist = "fixed", value = 0.25 }
    [grades.C]
    share = 0.3
    value = { dist = "fixed", value = 4000000.0 }
    margin = { dist = "fixed", value = 0.25 }

    [stages.development]
    duration = { dist = "fixed", value = 2.0 }
    [stages.approval]
    duration = { dist = "fixed", value = 3.0 }
    [stages.proposal]
    duration = { dist = "fixed", value = 10.0 }
    pools = ["presales"]
    [stages.tender]
    duration = { dist = "fixed", value = 5.0 }
    pass_probability = { A = 1.0, B = 0.0, C = 1.0 }
    [stages.negotiation]
    duration = { dist = "fixed", value = 4.0 }
    [stages.implementation]
    duration = { dist = "fixed", value = 100.0 }
    pools = ["delivery"]
    pass_probability = { A = 1.0, B = 1.0, C = 0.0 }

    [resources.presales]
    headcount = 1
    [resources.delivery]
    headcount = 2

    [payments]
    signing = 0.3
    delivery = 0.6
    acceptance = 0.1
    delivery_at = 0.25
    lag_days = { dist = "fixed", value = 40.0 }
"""
VALUE = {"A": 1e6, "B": 2e6, "C": 4e6}
LAG = 40.0
IMPLEMENTATION = 100.0
DELIVERY_AT = 0.25
DELIVERY_SLOTS = 2
MONTHS = 24


def _compare_events(actual: pd.DataFrame, expected_rows: list[tuple[object, ...]]) -> None:
    """Events equal the expected rows (any order; times to 1e-9 days)."""
    expected = pd.DataFrame(expected_rows, columns=ROW)
    got = actual[ROW].copy()
    for df in (got, expected):
        df["stage"] = df["stage"].astype(str)
        df["pool"] = df["pool"].astype(object).where(df["pool"].notna(), "-").astype(str)
        df["result"] = df["result"].astype(str)
    keys = ["deal_id", "stage", "pool"]
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    assert got[[*keys, "result"]].to_dict("records") == expected[[*keys, "result"]].to_dict(
        "records"
    )
    for col in ("queued_at", "started_at", "ended_at"):
        np.testing.assert_allclose(
            got[col].to_numpy(float), expected[col].to_numpy(float), rtol=0, atol=1e-9, err_msg=col
        )


def _hand_trace(deals: pd.DataFrame) -> pd.DataFrame:
    """Every deal's milestones in the contention scenario, from its arrival and grade only."""
    rows = []
    presales_free = 0.0
    for deal in deals.sort_values("arrived_at").itertuples():
        a = deal.arrived_at
        ready = a + 2.0 + 3.0  # development, approval: no pools
        start = max(ready, presales_free)  # one presales slot, first come first served
        presales_free = start + 10.0
        rows.append(
            {"deal_id": deal.deal_id, "grade": deal.grade, "a": a, "ready": ready, "p": start}
        )
    trace = pd.DataFrame(rows)
    trace["tender_end"] = trace["p"] + 10.0 + 5.0
    trace["signed"] = np.where(trace["grade"] == "B", NAN, trace["tender_end"] + 4.0)
    slots_free = [0.0] * DELIVERY_SLOTS  # when each delivery slot is next free
    impl = []
    for signed in trace["signed"]:  # signing order = arrival order (equal fixed durations)
        if math.isnan(signed):
            impl.append(NAN)
            continue
        start = max(signed, heapq.heappop(slots_free))  # first come, earliest free slot
        heapq.heappush(slots_free, start + IMPLEMENTATION)
        impl.append(start)
    trace["impl"] = impl
    return trace


@pytest.fixture(scope="module")
def contention(tmp_path_factory: pytest.TempPathFactory) -> tuple[kamsim.Result, pd.DataFrame]:
    scenario = load_toml(tmp_path_factory.mktemp("trace"), CONTENTION)
    result = kamsim.simulate(scenario, seed=1, replication=0)
    return result, _hand_trace(result.deals)


def test_trace_exercises_queues_and_every_grade(contention) -> None:
    result, trace = contention
    assert set(result.deals["grade"].astype(str)) == {"A", "B", "C"}
    assert (trace["p"] > trace["ready"] + 1e-6).sum() >= 2, "no presales queue to check"
    assert (trace["impl"] > trace["signed"] + 1e-6).sum() >= 2, "no delivery queue to check"


def test_trace_events_match_hand_computation(contention) -> None:
    result, trace = contention
    rows: list[tuple[object, ...]] = []
    for t in trace.itertuples():
        a, p = t.a, t.p
        rows += [
            (t.deal_id, "development", None, a, a, a + 2, "passed"),
            (t.deal_id, "approval", None, a + 2, a + 2, a + 5, "passed"),
            (t.deal_id, "proposal", None, a + 5, p, p + 10, "passed"),
            (t.deal_id, "proposal", "presales", a + 5, p, p + 10, "released"),
        ]
        if t.grade == "B":
            rows.append((t.deal_id, "tender", None, p + 10, p + 10, p + 15, "bid_lost"))
            continue
        s, i = t.signed, t.impl
        result_impl = "passed" if t.grade == "A" else "cancelled"
        rows += [
            (t.deal_id, "tender", None, p + 10, p + 10, p + 15, "passed"),
            (t.deal_id, "negotiation", None, p + 15, p + 15, s, "passed"),
            (t.deal_id, "implementation", None, s, i, i + IMPLEMENTATION, result_impl),
            (t.deal_id, "implementation", "delivery", s, i, i + IMPLEMENTATION, "released"),
        ]
    _compare_events(result.events, rows)


def test_trace_deals_match_hand_computation(contention) -> None:
    result, trace = contention
    deals = result.deals.set_index("deal_id").loc[trace["deal_id"]]
    grade = trace["grade"].astype(str).to_numpy()
    won = grade != "B"
    expected_outcome = np.where(won, "won", "lost")
    assert deals["outcome"].astype(str).tolist() == expected_outcome.tolist()
    expected_reason = [None if w else "bid_lost" for w in won]
    got_reason = [None if pd.isna(r) else r for r in deals["exit_reason"]]
    assert got_reason == expected_reason
    assert deals["last_stage"].astype(str).tolist() == [
        "implementation" if w else "tender" for w in won
    ]
    assert deals["cancelled"].tolist() == (grade == "C").tolist()

    close = np.where(won, trace["impl"] + IMPLEMENTATION, trace["tender_end"])
    accepted = np.where(grade == "A", trace["impl"] + IMPLEMENTATION, NAN)
    booked = np.where(won, [VALUE[g] for g in grade], 0.0)
    for column, expected in [
        ("signed_at", trace["signed"]),
        ("closed_at", close),
        ("accepted_at", accepted),
        ("booked_value", booked),
        ("value", [VALUE[g] for g in grade]),
        ("wait_presales", trace["p"] - trace["ready"]),
        ("wait_delivery", np.where(won, trace["impl"] - trace["signed"], 0.0)),
        ("wait_account_managers", np.zeros(len(trace))),
    ]:
        np.testing.assert_allclose(
            deals[column].to_numpy(float),
            np.asarray(expected, dtype=float),
            rtol=0,
            atol=1e-9,
            err_msg=column,
        )


def _expected_money(trace: pd.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """(time, amount) of every booking, revenue and cash flow in the contention trace."""
    flows: dict[str, list[tuple[float, float]]] = {"bookings": [], "revenue": [], "cash": []}
    for t in trace.itertuples():
        if t.grade == "B":
            continue
        v = VALUE[t.grade]
        flows["bookings"].append((t.signed, v))
        milestones = [(t.signed, 0.3 * v), (t.impl + DELIVERY_AT * IMPLEMENTATION, 0.6 * v)]
        if t.grade == "A":  # a cancelled project never reaches acceptance
            milestones.append((t.impl + IMPLEMENTATION, 0.1 * v))
        flows["revenue"] += milestones
        flows["cash"] += [(when + LAG, amount) for when, amount in milestones]
    return flows


def test_trace_money_by_month(contention) -> None:
    result, trace = contention
    ts = result.timeseries
    assert ts["month"].tolist() == list(range(MONTHS))
    for column, flows in _expected_money(trace).items():
        when = np.array([f[0] for f in flows])
        amount = np.array([f[1] for f in flows])
        assert when.max() < MONTHS * DAYS_PER_MONTH  # everything lands inside the table
        expected = np.bincount(
            (when // DAYS_PER_MONTH).astype(int), weights=amount, minlength=len(ts)
        )
        np.testing.assert_allclose(ts[column].to_numpy(float), expected, rtol=1e-12, err_msg=column)


def test_trace_kpis(contention) -> None:
    result, trace = contention
    kpis = result.kpis.iloc[0]
    flows = _expected_money(trace)
    won = trace[trace["grade"] != "B"]
    n_won, n_lost = len(won), int((trace["grade"] == "B").sum())
    assert (kpis["deals_won"], kpis["deals_lost"], kpis["deals_open"]) == (n_won, n_lost, 0)
    assert kpis["win_rate"] == pytest.approx(n_won / (n_won + n_lost))
    bookings = sum(v for _, v in flows["bookings"])
    assert kpis["bookings"] == pytest.approx(bookings, rel=1e-12)
    assert kpis["revenue"] == pytest.approx(sum(v for _, v in flows["revenue"]), rel=1e-12)
    assert kpis["cash"] == pytest.approx(sum(v for _, v in flows["cash"]), rel=1e-12)
    assert kpis["gross_margin"] == pytest.approx(0.25 * bookings, rel=1e-12)
    assert kpis["gross_margin_pct"] == pytest.approx(0.25)
    assert kpis["cycle_time_days"] == pytest.approx((won["signed"] - won["a"]).mean(), rel=1e-12)


def _month_averages(intervals: list[tuple[float, float]], months: int) -> np.ndarray:
    """Time-average number of open intervals in each model month (hand-made monitor)."""
    out = np.zeros(months)
    for m in range(months):
        lo, hi = m * DAYS_PER_MONTH, (m + 1) * DAYS_PER_MONTH
        out[m] = sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in intervals) / DAYS_PER_MONTH
    return out


def test_trace_monitors_follow_hand_intervals(contention) -> None:
    """util, queue and wip columns are time averages of the levels implied by the trace."""
    result, trace = contention
    ts = result.timeseries
    months = len(ts)
    presales_busy = [(p, p + 10.0) for p in trace["p"]]
    presales_queue = [(r, p) for r, p in zip(trace["ready"], trace["p"], strict=True)]
    won = trace[trace["grade"] != "B"]
    delivery_busy = [(i, i + IMPLEMENTATION) for i in won["impl"]]
    delivery_queue = [(s, i) for s, i in zip(won["signed"], won["impl"], strict=True)]
    proposal_wip = [(r, p + 10.0) for r, p in zip(trace["ready"], trace["p"], strict=True)]
    implementation_wip = [
        (s, i + IMPLEMENTATION) for s, i in zip(won["signed"], won["impl"], strict=True)
    ]
    for column, intervals, slots in [
        ("util_presales", presales_busy, 1),
        ("queue_presales", presales_queue, 1),
        ("util_delivery", delivery_busy, DELIVERY_SLOTS),  # busy slots / slots
        ("queue_delivery", delivery_queue, 1),
        ("wip_proposal", proposal_wip, 1),
        ("wip_implementation", implementation_wip, 1),
        ("wip_development", [(a, a + 2.0) for a in trace["a"]], 1),
    ]:
        np.testing.assert_allclose(
            ts[column].to_numpy(float),
            _month_averages(intervals, months) / slots,
            rtol=0,
            atol=1e-9,
            err_msg=column,
        )


# One account manager owning every deal from development to signing or exit; grade B leaves
# at the proposal. The horizon cuts the run while deals still wait for the account manager.
OWNERSHIP = """
    name = "trace-ownership"
    [calendar]
    horizon_months = 3
    arrivals_until_months = 2
    drain = false

    [arrivals]
    rate_per_month = 4.0

    [grades.A]
    share = 0.5
    value = { dist = "fixed", value = 1000000.0 }
    [grades.B]
    share = 0.5
    value = { dist = "fixed", value = 1000000.0 }

    [stages.development]
    duration = { dist = "fixed", value = 5.0 }
    [stages.approval]
    duration = { dist = "fixed", value = 5.0 }
    [stages.proposal]
    duration = { dist = "fixed", value = 5.0 }
    pass_probability = { A = 1.0, B = 0.0 }
    [stages.tender]
    duration = { dist = "fixed", value = 5.0 }
    [stages.negotiation]
    duration = { dist = "fixed", value = 5.0 }
    [stages.implementation]
    duration = { dist = "fixed", value = 30.0 }

    [resources.account_managers]
    headcount = 1
    ownership = true
"""
HORIZON = 3 * DAYS_PER_MONTH


@pytest.fixture(scope="module")
def ownership(tmp_path_factory: pytest.TempPathFactory) -> tuple[kamsim.Result, pd.DataFrame]:
    scenario = load_toml(tmp_path_factory.mktemp("own"), OWNERSHIP)
    result = kamsim.simulate(scenario, seed=5, replication=0)
    rows = []
    free = 0.0
    for deal in result.deals.sort_values("arrived_at").itertuples():
        start = max(deal.arrived_at, free)  # one account manager, first come first served
        # Held until signing (A: after five 5-day stages) or until the deal leaves (B: fails
        # the proposal, the third stage).
        free = start + (25.0 if deal.grade == "A" else 15.0)
        rows.append((deal.deal_id, deal.grade, deal.arrived_at, start, free))
    return result, pd.DataFrame(rows, columns=["deal_id", "grade", "a", "start", "release"])


def test_ownership_trace_has_all_cases(ownership) -> None:
    _, trace = ownership
    assert (trace["start"] > trace["a"] + 1e-6).sum() >= 2, "no account-manager queue"
    assert (trace["release"] <= HORIZON).any(), "nothing finished"
    assert (trace["start"] > HORIZON).any(), "nobody still waiting at the horizon"
    assert ((trace["start"] <= HORIZON) & (trace["release"] > HORIZON)).any()


def _visits_until(
    deal_id: int, start: float, queued: float, n_stages: int, last: str, end: float
) -> tuple[list[tuple[object, ...]], float]:
    """Stage-visit rows of a deal that holds its account manager from ``start``."""
    rows = []
    t = start
    for k in range(n_stages):
        if t > end:
            break
        stage_end = t + 5.0
        q = queued if k == 0 else t
        if stage_end > end:
            rows.append((deal_id, STAGES[k], None, q, t, NAN, "open"))
            break
        rows.append(
            (deal_id, STAGES[k], None, q, t, stage_end, last if k == n_stages - 1 else "passed")
        )
        t = stage_end
    return rows, t


def test_ownership_events_match_hand_computation(ownership) -> None:
    result, trace = ownership
    rows: list[tuple[object, ...]] = []
    for t in trace.itertuples():
        if t.start > HORIZON:  # still waiting for an account manager
            rows.append((t.deal_id, "development", None, t.a, NAN, NAN, "open"))
            rows.append((t.deal_id, "development", "account_managers", t.a, NAN, NAN, "open"))
            continue
        released = t.release <= HORIZON
        rows.append(
            (
                t.deal_id,
                "development",
                "account_managers",
                t.a,
                t.start,
                t.release if released else NAN,
                "released" if released else "open",
            )
        )
        if t.grade == "B":
            visits, _ = _visits_until(t.deal_id, t.start, t.a, 3, "customer_dropped", HORIZON)
            rows += visits
            continue
        visits, signed = _visits_until(t.deal_id, t.start, t.a, 5, "passed", HORIZON)
        rows += visits
        if released:  # signed: implementation runs without the account manager
            ended = signed + 30.0
            done = ended <= HORIZON
            rows.append(
                (
                    t.deal_id,
                    "implementation",
                    None,
                    signed,
                    signed,
                    ended if done else NAN,
                    "passed" if done else "open",
                )
            )
    _compare_events(result.events, rows)


def test_ownership_deals_and_kpis(ownership) -> None:
    result, trace = ownership
    deals = result.deals.set_index("deal_id").loc[trace["deal_id"]]
    finished = (trace["release"] <= HORIZON).to_numpy()
    is_a = (trace["grade"] == "A").to_numpy()
    outcome = np.where(finished, np.where(is_a, "won", "lost"), "open")
    assert deals["outcome"].astype(str).tolist() == outcome.tolist()
    signed = np.where(finished & is_a, trace["release"], NAN)
    np.testing.assert_allclose(deals["signed_at"].to_numpy(float), signed, atol=1e-9)
    lost_close = np.where(finished & ~is_a, trace["release"], NAN)
    got_close = deals["closed_at"].to_numpy(float)
    np.testing.assert_allclose(np.where(is_a, NAN, got_close), lost_close, atol=1e-9)
    wait = np.minimum(trace["start"], HORIZON) - trace["a"]  # open waits count to the end
    np.testing.assert_allclose(deals["wait_account_managers"].to_numpy(float), wait, atol=1e-9)
    kpis = result.kpis.iloc[0]
    assert kpis["deals_open"] == int((~finished).sum())
    assert kpis["deals_won"] == int((finished & is_a).sum())
    assert kpis["deals_lost"] == int((finished & ~is_a).sum())

    ts = result.timeseries
    busy = [(s, min(r, HORIZON)) for s, r in zip(trace["start"], trace["release"], strict=True)]
    queue = [(a, min(s, HORIZON)) for a, s in zip(trace["a"], trace["start"], strict=True)]
    np.testing.assert_allclose(
        ts["util_account_managers"], _month_averages([b for b in busy if b[0] < b[1]], 3), atol=1e-9
    )
    np.testing.assert_allclose(
        ts["queue_account_managers"],
        _month_averages([q for q in queue if q[0] < q[1]], 3),
        atol=1e-9,
    )


def _failing_at(stage: str, exit_reason: str | None = None) -> str:
    reason = f'exit_reason = "{exit_reason}"' if exit_reason else ""
    stages = "\n".join(
        f'[stages.{s}]\nduration = {{ dist = "fixed", value = {k + 1}.0 }}\n'
        + (f"pass_probability = 0.0\n{reason}\n" if s == stage else "")
        for k, s in enumerate(STAGES)
    )
    return (
        "[calendar]\nhorizon_months = 6\narrivals_until_months = 1\ndrain = true\n"
        "[arrivals]\nrate_per_month = 5.0\n" + stages
    )


@pytest.mark.parametrize(("stage", "reason"), sorted(STAGE_EXIT_REASONS.items()))
def test_failing_a_stage_loses_with_its_default_reason(
    tmp_path: Path, stage: str, reason: str
) -> None:
    result = kamsim.simulate(load_toml(tmp_path, _failing_at(stage)), seed=1)
    deals = result.deals
    assert len(deals) > 0
    k = STAGES.index(stage)
    leaves_after = sum(range(1, k + 2))  # fixed durations 1, 2, ... days up to this stage
    assert (deals["outcome"] == "lost").all()
    assert (deals["exit_reason"] == reason).all()
    assert (deals["last_stage"].astype(str) == stage).all()
    np.testing.assert_allclose(deals["closed_at"], deals["arrived_at"] + leaves_after, atol=1e-9)
    assert deals["signed_at"].isna().all()
    assert (result.kpis["bookings"] == 0).all()
    last = result.events[result.events["stage"].astype(str) == stage]
    assert (last["result"] == reason).all()


def test_failing_implementation_cancels_but_stays_won(tmp_path: Path) -> None:
    result = kamsim.simulate(load_toml(tmp_path, _failing_at("implementation")), seed=1)
    deals = result.deals
    assert len(deals) > 0
    assert (deals["outcome"] == "won").all()
    assert deals["cancelled"].all()
    assert deals["accepted_at"].isna().all()
    np.testing.assert_allclose(deals["signed_at"], deals["arrived_at"] + 15.0, atol=1e-9)
    np.testing.assert_allclose(deals["closed_at"], deals["arrived_at"] + 21.0, atol=1e-9)
    impl = result.events[result.events["stage"].astype(str) == "implementation"]
    assert (impl["result"] == CANCELLED).all()


def test_custom_exit_reason_names_the_exit(tmp_path: Path) -> None:
    text = _failing_at("tender", exit_reason="no_budget")
    deals = kamsim.simulate(load_toml(tmp_path, text), seed=1).deals
    assert len(deals) > 0
    assert (deals["exit_reason"] == "no_budget").all()
