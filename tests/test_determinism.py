"""Reproducibility: a seed fixes every table; replications are independent of how they are run."""

from __future__ import annotations

import pandas as pd
import pytest
from constants import BASELINE

import kamsim

TABLES = ("deals", "events", "timeseries", "kpis")


@pytest.fixture(scope="module")
def short(baseline: kamsim.Scenario) -> kamsim.Scenario:
    return baseline.with_overrides(["calendar.horizon_months=12", "calendar.warmup_months=0"])


def _assert_same(a: kamsim.Result, b: kamsim.Result) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


def test_same_seed_gives_identical_tables(short: kamsim.Scenario) -> None:
    first = kamsim.simulate(short, seed=7, replication=1)
    second = kamsim.simulate(short, seed=7, replication=1)
    assert len(first.deals) > 50 and len(first.events) > 100
    _assert_same(first, second)


def test_reloading_the_file_gives_identical_tables(short: kamsim.Scenario) -> None:
    again = kamsim.load_scenario(
        BASELINE, ["calendar.horizon_months=12", "calendar.warmup_months=0"]
    )
    assert again == short
    _assert_same(kamsim.simulate(short, seed=3), kamsim.simulate(again, seed=3))


@pytest.mark.parametrize(("seed", "replication"), [(8, 1), (7, 2)])
def test_another_seed_or_replication_differs(
    short: kamsim.Scenario, seed: int, replication: int
) -> None:
    base = kamsim.simulate(short, seed=7, replication=1)
    other = kamsim.simulate(short, seed=seed, replication=replication)
    for name in ("deals", "events", "timeseries"):
        a, b = getattr(base, name), getattr(other, name)
        same = a.shape == b.shape and a.drop(columns="replication").equals(
            b.drop(columns="replication")
        )
        assert not same, f"{name} did not change"
    arrivals_a = base.deals["arrived_at"].to_numpy()
    arrivals_b = other.deals["arrived_at"].to_numpy()
    n = min(len(arrivals_a), len(arrivals_b))
    assert (arrivals_a[:n] != arrivals_b[:n]).any(), "the same leads arrived"
    kpi = ["bookings", "revenue", "cash", "deals_won", "deals_lost"]
    assert not base.kpis[kpi].equals(other.kpis[kpi])


def _stack_and_singles(short: kamsim.Scenario, reps: int = 3):
    stacked = kamsim.run(short, reps=reps, seed=5)
    assert sorted(stacked.kpis["replication"]) == list(range(reps))
    assert (stacked.kpis["seed"] == 5).all()
    for r in range(reps):
        single = kamsim.simulate(short, seed=5, replication=r)
        for name in TABLES:
            table = getattr(stacked, name)
            yield name, r, table[table["replication"] == r].reset_index(drop=True), single


def test_run_stacks_the_replications_simulate_gives(short: kamsim.Scenario) -> None:
    """Same rows and values (dtypes are checked separately below)."""
    for name, r, part, single in _stack_and_singles(short):
        pd.testing.assert_frame_equal(
            part,
            getattr(single, name),
            check_dtype=False,
            check_categorical=False,
            obj=f"{name} r={r}",
        )


def test_run_keeps_the_column_types_simulate_gives(short: kamsim.Scenario) -> None:
    """Stacking replications must not change a column's type (e.g. categorical -> string)."""
    for name, r, part, single in _stack_and_singles(short):
        expected = getattr(single, name).dtypes
        assert part.dtypes.to_dict() == expected.to_dict(), f"{name} r={r}"
