"""The speed benchmark's models are correct (``benchmarks/``); nothing here is timed.

Both the hand-written SimPy reference (``benchmarks/bare_simpy.py``) and kamsim on
``benchmarks/toy.toml`` must reproduce the toy's closed form: a deal passes each of six stages
with probability 0.8, so it makes sum(0.8^k, k = 0..5) = 3.689 stage visits, signs with
probability 0.8^5 = 0.32768 and completes implementation with probability 0.8^6 = 0.262144.
"Agree" is the suite's one rule (``helpers.assert_estimates``) over replications with fixed
seeds: within three 95% half-widths, and a target 10% off must fail (negative control). The two
models agree with each other by the same rule applied to their differences, replication by
replication (the models draw independently, so the differences are independent too).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from functools import cache
from types import ModuleType

import numpy as np
import pytest
from constants import ROOT, STAGES
from helpers import assert_estimates

import kamsim

BENCH = ROOT / "benchmarks"
REPS = 16
SEEDS = range(101, 101 + REPS)

CLOSED_FORM = {
    "visits_per_deal": sum(0.8**k for k in range(6)),
    "signed_share": 0.8**5,
    "completed_share": 0.8**6,
}


def _load(name: str) -> ModuleType:
    """A module of ``benchmarks/`` by file path (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@cache
def _modules() -> tuple[ModuleType, ModuleType]:
    return _load("bare_simpy"), _load("run")


@cache
def _replications(model: str) -> dict[str, tuple[float, ...]]:
    """Per-replication figures of one model (``bare`` or ``kamsim``) over the fixed seeds."""
    bare, run = _modules()
    if model == "bare":
        stats = [run.bare_stats(bare.run(seed)) for seed in SEEDS]
    else:
        toy = kamsim.load_scenario(BENCH / "toy.toml")
        stats = [run.kamsim_stats(kamsim.simulate(toy, seed=seed)) for seed in SEEDS]
    return {name: tuple(getattr(s, name) for s in stats) for name in CLOSED_FORM}


MODELS = ["bare", "kamsim"]


def test_closed_form_values() -> None:
    assert CLOSED_FORM["visits_per_deal"] == pytest.approx(3.68928)
    assert CLOSED_FORM["signed_share"] == pytest.approx(0.32768)
    assert CLOSED_FORM["completed_share"] == pytest.approx(0.262144)


def test_run_uses_the_closed_form() -> None:
    _, run = _modules()
    assert pytest.approx(CLOSED_FORM["visits_per_deal"]) == run.EXPECTED_VISITS
    assert pytest.approx(CLOSED_FORM["signed_share"]) == run.EXPECTED_SIGNED
    assert pytest.approx(CLOSED_FORM["completed_share"]) == run.EXPECTED_COMPLETED


def test_toy_scenario_is_the_toy() -> None:
    toy = kamsim.load_scenario(BENCH / "toy.toml")
    cal = toy.calendar
    assert cal.drain
    assert cal.horizon_days == pytest.approx(1095.0)
    assert cal.arrivals_until_days == pytest.approx(1095.0)
    assert toy.arrivals.rate_per_month * 12 == pytest.approx(2000.0)
    assert toy.arrivals.seasonality is None
    assert not toy.resources.account_managers.ownership
    assert list(toy.grades) == ["A"]
    pools = {s: (toy.stages[s].pools, toy.stages[s].duration.mean) for s in STAGES}
    assert pools == {
        "development": (["account_managers"], 0.5),
        "approval": (["account_managers"], 0.5),
        "proposal": (["presales"], 0.6),
        "tender": (["presales"], 0.5),
        "negotiation": (["account_managers"], 0.8),
        "implementation": (["delivery"], 1.5),
    }
    caps = {p: toy.resources[p].capacity for p in ("account_managers", "presales", "delivery")}
    assert caps == {"account_managers": 10, "presales": 5, "delivery": 4}
    assert all(toy.stages[s].pass_for("A") == 0.8 for s in STAGES)


@pytest.mark.slow
@pytest.mark.parametrize("metric", sorted(CLOSED_FORM))
@pytest.mark.parametrize("model", MODELS)
def test_model_matches_closed_form(model: str, metric: str) -> None:
    assert_estimates(_replications(model)[metric], CLOSED_FORM[metric], f"{model} {metric}")


@pytest.mark.slow
@pytest.mark.parametrize("metric", sorted(CLOSED_FORM))
def test_models_agree_with_each_other(metric: str) -> None:
    bare = np.asarray(_replications("bare")[metric])
    kam = np.asarray(_replications("kamsim")[metric])
    assert_estimates(bare - kam, 0.0, f"bare - kamsim {metric}", scale=CLOSED_FORM[metric])


def test_every_toy_deal_leaves() -> None:
    """``drain = true``: kamsim leaves no deal open, bare SimPy counts every deal it starts."""
    _, run = _modules()
    toy = kamsim.load_scenario(BENCH / "toy.toml")
    result = run.run_kamsim(toy, 7)
    assert not (result.deals["outcome"] == "open").any()
    assert result.events["ended_at"].notna().all()


@pytest.mark.slow  # reads the replications the statistical checks draw
def test_bare_simpy_is_deterministic_per_seed() -> None:
    bare, run = _modules()
    again = run.bare_stats(bare.run(SEEDS[0]))
    assert again.visits_per_deal == _replications("bare")["visits_per_deal"][0]
    assert again.signed_share == _replications("bare")["signed_share"][0]


KEYS = [
    "toy_bare_ms",
    "toy_kamsim_ms",
    "toy_ratio",
    "baseline_rep_s",
    "baseline_peak_mb",
    "cli_help_s",
    "parallel_speedup",
]
QUICK_KEYS = KEYS[:-1]
"""``--quick`` leaves out the parallel speed-up (it runs 100 toy replications twice)."""


@pytest.mark.slow
def test_run_quick_prints_its_figures() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-len(QUICK_KEYS) :]
    number = r"[0-9]+(\.[0-9]+)?"
    for key, line in zip(QUICK_KEYS, last, strict=True):
        assert re.fullmatch(rf"{key}={number}", line), line
    values = {k: float(line.partition("=")[2]) for k, line in zip(QUICK_KEYS, last, strict=True)}
    assert all(v > 0 for v in values.values())
    assert "parallel_speedup" not in proc.stdout


def test_cli_help_is_timed_in_a_new_process() -> None:
    _, run = _modules()
    seconds = run.cli_help_seconds(1)
    assert 0 < seconds < 60


def test_parallel_replications_give_the_serial_kpis() -> None:
    """The speed-up compares like with like: workers reproduce the serial replications."""
    _, run = _modules()
    serial_s, parallel_s = run.parallel_speedup(BENCH / "toy.toml", 2, 2)
    assert serial_s > 0 and parallel_s > 0


def test_agreement_checks_catch_a_wrong_expectation(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run.py`` exits 1 on a failed check; a target 10% off must make a check fail."""
    _, run = _modules()
    good = [
        run.ToyStats(6000, 3.69, 0.328, 0.262),
        run.ToyStats(6000, 3.68, 0.327, 0.262),
        run.ToyStats(6000, 3.70, 0.329, 0.263),
    ]
    assert all(c.ok for c in run.agreement_checks(good, good, 0.99))
    monkeypatch.setattr(run, "EXPECTED_VISITS", 1.1 * run.EXPECTED_VISITS)
    assert not all(c.ok for c in run.agreement_checks(good, good, 0.99))
