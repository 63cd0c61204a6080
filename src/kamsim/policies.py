"""The levers management pulls, kept apart from the scenario's description of the world.

A scenario's ``[policy]`` table is validated into :class:`Policy`. Every lever's neutral value
reproduces the plain funnel, so switching one on is an explicit, visible choice.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Policy(BaseModel):
    """Policy levers (each documented below)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )
