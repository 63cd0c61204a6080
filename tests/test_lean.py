"""Per-replication costs stay small: a finished world is freed at once, random streams are
cheap to build yet numpy's own, the KPI tables come from one record array, and the command
line starts without the numerical stack."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy
from constants import BASELINE, SCENARIOS

import kamsim
import kamsim.model.engine as engine
from kamsim import results
from kamsim.gcpause import paused_gc
from kamsim.model import Rules
from kamsim.model.clock import NORMAL, Wake, discard_pending, scheduler
from kamsim.rng import Streams, stream

SRC = Path(kamsim.__file__).resolve().parents[1]


# -- a finished replication is freed at once ------------------------------------------------


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The cyclic garbage collector off: only reference counting frees anything."""
    gc.collect()
    with paused_gc():
        yield


@pytest.fixture
def worlds(monkeypatch: pytest.MonkeyPatch) -> list[weakref.ref[engine.World]]:
    """Weak references to every world the engine builds from now on."""
    refs: list[weakref.ref[engine.World]] = []

    class Watched(engine.World):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            refs.append(weakref.ref(self))

    monkeypatch.setattr(engine, "World", Watched)
    return refs


# Every mechanism that leaves timers on SimPy's heap at the end: patience clocks (baseline),
# pipeline reviews, follow-on leads, priority queues and work-in-progress caps.
FREED = ["baseline.toml", "pipeline-review.toml", "wip-cap.toml", "exec-early.toml"]


@pytest.mark.parametrize("name", FREED)
def test_run_replication_frees_its_world(name: str, no_collector: None) -> None:
    scenario = kamsim.load_scenario(SCENARIOS / name, ["calendar.horizon_months=24"])
    world = engine.World(Rules(scenario), 3, 1)
    ref = weakref.ref(world)
    records = world.run()
    del world
    assert ref() is None, "the world outlived its run (a reference cycle holds it)"
    assert records.deals.deal_id  # the records stay the caller's


def test_simulate_frees_its_world(
    baseline: kamsim.Scenario, no_collector: None, worlds: list[weakref.ref[engine.World]]
) -> None:
    result = kamsim.simulate(baseline, seed=2, replication=0)
    assert len(worlds) == 1
    assert worlds[0]() is None
    assert len(result.deals) > 0


def test_run_keeps_one_world_at_a_time(
    no_collector: None, worlds: list[weakref.ref[engine.World]]
) -> None:
    short = kamsim.load_scenario(BASELINE, ["calendar.horizon_months=18"])
    alive: list[int] = []
    kamsim.run(
        short, reps=4, seed=1, progress=lambda _: alive.append(sum(r() is not None for r in worlds))
    )
    assert len(worlds) == 4
    assert alive == [0, 0, 0, 0]


def test_a_replication_leaves_almost_nothing_to_the_collector(
    baseline: kamsim.Scenario, no_collector: None
) -> None:
    """Before, a baseline replication left some 30,000 objects (its deals, records and timers)
    in cycles; now only the few of SimPy's environment and the per-call rules remain."""
    kamsim.simulate(baseline, seed=2, replication=1)
    assert gc.collect() < 1_000


def test_discard_pending_empties_the_heap() -> None:
    env = simpy.Environment()
    fired: list[object] = []
    schedule = scheduler(env)
    for delay in (1.0, 2.0, 3.0):
        schedule(Wake(fired.append), NORMAL, delay)
    env.run(until=1.5)
    discard_pending(env)
    assert env.peek() == float("inf")
    env.run()
    assert len(fired) == 1


# -- random streams: cheaper to build, bit for bit numpy's ----------------------------------

SEEDS = [0, 1, 7, 2**32 - 1, 2**32, 2**63 - 1, 3**90]  # 3**90: more words than the pool
REPLICATIONS = [0, 1, 29, 2**32 + 5, 2**63 - 1]
PURPOSES = ["arrivals", "duration.tender", "repeat.3.pass.approval", "", "价格"]


@pytest.mark.parametrize("seed", SEEDS)
def test_streams_match_numpys_seed_sequence(seed: int) -> None:
    for replication in REPLICATIONS:
        streams = Streams(seed, replication)
        for purpose in PURPOSES:
            fast, reference = streams(purpose), stream(seed, replication, purpose)
            assert fast.bit_generator.state == reference.bit_generator.state
            assert np.array_equal(fast.random(3), reference.random(3))
            assert np.array_equal(fast.integers(0, 10**9, 3), reference.integers(0, 10**9, 3))


