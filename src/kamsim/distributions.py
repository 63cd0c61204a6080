"""Probability distributions used for durations, deal values, margins and lags.

Each distribution is a small frozen pydantic model (so it validates itself inside a scenario
file) that is also a value object: ``sample(rng, n)`` draws a vectorised block from an explicit
``numpy.random.Generator``, and ``mean``/``variance`` are analytic, so tests and the analytic
check panel can compare simulated figures with closed forms. The ``dist`` field is the tag
that selects the class when a scenario file is read, e.g.
``duration = { dist = "lognormal", mean = 30, cv = 0.5 }``.

Each distribution declares its :class:`Support`, the set of values it can draw, with open or
closed ends: fixed and empirical from their values, uniform, triangular and pert from
low/high, lognormal and gamma (0, inf), exponential [0, inf), beta [0, 1]. A scenario field
accepts a distribution only where that support fits the field's range
(``kamsim.validation.Range``), so a field's bounds follow from the distribution itself, never
from its name. Every parameter is
finite and at most ``MAX_PARAMETER`` in magnitude, and spreads are at most ``MAX_CV``, so means,
variances and draws stay finite.

:func:`conditional_remaining` is the time left of a duration already under way: a deal that has
spent ``age`` days in a stage has the rest of the stage drawn from P(T > age + t | T > age),
each kind by its own exact method (see the function).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kamsim.limits import MAX_CV, MAX_PARAMETER

FloatArray = np.ndarray[tuple[int], np.dtype[np.float64]]

Param = Annotated[float, Field(ge=-MAX_PARAMETER, le=MAX_PARAMETER, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, le=MAX_PARAMETER, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, le=MAX_PARAMETER, allow_inf_nan=False)]


@dataclass(frozen=True, slots=True)
class Support:
    """The values a distribution can draw: from ``low`` to ``high``, each end open or closed."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __str__(self) -> str:
        left = "(" if self.low_open or math.isinf(self.low) else "["
        right = ")" if self.high_open or math.isinf(self.high) else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"


POSITIVE = Support(0.0, math.inf, low_open=True, high_open=True)
NON_NEGATIVE = Support(0.0, math.inf, high_open=True)


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    @property
    def support(self) -> Support:  # pragma: no cover
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:  # pragma: no cover
        raise NotImplementedError

    @property
    def mean(self) -> float:  # pragma: no cover
        raise NotImplementedError

    @property
    def variance(self) -> float:  # pragma: no cover
        raise NotImplementedError

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:  # pragma: no cover
        """Time left, given ``age`` already spent, at uniform ``u`` (see
        :func:`conditional_remaining`, which checks the arguments and calls this)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items() if k != "dist")
        return f"{type(self).__name__}({args})"

    __str__ = __repr__


class Fixed(_Dist):
    """Always the same value; makes deterministic, hand-checkable scenarios possible."""

    dist: Literal["fixed"] = "fixed"
    value: Param
    """The constant value."""

    @property
    def support(self) -> Support:
        return Support(self.value, self.value)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, self.value)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        return np.maximum(self.value - age, 0.0)


class Exponential(_Dist):
    """Memoryless durations; with Poisson arrivals it gives the M/M/c closed forms."""

    dist: Literal["exponential"] = "exponential"
    mean_: Positive = Field(alias="mean")
    """Mean of the distribution."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    @property
    def support(self) -> Support:
        return NON_NEGATIVE

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.exponential(self.mean_, n)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        # Memoryless: the time left does not depend on the age.
        return np.asarray(-self.mean_ * np.log1p(-u), dtype=float)


