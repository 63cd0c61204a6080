"""Shared building blocks of the scenario and policy schemas.

``Strict`` is the base of every table: unknown keys and NaN/inf are errors, values are frozen
and field docstrings become JSON Schema descriptions.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kamsim.distributions import Distribution

Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]

OddsRatio = Annotated[float, Field(gt=0, allow_inf_nan=False)] | Distribution
"""A multiplicative effect on the odds (1 = no effect). A distribution expresses an uncertain
effect size: it is drawn once per replication, so results carry that uncertainty."""


def _nonnegative(dist: Any) -> Any:
    if not nonnegative_support(dist):
        raise ValueError("must not be negative (every value it can draw must be >= 0)")
    return dist


NonNegativeDistribution = Annotated[Distribution, AfterValidator(_nonnegative)]
"""A distribution of durations, delays or amounts: it can never draw a negative value."""


class Strict(BaseModel):
    """Base of every scenario table."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


def nonnegative_support(dist: Any) -> bool:
    """Whether a distribution can only produce values >= 0."""
    low = getattr(dist, "low", None)
    if low is not None:
        return bool(low >= 0)
    values = getattr(dist, "values", None)
    if values is not None:
        return bool(min(values) >= 0)
    return True
