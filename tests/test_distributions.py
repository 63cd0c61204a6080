"""Distributions: samples match their analytic mean and variance; readable reprs.

The oracle for each distribution is scipy.stats with the parameters its definition implies
(e.g. a lognormal given by mean m and cv c has sigma^2 = ln(1 + c^2), mu = ln m - sigma^2/2),
not kamsim's own ``mean``/``variance``; those properties are checked against it too.
Each distribution is built from the table a scenario file would hold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from helpers import assert_estimates
from pydantic import TypeAdapter
from scipy import stats

from kamsim.distributions import Distribution

BUILD = TypeAdapter(Distribution)
REPS = 20
SIZE = 100_000


def _pert(low: float, mode: float, high: float, lamb: float = 4.0) -> Any:
    a = 1 + lamb * (mode - low) / (high - low)
    b = 1 + lamb * (high - mode) / (high - low)
    return stats.beta(a, b, loc=low, scale=high - low)


def _lognormal(mean: float, cv: float) -> Any:
    s2 = math.log1p(cv * cv)
    return stats.lognorm(s=math.sqrt(s2), scale=math.exp(math.log(mean) - s2 / 2))


CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "exponential": ({"dist": "exponential", "mean": 30.0}, stats.expon(scale=30.0)),
    "lognormal": ({"dist": "lognormal", "mean": 45.0, "cv": 0.6}, _lognormal(45.0, 0.6)),
    "gamma": ({"dist": "gamma", "shape": 2.5, "scale": 4.0}, stats.gamma(2.5, scale=4.0)),
    "triangular": (
        {"dist": "triangular", "low": 7.0, "mode": 20.0, "high": 30.0},
        stats.triang(c=13 / 23, loc=7.0, scale=23.0),
    ),
    "pert": ({"dist": "pert", "low": 25.0, "mode": 30.0, "high": 50.0}, _pert(25.0, 30.0, 50.0)),
    "pert-lamb": (
        {"dist": "pert", "low": 0.0, "mode": 8.0, "high": 10.0, "lamb": 2.0},
        _pert(0.0, 8.0, 10.0, 2.0),
    ),
    "uniform": ({"dist": "uniform", "low": 5.0, "high": 15.0}, stats.uniform(5.0, 10.0)),
    "beta": ({"dist": "beta", "a": 2.5, "b": 4.0}, stats.beta(2.5, 4.0)),
    "empirical": (
        {"dist": "empirical", "values": [1.0, 2.0, 5.0], "weights": [0.5, 0.3, 0.2]},
        stats.rv_discrete(values=([1, 2, 5], [0.5, 0.3, 0.2])),
    ),
    "empirical-equal": (
        {"dist": "empirical", "values": [3.0, 4.0, 8.0, 9.0]},
        stats.rv_discrete(values=([3, 4, 8, 9], [0.25] * 4)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_analytic_moments_match_the_definition(case: str) -> None:
    spec, oracle = CASES[case]
    dist = BUILD.validate_python(spec)
    assert dist.mean == pytest.approx(oracle.mean(), rel=1e-12)
    assert dist.variance == pytest.approx(oracle.var(), rel=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_samples_match_mean_and_variance(case: str) -> None:
    spec, oracle = CASES[case]
    dist = BUILD.validate_python(spec)
    rng = np.random.default_rng(20240601)
    batches = [dist.sample(rng, SIZE) for _ in range(REPS)]
    assert all(b.shape == (SIZE,) for b in batches)
    assert_estimates([b.mean() for b in batches], oracle.mean(), f"{case} mean")
    assert_estimates([b.var(ddof=1) for b in batches], oracle.var(), f"{case} variance")
    low, high = oracle.support()
    assert all(low <= b.min() and b.max() <= high for b in batches)


def test_fixed_is_constant() -> None:
    dist = BUILD.validate_python({"dist": "fixed", "value": 3.5})
    draws = dist.sample(np.random.default_rng(1), 1000)
    assert (draws == 3.5).all()
    assert (dist.mean, dist.variance) == (3.5, 0.0)


def test_sampling_uses_only_the_given_generator() -> None:
    dist = BUILD.validate_python({"dist": "lognormal", "mean": 10.0, "cv": 0.5})
    a = dist.sample(np.random.default_rng(5), 50)
    np.random.seed(0)  # the global generator must not matter  # noqa: NPY002
    b = dist.sample(np.random.default_rng(5), 50)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, dist.sample(np.random.default_rng(6), 50))


@pytest.mark.parametrize("case", [*CASES, "fixed"])
def test_repr_is_readable(case: str) -> None:
    spec = CASES[case][0] if case in CASES else {"dist": "fixed", "value": 2.0}
    text = repr(BUILD.validate_python(spec))
    name = text.split("(", 1)[0]
    assert name.lower() == spec["dist"], text
    assert text.endswith(")")
    for key, value in spec.items():
        if key != "dist":
            assert f"{key}={value!r}" in text, (key, text)
    assert "mean_" not in text and "dist=" not in text and "\n" not in text
    assert str(BUILD.validate_python(spec)) == text


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "triangular", "low": 5.0, "mode": 1.0, "high": 9.0},
        {"dist": "uniform", "low": 5.0, "high": 1.0},
        {"dist": "exponential", "mean": 0.0},
        {"dist": "lognormal", "mean": 1.0, "cv": -1.0},
        {"dist": "gamma", "shape": 1.0, "scale": float("nan")},
        {"dist": "empirical", "values": [1.0, 2.0], "weights": [1.0]},
        {"dist": "empirical", "values": []},
        {"dist": "normal", "mean": 1.0},
        {"dist": "fixed", "value": 1.0, "extra": 2.0},
    ],
)
def test_invalid_parameters_are_rejected(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BUILD.validate_python(spec)
