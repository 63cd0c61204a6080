"""Every deal's luck, drawn in vectorised blocks before the deal needs it.

Common random numbers: deal k's grade, account, value, margin, every stage's duration and pass
draw and its payment lags come from per-purpose streams, row k of a block drawn in arrival
order. A variant that changes staffing, policy or pass probabilities leaves these draws alone,
so a paired comparison meets the same customers with the same luck. Blocks are converted to
Python lists once, because the event loop indexes them one deal at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.vocabulary import DAYS_PER_MONTH, STAGES


def arrival_times(scenario: Scenario, streams: Streams) -> list[float]:
    """Poisson lead arrivals until ``arrivals_until``, with calendar-month seasonality.

    The rate is piecewise constant over model months (365/12 days); each month's count is
    Poisson and its arrivals are uniform inside it, which is exactly a non-homogeneous Poisson
    process with that rate.
    """
    arr = scenario.arrivals
    until = scenario.calendar.arrivals_until_days
    n_months = int(np.ceil(until / DAYS_PER_MONTH - 1e-12))
    if n_months == 0 or arr.rate_per_month == 0:
        return []
    starts = np.arange(n_months) * DAYS_PER_MONTH
    lengths = np.minimum(starts + DAYS_PER_MONTH, until) - starts
    factors = np.ones(12)
    if arr.seasonality is not None:
        factors = np.asarray(arr.seasonality, dtype=float)
        factors = factors * 12 / factors.sum()
    month_of_year = (scenario.calendar.start.month - 1 + np.arange(n_months)) % 12
    rates = arr.rate_per_month / DAYS_PER_MONTH * factors[month_of_year]
    rng = streams("arrivals")
    counts = rng.poisson(rates * lengths)
    offsets = rng.uniform(size=int(counts.sum()))
    times = np.sort(np.repeat(starts, counts) + offsets * np.repeat(lengths, counts))
    return [float(t) for t in times]


@dataclass(slots=True)
class DealDraws:
    """Random inputs of a block of deals; ``[k]`` of each list belongs to deal k of the block."""

    grade: list[int]
    account: list[int]
    value: list[float]
    margin: list[float]
    duration: list[list[float]]
    """``duration[stage][k]``: working time of deal k in that stage, in days."""
    pass_u: list[list[float]]
    """``pass_u[stage][k]``: uniform compared with the stage's pass probability."""
    lag: list[list[float]]
    """``lag[milestone][k]``: days from milestone to cash (signing, delivery, acceptance)."""

    @classmethod
    def draw(cls, scenario: Scenario, streams: Streams, n: int, prefix: str = "") -> DealDraws:
        """Draw ``n`` deals' inputs from the streams named ``prefix + purpose``."""
        grades = scenario.grade_keys
        shares = np.cumsum([scenario.grades[g].share for g in grades])
        shares[-1] = np.inf  # rounding in the shares never leaves a deal without a grade
        grade = np.searchsorted(shares, streams(prefix + "grade").uniform(size=n), side="right")
        accounts = np.array([scenario.grades[g].accounts for g in grades])
        account = np.floor(streams(prefix + "account").uniform(size=n) * accounts[grade])
        value = np.empty(n)
        margin = np.empty(n)
        for i, g in enumerate(grades):
            spec = scenario.grades[g]
            mask = grade == i
            # Each grade samples a full block so one grade's draws never shift another's.
            value[mask] = spec.value.sample(streams(f"{prefix}value.{g}"), n)[mask]
            margin[mask] = spec.margin.sample(streams(f"{prefix}margin.{g}"), n)[mask]
        duration = [
            scenario.stages[s].duration.sample(streams(f"{prefix}duration.{s}"), n).tolist()
            for s in STAGES
        ]
        pass_u = [streams(f"{prefix}pass.{s}").uniform(size=n).tolist() for s in STAGES]
        lag_rng = streams(prefix + "payment_lag")
        lag = [scenario.payments.lag_days.sample(lag_rng, n).tolist() for _ in range(3)]
        return cls(
            grade=grade.tolist(),
            account=account.astype(int).tolist(),
            value=value.tolist(),
            margin=margin.tolist(),
            duration=duration,
            pass_u=pass_u,
            lag=lag,
        )