class Lognormal(_Dist):
    """Right-skewed positive values (deal sizes, stage durations), given by mean and cv."""

    dist: Literal["lognormal"] = "lognormal"
    mean_: Positive = Field(alias="mean")
    """Mean of the distribution (not of its logarithm)."""
    cv: Annotated[float, Field(gt=0, le=MAX_CV, allow_inf_nan=False)]
    """Coefficient of variation: standard deviation / mean (at most 100)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    @property
    def support(self) -> Support:
        return POSITIVE

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

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        from scipy.special import ndtr, ndtri

        mu, sigma = self._params()
        with np.errstate(divide="ignore"):
            z = (np.log(age) - mu) / sigma  # age 0: -inf, survival 1
        survival = ndtr(-z)
        return _from_survival(age, (1.0 - u) * survival, lambda q: np.exp(mu - sigma * ndtri(q)))


class Gamma(_Dist):
    """Gamma by shape and scale; shape 1 is exponential, integer shapes are Erlang."""

    dist: Literal["gamma"] = "gamma"
    shape: Annotated[float, Field(ge=1 / MAX_CV**2, le=MAX_PARAMETER, allow_inf_nan=False)]
    """Shape parameter k (at least 1e-4: the coefficient of variation is 1 / sqrt(k))."""
    scale: Positive
    """Scale parameter theta; the mean is shape * scale."""

    @property
    def support(self) -> Support:
        return POSITIVE

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.gamma(self.shape, self.scale, n)

    @property
    def mean(self) -> float:
        return self.shape * self.scale

    @property
    def variance(self) -> float:
        return self.shape * self.scale**2

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        from scipy.special import gammaincc, gammainccinv

        k, theta = self.shape, self.scale
        survival = gammaincc(k, age / theta)
        return _from_survival(age, (1.0 - u) * survival, lambda q: theta * gammainccinv(k, q))


class _Bounded(_Dist):
    low: Param
    """Lower bound."""
    high: Param
    """Upper bound."""

    @property
    def support(self) -> Support:
        return Support(self.low, self.high)

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

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        lo, hi = self.low, self.high
        if hi == lo:
            return np.maximum(lo - age, 0.0)
        survival = np.clip((hi - age) / (hi - lo), 0.0, 1.0)
        return _from_survival(age, (1.0 - u) * survival, lambda q: hi - q * (hi - lo))


class Triangular(_Bounded):
    """Three-point estimate (low, most likely, high), as experts give it."""

    dist: Literal["triangular"] = "triangular"
    mode: Param
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

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        a, c, b = self.low, self.mode, self.high
        if b == a:
            return np.maximum(a - age, 0.0)
        x = np.clip(age, a, b)
        upper = (c - a) / (b - a)  # F(mode)
        with np.errstate(divide="ignore", invalid="ignore"):
            survival = np.where(
                x <= c,
                1.0 - (x - a) ** 2 / ((b - a) * (c - a)),
                (b - x) ** 2 / ((b - a) * (b - c)),
            )
        survival = np.where(x <= a, 1.0, survival)

        def isf(q: FloatArray) -> FloatArray:
            # Above the mode the survival is (b - x)^2 / ((b - a)(b - c)); below it the CDF is
            # (x - a)^2 / ((b - a)(c - a)).
            return np.where(
                q <= 1.0 - upper,
                b - np.sqrt(q * (b - a) * (b - c)),
                a + np.sqrt(np.maximum(1.0 - q, 0.0) * (b - a) * (c - a)),
            )

        return _from_survival(age, (1.0 - u) * survival, isf)


class Pert(_Bounded):
    """PERT (beta) three-point estimate: smoother than triangular, weight ``lamb`` on the mode."""

    dist: Literal["pert"] = "pert"
    mode: Param
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

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        lo, hi = self.low, self.high
        if hi == lo:
            return np.maximum(lo - age, 0.0)
        a, b = self._ab()
        return _beta_remaining(a, b, lo, hi - lo, age, u)


class Beta(_Dist):
    """A proportion between 0 and 1 (a probability whose value is uncertain), by its two
    shape parameters: the mean is a / (a + b), and a + b acts as a number of observations."""

    dist: Literal["beta"] = "beta"
    a: Annotated[float, Field(ge=1 / MAX_CV**2, le=MAX_PARAMETER, allow_inf_nan=False)]
    """First shape parameter (at least 1e-4), the weight of 1."""
    b: Annotated[float, Field(ge=1 / MAX_CV**2, le=MAX_PARAMETER, allow_inf_nan=False)]
    """Second shape parameter (at least 1e-4), the weight of 0."""

    @property
    def support(self) -> Support:
        # Closed: with small shapes, draws round to exactly 0 or 1.
        return Support(0.0, 1.0)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.beta(self.a, self.b, n)

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    @property
    def variance(self) -> float:
        total = self.a + self.b
        return self.a * self.b / (total**2 * (total + 1))

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        return _beta_remaining(self.a, self.b, 0.0, 1.0, age, u)


def _beta_remaining(
    a: float, b: float, low: float, span: float, age: FloatArray, u: FloatArray
) -> FloatArray:
    """Time left of ``low + span * X``, X ~ Beta(a, b), given ``age`` already spent."""
    from scipy.special import betainc, betaincinv

    # P(T > x) = 1 - I_z(a, b) = I_{1 - z}(b, a), z = (x - low) / span: the upper tail
    # without cancellation.
    z = np.clip((age - low) / span, 0.0, 1.0)
    survival = betainc(b, a, 1.0 - z)
    return _from_survival(
        age, (1.0 - u) * survival, lambda q: low + span * (1.0 - betaincinv(b, a, q))
    )


class Empirical(_Dist):
    """Resample observed values (e.g. from a CRM export) with equal or given weights."""

    dist: Literal["empirical"] = "empirical"
    values: list[Param] = Field(min_length=1)
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

    @property
    def support(self) -> Support:
        return Support(min(self.values), max(self.values))

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

    def remaining(self, age: FloatArray, u: FloatArray) -> FloatArray:
        order = np.argsort(np.asarray(self.values, dtype=float), kind="stable")
        values = np.asarray(self.values, dtype=float)[order]
        p = self._p()[order]
        before = np.concatenate(([0.0], np.cumsum(p)))  # weight below each sorted value
        above = np.concatenate((np.cumsum(p[::-1])[::-1], [0.0]))  # weight from it upward
        # The values above the age (every value at age 0: a deal that has just entered may
        # pass at once), resampled with their weights.
        first = np.where(age > 0, np.searchsorted(values, age, side="right"), 0)
        mass = above[first]
        target = before[first] + u * mass
        pick = np.searchsorted(before[1:], target, side="right")
        pick = np.clip(np.maximum(pick, first), 0, len(values) - 1)
        return np.where(mass > 0, np.maximum(values[pick] - age, 0.0), 0.0)


def _from_survival(
    age: FloatArray, q: FloatArray, isf: Callable[[FloatArray], FloatArray]
) -> FloatArray:
    """The time left: the value ``x`` with P(T > x) = ``q`` (``isf``, the inverse survival
    function), less the age. Where the survival at the age is 0 (an age beyond all the
    distribution's mass, or so far in its tail that it underflows), the work ends at once."""
    ok = q > 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = isf(np.where(ok, q, 1.0))
    return np.where(ok, np.maximum(np.asarray(x, dtype=float) - age, 0.0), 0.0)


Distribution = Annotated[
    Fixed | Exponential | Lognormal | Gamma | Triangular | Pert | Uniform | Empirical | Beta,
    Field(discriminator="dist"),
]
"""Any distribution, chosen in a scenario file by its ``dist`` tag."""

DISTRIBUTION_TAGS: frozenset[str] = frozenset(
    cls.model_fields["dist"].default
    for cls in (Fixed, Exponential, Lognormal, Gamma, Triangular, Pert, Uniform, Empirical, Beta)
)
"""The ``dist`` tags (pydantic adds them to error locations of a distribution's fields)."""


def conditional_remaining(
    dist: Fixed | Exponential | Lognormal | Gamma | Triangular | Pert | Uniform | Empirical | Beta,
    age: float | FloatArray,
    u: float | FloatArray,
) -> FloatArray:
    """The time left of a duration ``T ~ dist`` that has already lasted ``age``: the value
    ``t >= 0`` with P(T > age + t | T > age) = 1 - ``u``, for ``u`` uniform on [0, 1), so a
    uniform ``u`` gives a draw of the remaining time. ``age`` and ``u`` broadcast; the result
    is an array of days.

    The method is inversion on the survival function S: ``age + t`` is where
    S = (1 - u) S(age), exact for every kind:

    - ``fixed``: ``max(value - age, 0)`` (no luck involved);
    - ``exponential``: memoryless, ``-mean log(1 - u)`` whatever the age;
    - ``lognormal``: S(x) = Phi(-(ln x - mu) / sigma), inverted with ``scipy.special.ndtri``;
    - ``gamma``: S(x) = Q(shape, x / scale), the regularised upper incomplete gamma function,
      inverted with ``scipy.special.gammainccinv``;
    - ``uniform``, ``triangular``: closed forms of S and its inverse;
    - ``pert``, ``beta``: the (scaled) beta's S(x) = I_(1 - z)(b, a), inverted with
      ``scipy.special.betaincinv``;
    - ``empirical``: resampling, with their weights, the values above the age (every value
      when the age is 0).

    Working on S rather than on the CDF (``F(age) + u (1 - F(age))``, the same thing in exact
    arithmetic) keeps the tail's precision: a deal far beyond the usual duration still gets a
    sensible remaining time. An age past all of the distribution's mass (a fixed or bounded
    duration already exceeded, or a survival that underflows to 0) leaves no time: 0.
    """
    a = np.asarray(age, dtype=float)
    v = np.asarray(u, dtype=float)
    if not (np.isfinite(a).all() and (a >= 0).all()):
        raise ValueError("age: expected finite days >= 0")
    if not ((v >= 0).all() and (v < 1).all()):
        raise ValueError("u: expected uniforms in [0, 1)")
    a, v = np.broadcast_arrays(a, v)
    return np.asarray(dist.remaining(a, v), dtype=float)


def fixed(value: float) -> Fixed:
    """Shorthand for a constant, used for schema defaults."""
    return Fixed(value=value)
