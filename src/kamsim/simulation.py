"""Run a scenario: one replication (``simulate``) or many (``run``), returning tidy tables.

Arguments are checked before any work: a wrong one raises ``ValueError`` naming it, and a
pipeline that does not fit the scenario :class:`~kamsim.errors.ScenarioError`.

Both start from a pipeline already under way when given ``pipeline=``
(:class:`kamsim.pipeline.OpenPipeline`): its open deals are placed in their stages on its
as-of date and new leads arrive from then on; see :mod:`kamsim.pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from kamsim.gcpause import paused_gc
from kamsim.limits import MAX_REPS, MAX_SEED
from kamsim.model import Rules, run_replication
from kamsim.pipeline import OpenPipeline
from kamsim.results import Result, build_result, concat_results
from kamsim.scenario import Scenario
from kamsim.uncertainty import drawn_scenario


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


def check_pipeline(pipeline: object, scenario: Scenario) -> OpenPipeline | None:
    """``pipeline`` if it is None or an :class:`~kamsim.pipeline.OpenPipeline` that fits
    ``scenario``; ValueError for anything else, ScenarioError for a misfit."""
    if pipeline is None:
        return None
    if not isinstance(pipeline, OpenPipeline):
        raise ValueError(
            f"pipeline: expected a kamsim.pipeline.OpenPipeline (see "
            f"kamsim.pipeline.read_pipeline), not {type(pipeline).__name__}"
        )
    pipeline.check(scenario)
    return pipeline


def simulate(
    scenario: Scenario,
    seed: int = 0,
    replication: int = 0,
    pipeline: OpenPipeline | None = None,
) -> Result:
    """One replication of ``scenario``; its luck is keyed by (seed, replication, purpose), as
    are the settings its ``uncertainty`` section draws.

    ``pipeline``: start from these open deals on their as-of date (:mod:`kamsim.pipeline`).
    """
    _check_scenario(scenario)
    _check_int("seed", seed, 0, MAX_SEED)
    _check_int("replication", replication, 0, MAX_SEED)
    check_pipeline(pipeline, scenario)
    if scenario.uncertainty:
        return replicate_drawn(scenario, seed, replication, pipeline)
    return _replicate(Rules(scenario), seed, replication, pipeline)


def _replicate(
    rules: Rules, seed: int, replication: int, pipeline: OpenPipeline | None = None
) -> Result:
    """One replication's tables. The cyclic garbage collector pauses while the engine and the
    table builder allocate (``kamsim.gcpause``)."""
    with paused_gc():
        return build_result(run_replication(rules, seed, replication, pipeline))


def replicate_drawn(
    scenario: Scenario, seed: int, replication: int, pipeline: OpenPipeline | None = None
) -> Result:
    """One replication of a scenario with an ``uncertainty`` section: its settings drawn for
    this replication (:mod:`kamsim.uncertainty`), its rules built from them. The result names
    the scenario as given, so replications stack."""
    rules = Rules(drawn_scenario(scenario, seed, replication))
    return replace(_replicate(rules, seed, replication, pipeline), scenario=scenario)


def run(
    scenario: Scenario,
    reps: int = 1,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
    pipeline: OpenPipeline | None = None,
) -> Result:
    """Replications 0..reps-1, stacked in replication order; ``progress(1)`` after each.

    ``pipeline``: start every replication from these open deals (:mod:`kamsim.pipeline`).
    """
    _check_scenario(scenario)
    _check_int("reps", reps, 1, MAX_REPS)
    _check_int("seed", seed, 0, MAX_SEED)
    check_pipeline(pipeline, scenario)
    if progress is not None and not callable(progress):
        raise ValueError("progress: expected a callable taking the number of replications done")
    # Settings once per scenario, luck once per replication; drawn settings once per
    # replication only when the scenario has an uncertainty section.
    rules = None if scenario.uncertainty else Rules(scenario)
    results = []
    for r in range(reps):
        if rules is None:
            results.append(replicate_drawn(scenario, seed, r, pipeline))
        else:
            results.append(_replicate(rules, seed, r, pipeline))
        if progress is not None:
            progress(1)
    return concat_results(results)
