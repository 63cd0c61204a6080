"""Tier 2: Erlang C. One capacitated stage with Poisson arrivals and exponential work is M/M/c.

The scenario is written as TOML and run through ``load_scenario`` and the engine
(``kamsim.model.run_replication``). Its one stage is ``development``, holding a ``presales``
slot; its pass probability is 0, so a deal leaves right after its service (the pass draw comes
after the work) and each customer costs one stage visit. Waits are read from the engine's plain
hold records (started_at - queued_at; the events table's pool rows are built from them, and
skipping the tables saves about a third of the time) of customers arriving after a one-month
warm-up; leads stop at the horizon and the run drains, so
every customer's wait is complete. The oracle is the Erlang C formula, computed here.

Queue waits at 80% load are strongly autocorrelated, so a 2% half-width needs millions of
customers: replications of 24,000 customers scatter by ~10% (M/M/5) and ~7.5% (M/M/1) of the
target, hence 44 and 22 replications of 73,000 (3.2 and 1.6 million customers). They run in
worker processes, one per core (at most four). A control-variate estimator would need about
40% fewer customers, but it would correct the waits for the realised arrival and service
rates and so partly hide a bug in those inputs; the plain mean keeps the check independent.

The number of customers, not the number of runs, sets the cost. The mean of autocorrelated
waits over n customers has a variance of about s2 / n, where s2 (the time-average variance
constant, in squared target units) is about 240 for M/M/5 and 110 for M/M/1 at 80% load; a 2%
half-width therefore needs about 2.5 and 1.2 million customers however they are grouped. Batch
means of one long run would need as many (and one replication may not expect more than
100,000 leads), and a lower load makes the check less sensitive to a wrong rate without making
M/M/5 much cheaper (s2 stays above 130 down to 50% load).
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from constants import DAYS_PER_MONTH, POOLS
from helpers import assert_estimates, cpu_count, erlang_c, mmc_mean_wait, write_toml

import kamsim
from kamsim.gcpause import paused_gc
from kamsim.model import run_replication

WARM_UP_DAYS = DAYS_PER_MONTH
MONTHS = 300
ARRIVALS_PER_DAY = 8.0

MMC = """
    name = "erlang-c"
    [calendar]
    horizon_months = {months}
    arrivals_until_months = {months}
    drain = true

    [arrivals]
    rate_per_month = {rate!r}

    [stages.development]
    duration = {{ dist = "exponential", mean = {mean!r} }}
    pools = ["presales"]
    pass_probability = 0.0

    [resources.presales]
    headcount = {servers}
"""


def test_erlang_c_formula_gives_the_textbook_constants() -> None:
    assert erlang_c(1, 0.8) == pytest.approx(0.8)  # M/M/1: P(wait) = rho
    assert erlang_c(5, 4.0) == pytest.approx(0.5541, abs=5e-5)
    assert mmc_mean_wait(5, 0.8) == pytest.approx(0.5541, abs=5e-5)
    assert mmc_mean_wait(1, 0.8) == pytest.approx(4.0)
    assert mmc_mean_wait(1, 0.8) == pytest.approx(0.8 / (1 - 0.8))  # rho / (1 - rho)


def replication_waits(path: str, seed: int, replication: int, mean: float) -> tuple[float, float]:
    """Mean wait (in mean service times) and share who waited, after the warm-up.

    Runs in a worker process, so it takes plain arguments and returns two numbers.
    """
    scenario = kamsim.load_scenario(path)
    with paused_gc():
        records = run_replication(scenario, seed, replication)
    presales = POOLS.index("presales")
    # Hold rows are (deal_id, stage, pool, queued_at, started_at, ended_at, result): the plain
    # records the events table is built from, read directly to skip building the tables.
    wait = np.array(
        [h[4] - h[3] for h in records.holds if h[2] == presales and h[3] >= WARM_UP_DAYS]
    )
    assert len(wait) > 0 and np.isfinite(wait).all()
    assert (wait >= 0).all()
    return float(wait.mean() / mean), float((wait > 0).mean())


def _workers() -> int:
    """Worker processes: the cores this process may use, at most four."""
    return max(1, min(4, cpu_count()))


def _run(tmp_path: Path, servers: int, reps: int) -> np.ndarray:
    rho = 0.8
    mean = servers * rho / ARRIVALS_PER_DAY  # lambda * mean service = c * rho
    path = write_toml(
        tmp_path,
        MMC.format(
            months=MONTHS, rate=ARRIVALS_PER_DAY * DAYS_PER_MONTH, mean=mean, servers=servers
        ),
    )
    scenario = kamsim.load_scenario(path)
    assert scenario.resources.presales.capacity == servers
    assert scenario.stages.development.duration.mean == pytest.approx(mean)
    args = [(str(path), 42, r, mean) for r in range(reps)]
    if _workers() == 1:
        return np.array([replication_waits(*a) for a in args])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=_workers(), mp_context=context) as pool:
        return np.array(list(pool.map(replication_waits, *zip(*args, strict=True))))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("servers", "reps"),
    [
        pytest.param(5, 44, id="M/M/5"),
        pytest.param(1, 22, id="M/M/1"),
    ],
)
def test_mean_wait_matches_erlang_c(tmp_path: Path, servers: int, reps: int) -> None:
    waits = _run(tmp_path, servers, reps)
    offered = servers * 0.8
    assert_estimates(waits[:, 0], mmc_mean_wait(servers, 0.8), f"M/M/{servers} mean wait")
    # PASTA: the share of customers who wait is Erlang C itself.
    assert_estimates(waits[:, 1], erlang_c(servers, offered), f"M/M/{servers} P(wait)")
    assert math.isclose(offered / servers, 0.8)
