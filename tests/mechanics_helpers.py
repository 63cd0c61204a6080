"""Builders of tiny scenarios and statistical checks for the mechanism and policy tests.

Tiny scenarios start from one grade with a fixed deal value and six instantaneous stages that
always pass and need no people (the scenario defaults); a test switches on only the mechanism
it checks. Two arrival patterns make hand-checkable timings possible:

- ``batch(n)``: about ``n`` leads arrive together at day ~0 (a Poisson stream squeezed into
  3e-8 days), so queue positions, not arrival times, decide who waits how long;
- ``stream(rate, months)``: a plain Poisson stream (per month) for steady-state checks.

Statistical checks compare an observed share or mean with a closed form through the suite's
one rule, ``helpers.assert_estimates``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
from constants import DAYS_PER_MONTH

import kamsim

BATCH_MONTHS = 1e-9
"""Arrival window of a batch, in months (about 3e-8 days)."""


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


def little_ratio(
    level: pd.Series,
    rows: pd.DataFrame,
    start: str,
    end: str,
    months: tuple[int, int],
    scale: float = 1.0,
) -> float:
    """Little's law over the window of whole ``months`` [first, last): the time-average
    ``level`` (monthly values inside the window) divided by (arrival rate x mean time in
    system) of the ``rows`` starting inside it; 1 when L = lambda W."""
    lo, hi = months[0] * DAYS_PER_MONTH, months[1] * DAYS_PER_MONTH
    inside = rows[(rows[start] >= lo) & (rows[start] < hi)]
    assert inside[end].notna().all()
    rate = len(inside) / (hi - lo)
    sojourn = float((inside[end] - inside[start]).mean())
    return float(level.mean()) * scale / (rate * sojourn)


# -- closed forms ------------------------------------------------------------------------------


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
