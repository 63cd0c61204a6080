"""The speed benchmark's models are correct (``benchmarks/``); nothing here is timed.

Both the hand-written SimPy reference (``benchmarks/bare_simpy.py``) and kamsim on
``benchmarks/toy.toml`` must reproduce the toy's closed form: a deal passes each of six stages
with probability 0.8, so it makes sum(0.8^k, k = 0..5) = 3.689 stage visits, signs with
probability 0.8^5 = 0.32768 and completes implementation with probability 0.8^6 = 0.262144.
"Agree" means within three half-widths of the 95% confidence interval over replications with
fixed seeds; a target 10% off must fail that check (negative control), so the check has power.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import kamsim
from kamsim.analysis import half_width
from kamsim.vocabulary import STAGES

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
REPS = 8
SEEDS = range(101, 101 + REPS)
K_HALF_WIDTHS = 3.0

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


def _agrees(values: tuple[float, ...], target: float) -> bool:
    x = np.asarray(values, dtype=float)
    return abs(float(x.mean()) - target) <= K_HALF_WIDTHS * half_width(x)


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
    values = _replications(model)[metric]
    target = CLOSED_FORM[metric]
    hw = half_width(np.asarray(values))
    assert _agrees(values, target), (
        f"{model} {metric}: mean {np.mean(values):.4f}, target {target:.4f}, "
        f"3 half-widths {K_HALF_WIDTHS * hw:.4f}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("factor", [0.9, 1.1])
@pytest.mark.parametrize("metric", sorted(CLOSED_FORM))
@pytest.mark.parametrize("model", MODELS)
def test_negative_control_target_ten_percent_off_fails(
    model: str, metric: str, factor: float
) -> None:
    assert not _agrees(_replications(model)[metric], factor * CLOSED_FORM[metric])


@pytest.mark.slow
def test_models_agree_with_each_other() -> None:
    bare, kam = _replications("bare"), _replications("kamsim")
    for metric in CLOSED_FORM:
        b, k = np.asarray(bare[metric]), np.asarray(kam[metric])
        limit = K_HALF_WIDTHS * float(np.hypot(half_width(b), half_width(k)))
        assert abs(float(b.mean() - k.mean())) <= limit, metric


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


KEYS = ["toy_bare_ms", "toy_kamsim_ms", "toy_ratio", "baseline_rep_s", "baseline_peak_mb"]


@pytest.mark.slow
def test_run_quick_prints_the_five_figures() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-len(KEYS) :]
    number = r"[0-9]+(\.[0-9]+)?"
    for key, line in zip(KEYS, last, strict=True):
        assert re.fullmatch(rf"{key}={number}", line), line
    values = {k: float(line.partition("=")[2]) for k, line in zip(KEYS, last, strict=True)}
    assert all(v > 0 for v in values.values())


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
