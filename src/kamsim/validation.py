"""Shared building blocks of the scenario and policy schemas.

``Strict`` is the base of every table: unknown keys, NaN/inf and values of the wrong type are
errors (``"12"`` is not a number, ``true`` is not a count, ``2.5`` is not an integer), values
are frozen and field docstrings become JSON Schema descriptions.

A :class:`Range` is the one declaration of what a field allows. ``Range.number()`` is the
annotated float type for a plain value; ``Range.distribution()`` accepts a distribution only
where its support (declared by the distribution itself) fits the range, and, for ranges with a
scale limit, only where its mean stays below that limit. Each field names its range explicitly.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

from kamsim.distributions import Distribution, Support
from kamsim.limits import MAX_COMPETITORS, MAX_DAYS, MAX_MONEY
from kamsim.vocabulary import GRADES, GradeKey


@dataclass(frozen=True)
class Range:
    """The values a field allows, ends open or closed, and an optional limit on the mean."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    max_mean: float | None = None

    def __str__(self) -> str:
        return str(Support(self.low, self.high, self.low_open, self.high_open))

    def contains(self, s: Support) -> bool:
        """Whether every value of support ``s`` lies in this range."""
        low_ok = s.low > self.low or (s.low == self.low and (s.low_open or not self.low_open))
        high_ok = s.high < self.high or (
            s.high == self.high and (s.high_open or not self.high_open)
        )
        return low_ok and high_ok

    def bounds(self) -> Any:
        """Field bounds of a plain value in this range: ``Annotated[float, r.bounds()]``."""
        bounds: dict[str, float] = {}
        if math.isfinite(self.low):
            bounds["gt" if self.low_open else "ge"] = self.low
        if math.isfinite(self.high):
            bounds["lt" if self.high_open else "le"] = self.high
        if self.max_mean is not None:
            bounds["le"] = min(self.max_mean, bounds.get("le", math.inf))
        return Field(allow_inf_nan=False, **bounds)  # type: ignore[call-overload]

    def check(self, dist: Any) -> Any:
        support: Support = dist.support
        if not self.contains(support):
            raise ValueError(
                f"{dist.dist} draws values in {support}; this field needs values in {self}"
            )
        if self.max_mean is not None and dist.mean > self.max_mean:
            raise ValueError(f"mean {dist.mean:g} is above the limit of {self.max_mean:g}")
        return dist

    def fits(self) -> AfterValidator:
        """Accepts a distribution whose draws all lie in this range:
        ``Annotated[Distribution, r.fits()]``."""
        return AfterValidator(self.check)


PROBABILITY = Range(0.0, 1.0)
DAYS = Range(0.0, max_mean=MAX_DAYS)
"""Durations, delays and lags, in days."""
MONEY = Range(0.0, max_mean=MAX_MONEY)
"""Deal values and costs, in the scenario currency."""
MARGIN = Range(-1.0, 1.0, high_open=True)
"""Gross margin as a fraction of the price: below 1 (costs are never negative); a deal losing
more than its price is not a sales deal."""
MARGIN_BAR = Range(-1.0, 1.0)
"""A lowest acceptable margin (a policy bar)."""
DISCOUNT = Range(0.0, 1.0, high_open=True)
"""A discount on the price: 1 would give the project away."""
ODDS_RATIO = Range(0.0, low_open=True)
"""A multiplicative effect on the odds; 1 is no effect."""
RIVALS = Range(0.0, MAX_COMPETITORS)
"""Number of rival bidders."""

Probability = Annotated[float, PROBABILITY.bounds()]


Days = Annotated[Distribution, DAYS.fits()]
"""A distribution of durations, delays or lags in days."""


def _number_or_distribution(value: Any) -> str:
    return "distribution" if isinstance(value, dict | BaseModel) else "number"


OddsRatio = Annotated[
    Annotated[float, ODDS_RATIO.bounds(), Tag("number")]
    | Annotated[Distribution, ODDS_RATIO.fits(), Tag("distribution")],
    Discriminator(_number_or_distribution),
]
"""A multiplicative effect on the odds (1 = no effect). A distribution expresses an uncertain
effect size: it is drawn once per replication, so results carry that uncertainty."""


def _per_grade(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value <= 1:  # one message, not one per grade
            raise ValueError(f"probability {value} is outside [0, 1]")
        return dict.fromkeys(GRADES, value)
    return value


PerGrade = Annotated[
    dict[GradeKey, Probability],
    BeforeValidator(_per_grade, json_schema_input_type=Probability | dict[GradeKey, Probability]),
]
"""A probability by account grade: one number for every grade, or a table ``{ A = .., B = .. }``."""


def _date(value: Any) -> Any:
    if type(value) is dt.date:
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected a date, e.g. 2027-01-01")


Date = Annotated[dt.date, BeforeValidator(_date, json_schema_input_type=dt.date)]
"""A calendar date: a TOML date or ISO text (``2027-01-01``), nothing else."""


T = TypeVar("T")
Monthly = Annotated[list[T], Field(min_length=12, max_length=12)]
"""Twelve values, January to December."""


class Strict(BaseModel):
    """Base of every scenario table."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        strict=True,
        use_attribute_docstrings=True,
    )
