"""Run a scenario: one replication (``simulate``) or many (``run``), returning tidy tables.

Arguments are checked before any work: a wrong one raises ``ValueError`` naming it.
"""

from __future__ import annotations

from collections.abc import Callable

from kamsim.gcpause import paused_gc
from kamsim.limits import MAX_REPS, MAX_SEED
from kamsim.model import Rules, run_replication
from kamsim.results import Result, build_result, concat_results
from kamsim.scenario import Scenario


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside [{low}, {high}]")


def _check_scenario(scenario: object) -> None:
    if not isinstance(scenario, Scenario):
        raise ValueError(
            f"scenario: expected a kamsim.Scenario (see kamsim.load_scenario), "
            f"not {type(scenario).__name__}"
        )


def simulate(scenario: Scenario, seed: int = 0, replication: int = 0) -> Result:
    """One replication of ``scenario``; its luck is keyed by (seed, replication, purpose)."""
    _check_scenario(scenario)
    _check_int("seed", seed, 0, MAX_SEED)
    _check_int("replication", replication, 0, MAX_SEED)
    return _replicate(Rules(scenario), seed, replication)


def _replicate(rules: Rules, seed: int, replication: int) -> Result:
    """One replication's tables. The cyclic garbage collector pauses while the engine and the
    table builder allocate (``kamsim.gcpause``)."""
    with paused_gc():
        return build_result(run_replication(rules, seed, replication))


def run(
    scenario: Scenario,
    reps: int = 1,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
) -> Result:
    """Replications 0..reps-1, stacked in replication order; ``progress(1)`` after each."""
    _check_scenario(scenario)
    _check_int("reps", reps, 1, MAX_REPS)
    _check_int("seed", seed, 0, MAX_SEED)
    if progress is not None and not callable(progress):
        raise ValueError("progress: expected a callable taking the number of replications done")
    rules = Rules(scenario)  # settings once per scenario, luck once per replication
    results = []
    for r in range(reps):
        results.append(_replicate(rules, seed, r))
        if progress is not None:
            progress(1)
    return concat_results(results)
