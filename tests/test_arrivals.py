"""Leads arrive as a Poisson process at ``rate_per_month`` per 365/12 days, seasonal by
calendar month (factors rescaled to average 1).

The statistical checks call the engine's arrival generator directly (hundreds of
replications cost milliseconds); the first test ties it to the deals table ``simulate`` gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from constants import DAYS_PER_MONTH
from helpers import assert_estimates, load_toml

import kamsim
from kamsim.model.draws import arrival_times
from kamsim.rng import Streams

SEASONAL = """
    [calendar]
    start = 2027-04-01
    horizon_months = 36
    [arrivals]
    rate_per_month = 200.0
    seasonality = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
"""
REPS = 200


@pytest.fixture(scope="module")
def seasonal(tmp_path_factory: pytest.TempPathFactory) -> kamsim.Scenario:
    return load_toml(tmp_path_factory.mktemp("arrivals"), SEASONAL)


def test_deals_arrive_at_the_generated_times(seasonal: kamsim.Scenario) -> None:
    short = seasonal.with_overrides(["calendar.horizon_months=2", "calendar.drain=true"])
    deals = kamsim.simulate(short, seed=4, replication=1).deals
    expected = arrival_times(short, Streams(4, 1))
    assert len(expected) > 100
    np.testing.assert_array_equal(deals.sort_values("deal_id")["arrived_at"], expected)


@pytest.fixture(scope="module")
def counts_by_calendar_month(seasonal: kamsim.Scenario) -> np.ndarray:
    """Leads per calendar month (columns January..December) in each replication (rows)."""
    counts = np.zeros((REPS, 12), dtype=int)
    for r in range(REPS):
        times = np.asarray(arrival_times(seasonal, Streams(8, r)))
        model_month = (times // DAYS_PER_MONTH).astype(int)
        april = 3  # the run starts in April: model month m is calendar month (3 + m) % 12
        counts[r] = np.bincount((april + model_month) % 12, minlength=12)
    return counts


@pytest.mark.parametrize("calendar_month", range(12))
def test_monthly_counts_follow_rate_and_seasonality(
    counts_by_calendar_month: np.ndarray, calendar_month: int
) -> None:
    factors = np.arange(1.0, 13.0)
    expected = 3 * 200.0 * factors[calendar_month] * 12 / factors.sum()  # 3 years
    counts = counts_by_calendar_month[:, calendar_month]
    assert_estimates(counts, expected, f"leads in calendar month {calendar_month + 1}")


def test_gaps_are_exponential_without_seasonality(tmp_path: Path) -> None:
    """Poisson process: gaps have mean 1/lambda and variance 1/lambda^2."""
    flat = load_toml(
        tmp_path, "[calendar]\nhorizon_months = 36\n[arrivals]\nrate_per_month = 200.0\n"
    )
    mean_gap = DAYS_PER_MONTH / 200.0
    means, variances = [], []
    for r in range(40):
        gaps = np.diff(arrival_times(flat, Streams(9, r)))
        means.append(gaps.mean())
        variances.append(gaps.var(ddof=1))
    assert_estimates(means, mean_gap, "mean gap")
    assert_estimates(variances, mean_gap**2, "gap variance")
