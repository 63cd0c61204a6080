"""Tier 3: invariants that hold in every valid scenario (hypothesis).

Random small scenarios (short horizons, a few dozen leads) with random pass probabilities,
durations, pools, headcounts, ownership and drain. Whatever the numbers, deals are conserved,
the KPI counts agree with the deals table, nobody waits a negative time, every event is
well ordered, a pool never holds more deals than it has slots, its queue is first come first
served, and a drained run leaves nothing open.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from constants import GRADES, POOLS, STAGES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invariants import check_replication

import kamsim

probabilities = st.floats(0.0, 1.0)
days = st.floats(0.0, 20.0)


@st.composite
def durations(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["fixed", "exponential", "uniform", "triangular", "lognormal"]))
    if kind == "fixed":
        return {"dist": "fixed", "value": draw(days)}
    if kind == "exponential":
        return {"dist": "exponential", "mean": draw(st.floats(0.1, 20.0))}
    if kind == "lognormal":
        return {
            "dist": "lognormal",
            "mean": draw(st.floats(0.1, 20.0)),
            "cv": draw(st.floats(0.1, 2.0)),
        }
    low, high = sorted((draw(days), draw(days)))
    if kind == "uniform":
        return {"dist": "uniform", "low": low, "high": high}
    return {"dist": "triangular", "low": low, "mode": draw(st.floats(low, high)), "high": high}


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario as the table a TOML file would give."""
    grades = draw(st.lists(st.sampled_from(GRADES), min_size=1, max_size=4, unique=True))
    weights = [draw(st.integers(1, 5)) for _ in grades]
    stages = {}
    for stage in STAGES:
        spec: dict[str, Any] = {
            "duration": draw(durations()),
            "pools": draw(st.lists(st.sampled_from(POOLS), max_size=2, unique=True)),
        }
        if draw(st.booleans()):
            spec["pass_probability"] = draw(probabilities)
        else:
            spec["pass_probability"] = {g: draw(probabilities) for g in grades}
        stages[stage] = spec
    resources = {
        pool: {"headcount": draw(st.integers(1, 3)), "deals_per_person": draw(st.integers(1, 2))}
        for pool in POOLS
    }
    resources["account_managers"]["ownership"] = draw(st.booleans())
    horizon = draw(st.integers(1, 4))
    calendar: dict[str, Any] = {"horizon_months": horizon, "drain": draw(st.booleans())}
    if draw(st.booleans()):
        calendar["arrivals_until_months"] = draw(st.floats(0.0, float(horizon)))
    return {
        "calendar": calendar,
        "arrivals": {"rate_per_month": draw(st.floats(0.0, 25.0))},
        "grades": {
            g: {
                "share": w / sum(weights),
                "value": {"dist": "uniform", "low": 1.0, "high": 10.0},
                "accounts": draw(st.integers(1, 5)),
            }
            for g, w in zip(grades, weights, strict=True)
        },
        "stages": stages,
        "resources": resources,
        "payments": {"lag_days": draw(durations())},
    }


def _check_replication(scenario: kamsim.Scenario, result: kamsim.Result, r: int) -> None:
    check_replication(scenario, result, r)
    deals = result.deals[result.deals["replication"] == r]
    events = result.events[result.events["replication"] == r]
    kpis = result.kpis[result.kpis["replication"] == r].iloc[0]
    won = deals[deals["outcome"] == "won"]
    # Values are at least 1 here, so every signed deal books something, and all of it counts.
    assert (won["booked_value"] > 0).all()
    assert kpis["bookings"] == pytest.approx(float(won["booked_value"].sum()), rel=1e-9)

    # Every queue here is first come, first served: nobody is granted a slot while an earlier
    # request waits (a request still waiting at the end counts as granted never).
    holds = events[events["pool"].notna()]
    for pool in POOLS:
        rows = holds[holds["pool"] == pool]
        q = rows["queued_at"].to_numpy(float)
        s = rows["started_at"].fillna(np.inf).to_numpy(float)
        order = np.argsort(q, kind="stable")
        q, s = q[order], s[order]
        later = q[None, :] > q[:, None]  # pairs (i, j) with j requested strictly after i
        assert not (later & (s[None, :] < s[:, None])).any(), f"{pool} queue overtaken"

    if scenario.calendar.drain:  # short runs here: the drain always ends before its cap
        assert (deals["outcome"] != "open").all()
        assert not (events["result"] == "open").any()


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_invariants_hold_in_random_scenarios(data: dict[str, Any], seed: int) -> None:
    scenario = kamsim.Scenario.model_validate(data)
    result = kamsim.run(scenario, reps=2, seed=seed)
    assert sorted(result.kpis["replication"]) == [0, 1]
    for r in (0, 1):
        _check_replication(scenario, result, r)
    # Arrivals stop at arrivals_until (or the horizon).
    until = scenario.calendar.arrivals_until_days
    assert (result.deals["arrived_at"] <= until + 1e-9).all()
    assert isinstance(result.deals, pd.DataFrame)
