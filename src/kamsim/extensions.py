"""Steps defined outside kamsim: register one, then place it in a stage from a scenario.

An extension is a step class (a subclass of ``kamsim.model.steps.Step``: the pools it holds,
how long it takes, what it does at its end) plus a pydantic model of its parameters, derived
from :class:`ExtensionParams`. ``register("review", ReviewParams, Review)`` makes it known; a
scenario then places it with a table ``[extensions.review]`` holding ``stage = "approval"``
and the step's parameters. The step runs in that stage after the stage's own work and before
its pass decision. See ``docs/extending.md``.

This module holds only the registry, so the scenario schema can validate ``[extensions]``
without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kamsim.errors import problems_from_validation
from kamsim.validation import Strict
from kamsim.vocabulary import StageKey


class ExtensionParams(Strict):
    """Parameters every extension has: the stage its step runs in."""

    stage: StageKey
    """Stage whose visits run the step (after the stage's own work, before its decision)."""


@dataclass(frozen=True)
class Extension:
    """A registered extension: its parameter model and its step class."""

    name: str
    params: type[ExtensionParams]
    step: Any
    """The step class, called as ``step(rules, stage, params)``."""


REGISTRY: dict[str, Extension] = {}
"""Registered extensions by name."""


def register(name: str, params: type[ExtensionParams], step: Any) -> Extension:
    """Make the step ``step`` with parameters ``params`` available as ``[extensions.<name>]``.

    Registering a name again replaces it (convenient in a notebook).
    """
    if not name.isidentifier():
        raise ValueError(f"extension name {name!r} must be an identifier")
    if not (isinstance(params, type) and issubclass(params, ExtensionParams)):
        raise ValueError("params must be a subclass of kamsim.extensions.ExtensionParams")
    extension = Extension(name, params, step)
    REGISTRY[name] = extension
    return extension


def unregister(name: str) -> None:
    """Forget an extension (scenarios naming it no longer validate)."""
    REGISTRY.pop(name, None)


def validate_extensions(value: Any) -> Any:
    """Each ``[extensions.<name>]`` table validated by its registered parameter model."""
    if not isinstance(value, dict):
        return value  # the field's own type check reports it
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in value.items():
        extension = REGISTRY.get(name)
        if extension is None:
            known = ", ".join(sorted(REGISTRY)) or "none registered"
            problems.append(f"{name}: unknown extension (registered: {known})")
            continue
        if isinstance(raw, extension.params):
            out[name] = raw
            continue
        try:
            out[name] = extension.params.model_validate(raw)
        except ValidationError as err:
            problems.extend(f"{name}.{p.where}: {p.message}" for p in problems_from_validation(err))
    if problems:
        raise ValueError("\n".join(problems))
    return out
