"""The toy workload written by hand as the shortest correct SimPy model: the reference.

This is the plain model an analyst would write, and it must stay that way: one process per
deal, ``with pool.request()`` around a timeout, stdlib ``random`` for the draws and aggregate
counters only. kamsim is timed against it on the same workload (``benchmarks/toy.toml``).

Deals arrive as a Poisson stream of 2,000 a year for 3 years of 365 days; the run continues
until every deal has left. Six sequential stages each hold one slot of one pool for an
exponential time, after which the deal leaves with probability 0.2, otherwise it moves on.

    python benchmarks/bare_simpy.py [seed]
"""

from __future__ import annotations

import random
import sys
from collections.abc import Generator
from typing import Any

import simpy

ARRIVALS_PER_DAY = 2000 / 365
ARRIVALS_UNTIL = 3 * 365.0
PASS = 0.8


def run(seed: int) -> dict[str, int]:
    """One replication; returns the number of deals and the aggregate counters."""
    rng = random.Random(seed)
    env = simpy.Environment()
    am, presales, delivery = (simpy.Resource(env, c) for c in (10, 5, 4))
    stages = [(am, 0.5), (am, 0.5), (presales, 0.6), (presales, 0.5), (am, 0.8), (delivery, 1.5)]
    counts = {"deals": 0, "visits": 0, "signed": 0, "completed": 0}

    def deal() -> Generator[simpy.Event, Any, None]:
        for k, (pool, mean) in enumerate(stages):
            with pool.request() as req:
                yield req
                yield env.timeout(rng.expovariate(1 / mean))
            counts["visits"] += 1
            if rng.random() >= PASS:
                return
            if k == 4:
                counts["signed"] += 1
        counts["completed"] += 1

    def arrivals() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(ARRIVALS_PER_DAY))
            if env.now > ARRIVALS_UNTIL:
                return
            counts["deals"] += 1
            env.process(deal())

    env.process(arrivals())
    env.run()  # until every deal has left
    return counts


if __name__ == "__main__":
    out = run(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    n = out["deals"]
    print(out)
    print(
        f"visits/deal={out['visits'] / n:.4f} signed={out['signed'] / n:.4f} "
        f"completed={out['completed'] / n:.4f}"
    )
