"""Probability distributions used for durations, deal values, margins and lags.

Each distribution is a small frozen pydantic model (so it validates itself inside a scenario
file) that is also a value object: ``sample(rng, n)`` draws a vectorised block from an explicit
``numpy.random.Generator``, and ``mean``/``variance`` are analytic, so tests and the analytic
check panel can compare simulated figures with closed forms. The ``dist`` field is the tag
that selects the class when a scenario file is read, e.g.
``duration = { dist = "lognormal", mean = 30, cv = 0.5 }``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

FloatArray = np.ndarray[tuple[int], np.dtype[np.float64]]

NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:  # pragma: no cover
        raise NotImplementedError

    @property
    def mean(self) -> float:  # pragma: no cover
        raise NotImplementedError

    @property
    def variance(self) -> float:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items() if k != "dist")
        return f"{type(self).__name__}({args})"

    __str__ = __repr__


class Fixed(_Dist):
    """Always the same value; makes deterministic, hand-checkable scenarios possible."""

    dist: Literal["fixed"] = "fixed"
    value: NonNeg
    """The constant value."""

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, self.value)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0


class Exponential(_Dist):
    """Memoryless durations; with Poisson arrivals it gives the M/M/c closed forms."""

    dist: Literal["exponential"] = "exponential"
    mean_: Positive = Field(alias="mean")
    """Mean of the distribution."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.exponential(self.mean_, n)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2


class Lognormal(_Dist):
    """Right-skewed positive values (deal sizes, stage durations), given by mean and cv."""

    dist: Literal["lognormal"] = "lognormal"
    mean_: Positive = Field(alias="mean")
    """Mean of the distribution (not of its logarithm)."""
    cv: Positive
    """Coefficient of variation: standard deviation / mean."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    def _params(self) -> tuple[float, float]:
        s2 = math.log1p(self.cv**2)
        return math.log(self.mean_) - s2 / 2, math.sqrt(s2)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        mu, sigma = self._params()
        return rng.lognormal(mu, sigma, n)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return (self.mean_ * self.cv) ** 2


class Gamma(_Dist):
    """Gamma by shape and scale; shape 1 is exponential, integer shapes are Erlang."""

    dist: Literal["gamma"] = "gamma"
    shape: Positive
    """Shape parameter k."""
    scale: Positive
    """Scale parameter theta; the mean is shape * scale."""

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.gamma(self.shape, self.scale, n)

    @property
    def mean(self) -> float:
        return self.shape * self.scale

    @property
    def variance(self) -> float:
        return self.shape * self.scale**2


class _Bounded(_Dist):
    low: float = Field(allow_inf_nan=False)
    """Lower bound."""
    high: float = Field(allow_inf_nan=False)
    """Upper bound."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")
        mode = getattr(self, "mode", None)
        if mode is not None and not self.low <= mode <= self.high:
            raise ValueError(f"mode ({mode}) must lie between low and high")
        return self


class Uniform(_Bounded):
    """Equal chance anywhere between low and high."""

    dist: Literal["uniform"] = "uniform"

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.uniform(self.low, self.high, n)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12


class Triangular(_Bounded):
    """Three-point estimate (low, most likely, high), as experts give it."""

    dist: Literal["triangular"] = "triangular"
    mode: float = Field(allow_inf_nan=False)
    """Most likely value."""

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        if self.high == self.low:
            return np.full(n, self.low)
        return rng.triangular(self.low, self.mode, self.high, n)

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    @property
    def variance(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18


class Pert(_Bounded):
    """PERT (beta) three-point estimate: smoother than triangular, weight ``lamb`` on the mode."""

    dist: Literal["pert"] = "pert"
    mode: float = Field(allow_inf_nan=False)
    """Most likely value."""
    lamb: Positive = 4.0
    """Weight of the mode (4 is the classic PERT)."""

    def _ab(self) -> tuple[float, float]:
        span = self.high - self.low
        a = 1 + self.lamb * (self.mode - self.low) / span
        b = 1 + self.lamb * (self.high - self.mode) / span
        return a, b

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        if self.high == self.low:
            return np.full(n, self.low)
        a, b = self._ab()
        return self.low + (self.high - self.low) * rng.beta(a, b, n)

    @property
    def mean(self) -> float:
        return (self.low + self.lamb * self.mode + self.high) / (self.lamb + 2)

    @property
    def variance(self) -> float:
        if self.high == self.low:
            return 0.0
        a, b = self._ab()
        return (self.high - self.low) ** 2 * a * b / ((a + b) ** 2 * (a + b + 1))


class Empirical(_Dist):
    """Resample observed values (e.g. from a CRM export) with equal or given weights."""

    dist: Literal["empirical"] = "empirical"
    values: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(min_length=1)
    """Observed values."""
    weights: list[NonNeg] | None = None
    """Optional relative weights, one per value."""

    @model_validator(mode="after")
    def _weights_match(self) -> Self:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must have one entry per value")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self

    def _p(self) -> FloatArray:
        if self.weights is None:
            return np.full(len(self.values), 1 / len(self.values))
        w = np.asarray(self.weights, dtype=float)
        return np.asarray(w / w.sum(), dtype=float)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.asarray(rng.choice(np.asarray(self.values, dtype=float), n, p=self._p()))

    @property
    def mean(self) -> float:
        return float(np.dot(self._p(), self.values))

    @property
    def variance(self) -> float:
        v = np.asarray(self.values, dtype=float)
        return float(np.dot(self._p(), (v - self.mean) ** 2))


Distribution = Annotated[
    Fixed | Exponential | Lognormal | Gamma | Triangular | Pert | Uniform | Empirical,
    Field(discriminator="dist"),
]
"""Any distribution, chosen in a scenario file by its ``dist`` tag."""

DISTRIBUTION_TAGS: frozenset[str] = frozenset(
    cls.model_fields["dist"].default
    for cls in (Fixed, Exponential, Lognormal, Gamma, Triangular, Pert, Uniform, Empirical)
)
"""The ``dist`` tags (pydantic adds them to error locations of a distribution's fields)."""


def fixed(value: float) -> Fixed:
    """Shorthand for a constant, used for schema defaults."""
    return Fixed(value=value)
