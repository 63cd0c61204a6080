"""Parameter uncertainty: scenario settings drawn once per replication.

A scenario's ``uncertainty`` section maps the dotted key of a numeric setting
(``"arrivals.rate_per_month"``, ``"stages.proposal.pass_probability"``,
``"grades.A.value.mean"``) to a distribution. Each replication draws every such setting once,
before it runs, and runs the scenario with the drawn values in place, so the spread across
replications carries what is not known about the parameters as well as the luck of the deals.
A per-grade table (a pass probability) takes one draw for every grade.

Each key's draw has its own stream, ``(seed, replication, "parameters.<key>")``
(:mod:`kamsim.rng`): the draws depend on nothing but the seed, the replication and the key, so
they are the same whatever the number of worker processes, and adding a key to the section
leaves the other keys' draws unchanged. The engine's streams are separate, so a scenario
whose section only holds fixed distributions at the point values runs exactly as one without
the section.

Keys are checked when the scenario is validated: the key must name a setting that is a real
number (or a per-grade table of them), and every value the distribution can draw must be one
the setting accepts. Rules tying settings together (shares summing to one) are checked on
each replication's drawn scenario: a draw that breaks one fails that replication.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
from pydantic import TypeAdapter, ValidationError

from kamsim.errors import dotted_location
from kamsim.limits import MAX_PARAMETER
from kamsim.overrides import apply_overrides, setting
from kamsim.rng import Streams
from kamsim.vocabulary import GRADES

if TYPE_CHECKING:
    from kamsim.distributions import Distribution, Support
    from kamsim.scenario import Scenario

PURPOSE = "parameters"
"""Stream purpose prefix of the draws: the key's stream is ``"parameters.<key>"``."""


def where(key: str) -> str:
    """How a problem names an entry of the section: ``uncertainty."arrivals.rate_per_month"``."""
    return f'uncertainty."{key}"'


def _number(value: Any) -> bool:
    return isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool))


def _probes(support: Support) -> list[float]:
    """Values at the ends of ``support`` that a setting must accept (an infinite end is
    probed at the largest parameter a scenario allows)."""
    out = []
    for end, inward, is_open in (
        (support.low, math.inf, support.low_open),
        (support.high, -math.inf, support.high_open),
    ):
        if math.isinf(end):
            out.append(math.copysign(MAX_PARAMETER, end))
        else:
            out.append(math.nextafter(end, inward) if is_open else end)
    return out


def problems(scenario: Scenario) -> list[str]:
    """One line per entry of ``scenario.uncertainty`` that cannot be drawn, each starting
    with the entry's name (:func:`where`)."""
    if not scenario.uncertainty:
        return []
    data = scenario.model_dump(mode="json", by_alias=True, exclude={"uncertainty"})
    out = []
    for key, dist in scenario.uncertainty.items():
        try:
            target = setting(data, key)
        except KeyError:
            out.append(f"{where(key)}: names no setting of this scenario")
            continue
        if isinstance(target, int) and _number(target):
            out.append(
                f"{where(key)}: the setting is a whole number; only real numbers can be drawn"
            )
            continue
        per_grade = isinstance(target, dict) and target and set(target) <= set(GRADES)
        if not (_number(target) or (per_grade and all(map(_number, target.values())))):
            out.append(f"{where(key)}: the setting is not a number")
            continue
        misfit = _misfit(type(scenario), data, key, dist)
        if misfit:
            out.append(
                f"{where(key)}: {dist.dist} draws values in {dist.support}, which the setting "
                f"does not accept ({misfit})"
            )
    return out


def _misfit(cls: type[Scenario], data: dict[str, Any], key: str, dist: Distribution) -> str:
    """Why ``key`` refuses a value at an end of ``dist``'s support ("" when it takes both).
    The probe validates the key's top-level section alone, so only the setting's own range
    counts, not the rules tying it to other sections (those are checked per draw). A
    parameter of a distribution (``grades.A.value.mean``) is refused where it takes the
    distribution's draws out of the field's range (``kamsim.validation.Range.check``), not
    where it only raises its mean above a limit."""
    section, parent = key.split(".", 1)[0], key.rpartition(".")[0]
    in_distribution = isinstance(setting(data, parent), dict) and "dist" in setting(data, parent)
    adapter = _section(cls, section)
    for value in _probes(dist.support):
        probe = apply_overrides({section: data[section]}, {key: value})
        try:
            adapter.validate_python(probe[section])
        except ValidationError as err:
            for e in err.errors(include_url=False):
                at = dotted_location((section, *e["loc"]))
                msg = str(e["msg"]).removeprefix("Value error, ")
                if at == key or at.startswith(f"{key}."):
                    return msg
                if in_distribution and at == parent and " draws values in " in msg:
                    return msg
    return ""


@cache
def _section(cls: type[Scenario], name: str) -> TypeAdapter[Any]:
    """The validator of one top-level section of the scenario."""
    info = cls.model_fields[name]
    kind: Any = info.annotation
    if info.metadata:
        kind = Annotated[(kind, *info.metadata)]
    return TypeAdapter(kind)


def draws(scenario: Scenario, seed: int, replication: int) -> dict[str, float]:
    """Replication ``replication``'s value of every key of ``scenario.uncertainty``."""
    streams = Streams(seed, replication)
    return {
        key: float(dist.sample(streams(f"{PURPOSE}.{key}"), 1)[0])
        for key, dist in scenario.uncertainty.items()
    }


def drawn_scenario(scenario: Scenario, seed: int, replication: int) -> Scenario:
    """The scenario replication ``replication`` runs: the drawn values in place and no
    uncertainty section."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude={"uncertainty"})
    return type(scenario).model_validate(apply_overrides(data, draws(scenario, seed, replication)))


def drawn_parameters(scenario: Scenario, seed: int, reps: int) -> pd.DataFrame:
    """The values replications 0..reps-1 of a run seeded with ``seed`` draw: one row per
    replication and key (columns ``replication``, ``parameter``, ``value``); empty when the
    scenario has no uncertainty section."""
    rows = [(r, key, value) for r in range(reps) for key, value in draws(scenario, seed, r).items()]
    return pd.DataFrame(rows, columns=["replication", "parameter", "value"])
