"""Builders of tiny scenarios and statistical checks for the mechanism and policy tests.

Tiny scenarios start from one grade with a fixed deal value and six instantaneous stages that
always pass and need no people (the scenario defaults); a test switches on only the mechanism
it checks. Two arrival patterns make hand-checkable timings possible:

- ``batch(n)``: about ``n`` leads arrive together at day ~0 (a Poisson stream squeezed into
  3e-8 days), so queue positions, not arrival times, decide who waits how long;
- ``stream(rate, months)``: a plain Poisson stream (per month) for steady-state checks.

Statistical checks compare an observed share or mean with a closed form: the value must lie
within three 95% half-widths of the run's own estimate, and a target 10% off must not.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd

import kamsim

Z95 = 1.959963984540054
BATCH_MONTHS = 1e-9
"""Arrival window of a batch, in months (about 3e-8 days)."""
M = 365.0 / 12.0
"""Days in a model month."""


def fixed(value: float) -> dict[str, Any]:
    return {"dist": "fixed", "value": value}


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge recursively; distributions, the ``grades`` table
    and everything else replace."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        atomic = key == "grades" or (isinstance(value, dict) and "dist" in value)
        if not atomic and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def batch(n: float, **tables: Any) -> dict[str, Any]:
    """About ``n`` leads (Poisson) arriving together at day ~0; the run drains."""
    base = {
        "calendar": {"horizon_months": 12, "arrivals_until_months": BATCH_MONTHS, "drain": True},
        "arrivals": {"rate_per_month": n / BATCH_MONTHS},
        "grades": {"A": {"share": 1.0, "value": fixed(1.0e6)}},
    }
    return merge(base, tables)


def stream(rate_per_month: float, months: float, **tables: Any) -> dict[str, Any]:
    """A Poisson stream of leads for ``months``; the run drains."""
    horizon = max(1, math.ceil(months))
    base = {
        "calendar": {"horizon_months": horizon, "arrivals_until_months": months, "drain": True},
        "arrivals": {"rate_per_month": rate_per_month},
        "grades": {"A": {"share": 1.0, "value": fixed(1.0e6)}},
    }
    return merge(base, tables)


def build(data: dict[str, Any]) -> kamsim.Scenario:
    return kamsim.Scenario.model_validate(data)


def sim(data: dict[str, Any], seed: int = 1, replication: int = 0) -> kamsim.Result:
    return kamsim.simulate(build(data), seed=seed, replication=replication)


# -- reading the tables -----------------------------------------------------------------------


def visits(events: pd.DataFrame, stage: str | None = None) -> pd.DataFrame:
    """Stage-visit rows (no pool), optionally of one stage."""
    v = events[events["pool"].isna()]
    if stage is not None:
        v = v[v["stage"] == stage]
    return v


def holds(events: pd.DataFrame, pool: str, stage: str | None = None) -> pd.DataFrame:
    """Wait/hold rows of one pool, optionally at one stage."""
    h = events[events["pool"] == pool]
    if stage is not None:
        h = h[h["stage"] == stage]
    return h


def reason_is(deals: pd.DataFrame, reason: str) -> pd.Series:
    """Boolean mask of deals that left with ``reason`` (missing reasons count as False)."""
    return (deals["exit_reason"] == reason).fillna(False).astype(bool)


def max_concurrency(starts: np.ndarray, ends: np.ndarray) -> int:
    """Largest number of [start, end) intervals that overlap at one instant.

    An interval with a missing end is taken to last forever. At equal times ends come
    before starts, so a slot handed from one deal to the next counts once.
    """
    starts = np.asarray(starts, dtype=float)
    ends = np.nan_to_num(np.asarray(ends, dtype=float), nan=np.inf)
    times = np.concatenate([starts, ends])
    kinds = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((kinds, times))
    return int(np.cumsum(kinds[order]).max(initial=0))


# -- statistics ---------------------------------------------------------------------------------


def share_estimate(hits: pd.Series | np.ndarray) -> tuple[float, float, int]:
    """(share, 95% half-width, n) of a boolean sample (normal approximation)."""
    x = np.asarray(hits, dtype=bool)
    n = len(x)
    p = float(x.mean())
    return p, Z95 * math.sqrt(max(p * (1 - p), 1e-12) / n), n


def mean_estimate(values: pd.Series | np.ndarray) -> tuple[float, float, int]:
    """(mean, 95% half-width, n) of independent values (normal approximation)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    return float(x.mean()), Z95 * float(x.std(ddof=1)) / math.sqrt(n), n


def t_estimate(values: pd.Series | np.ndarray) -> tuple[float, float, int]:
    """(mean, 95% Student-t half-width, n) over a few replications."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    t = float(stats.t.ppf(0.975, n - 1))
    return float(x.mean()), t * float(x.std(ddof=1)) / math.sqrt(n), n


def agrees(estimate: float, half_width: float, target: float) -> bool:
    """The closed form ``target`` lies within three half-widths of the estimate."""
    return abs(estimate - target) <= 3 * half_width


def assert_closed_form(estimate: tuple[float, float, int], target: float) -> None:
    """Estimate agrees with ``target``; the same check against targets 10% off fails."""
    value, hw, n = estimate
    assert agrees(value, hw, target), (
        f"estimate {value:.5f} +- {hw:.5f} (n={n}) disagrees with closed form {target:.5f}"
    )
    for off in (0.9 * target, 1.1 * target):
        assert not agrees(value, hw, off), (
            f"negative control: estimate {value:.5f} +- {hw:.5f} (n={n}) cannot tell "
            f"{target:.5f} from {off:.5f}; the sample is too small"
        )


def logistic_with_odds(p: float, *log_odds: float) -> float:
    """logistic(logit(p) + sum of log odds ratios), written out from the definition."""
    z = math.log(p / (1 - p)) + sum(log_odds)
    return 1 / (1 + math.exp(-z))


def erlang_a_abandonment(lam: float, c: int, mu: float, theta: float, n_max: int = 600) -> float:
    """P(abandon) in M/M/c+M from the birth-death chain: theta E[queue] / lambda."""
    log_pi = [0.0]
    for n in range(1, n_max + 1):
        death = min(n, c) * mu + max(n - c, 0) * theta
        log_pi.append(log_pi[-1] + math.log(lam / death))
    pi = np.exp(np.array(log_pi) - max(log_pi))
    pi /= pi.sum()
    queue = np.maximum(np.arange(n_max + 1) - c, 0)
    return float(theta * (queue * pi).sum() / lam)