def test_streams_match_on_random_keys() -> None:
    keys = np.random.default_rng(20240601)
    for _ in range(300):
        seed = int(keys.integers(0, 2**63)) >> int(keys.integers(0, 63))
        replication = int(keys.integers(0, 2**63)) >> int(keys.integers(0, 63))
        purpose = f"p.{int(keys.integers(0, 10**6))}"
        fast = Streams(seed, replication)(purpose)
        assert fast.bit_generator.state == stream(seed, replication, purpose).bit_generator.state


def test_each_call_is_a_fresh_stream() -> None:
    streams = Streams(5, 2)
    first = streams("arrivals").random(4)
    assert np.array_equal(streams("arrivals").random(4), first)


@pytest.mark.parametrize(("seed", "replication"), [(-1, 0), (0, -1)])
def test_negative_keys_are_refused(seed: int, replication: int) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Streams(seed, replication)("arrivals")


# -- the KPI tables ------------------------------------------------------------------------


def _kpi_table_by_dict(
    facts: Any, edges: np.ndarray[Any, Any], columns: tuple[str, ...], **keys: Any
) -> pd.DataFrame:
    """The KPI table as it was built before (a DataFrame from a dict of columns)."""
    n = len(edges) - 1
    values = results._kpis(facts, edges)
    integer = {k.name for k in kamsim.kpis.KPIS.values() if k.integer}
    data = {
        "replication": np.full(n, facts.rec.replication, dtype=np.int64),
        "seed": np.full(n, facts.rec.seed, dtype=np.int64),
        **keys,
        **{k: np.asarray(v, dtype=np.int64 if k in integer else float) for k, v in values.items()},
    }
    return pd.DataFrame(data, columns=list(columns))


@pytest.mark.parametrize("name", ["baseline.toml", "wip-cap.toml"])
def test_kpi_tables_equal_the_dict_built_ones(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = kamsim.load_scenario(SCENARIOS / name)
    new = kamsim.simulate(scenario, seed=4, replication=2)
    monkeypatch.setattr(results, "_kpi_table", _kpi_table_by_dict)
    old = kamsim.simulate(scenario, seed=4, replication=2)
    for table in ("kpis", "kpis_by_year"):
        pd.testing.assert_frame_equal(getattr(new, table), getattr(old, table), check_exact=True)


def test_a_kpi_table_needs_every_column(baseline: kamsim.Scenario) -> None:
    rec = engine.run_replication(Rules(baseline), 1, 0)
    built = results.build_result(rec)
    assert list(built.kpis.columns) == list(results.KPI_COLUMNS)
    assert list(built.kpis_by_year.columns) == list(results.KPIS_BY_YEAR_COLUMNS)
    with pytest.raises(TypeError, match="columns"):  # the year is missing
        results._kpi_table(_facts_of(rec), np.array([0.0, rec.span]), results.KPIS_BY_YEAR_COLUMNS)


def _facts_of(rec: Any) -> Any:
    _, visits, holds = results._events(rec)
    deals = results._deals(rec, holds)
    _, kinds, times, amounts = results._flat(rec.money, 4)
    money = (kinds, times, amounts)
    levels = results._Levels(rec.levels)
    ts = results._timeseries(rec, money, levels)
    return results._Facts.of(rec, deals, visits, holds, money, levels, ts)


# -- a quick command line ------------------------------------------------------------------

HEAVY = ("numpy", "pandas", "scipy", "simpy", "pydantic")


def _imported_after(code: str) -> list[str]:
    """Which of the heavy modules a fresh interpreter has imported after ``code``."""
    probe = f"{code}\nimport sys\nprint('heavy:', *(m for m in {HEAVY!r} if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    last = proc.stdout.splitlines()[-1].split()
    assert last[0] == "heavy:", proc.stdout
    return last[1:]


def test_importing_kamsim_imports_nothing_heavy() -> None:
    assert _imported_after("import kamsim") == []


def test_the_command_line_is_built_without_the_numerical_stack() -> None:
    code = "import kamsim.cli\nfrom typer.main import get_command\nget_command(kamsim.cli.app)"
    assert _imported_after(code) == []


def test_kamsim_help_imports_nothing_heavy() -> None:
    code = (
        "from kamsim.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code"
    )
    assert _imported_after(code) == []


def test_the_public_names_load_on_first_use() -> None:
    code = "import kamsim\nkamsim.simulate\nkamsim.Scenario"
    assert set(_imported_after(code)) >= {"numpy", "pandas", "simpy"}
    assert set(kamsim.__all__) <= set(dir(kamsim))
    for name in kamsim.__all__:
        assert getattr(kamsim, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        kamsim.no_such_name  # type: ignore[attr-defined]  # noqa: B018
