"""Run a scenario: one replication (``simulate``) or many (``run``), returning tidy tables."""

from __future__ import annotations

from collections.abc import Callable

from kamsim.model import run_replication
from kamsim.results import Result, build_result, concat_results
from kamsim.scenario import Scenario


def simulate(scenario: Scenario, seed: int = 0, replication: int = 0) -> Result:
    """One replication of ``scenario``; its luck is keyed by (seed, replication, purpose)."""
    return build_result(run_replication(scenario, seed, replication))


def run(
    scenario: Scenario,
    reps: int = 1,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
) -> Result:
    """Replications 0..reps-1, stacked in replication order; ``progress(1)`` after each."""
    if reps < 1:
        raise ValueError("reps must be at least 1")
    results = []
    for r in range(reps):
        results.append(simulate(scenario, seed=seed, replication=r))
        if progress is not None:
            progress(1)
    return concat_results(results)
