"""A pipeline already under way: deals open on the as-of date, placed in their stages.

The user's side is :mod:`kamsim.pipeline` (the value objects and what they mean); this is the
engine's. :class:`OpenDeals` draws every open deal's luck when the world is built and places
the deals when the run starts, on the as-of date (the environment's initial time):

- open deal i is row i of a :class:`~kamsim.model.draws.DealDraws` block drawn from the
  streams ``open.<purpose>`` (grades, when not given, from ``open.grade`` with the scenario's
  shares; the remaining work of the current stage from ``open.remaining``), so it changes no
  other draw and meets the same luck in every variant and on any worker;
- its id is ``OPEN_DEAL_ID_BASE + i``; ids at or above
  ``MAX_FOLLOW_ON_GENERATIONS * FOLLOW_ON_ID_STRIDE`` bring no follow-on leads;
- the rest of its current stage's work is the stage duration conditioned on the age
  (:func:`kamsim.distributions.conditional_remaining`), written into its row of the block,
  so the ``Work`` step reads it like any other duration (a stage is visited once);
- it resumes at the stage's ``Work`` step: with named account managers it first takes an
  account manager's slot (the ``Own`` step that opens development), queueing if none is free;
  the steps before the work (tender check, executive visit) count as done.

Deals are placed oldest in their stage first (ties in pipeline order), so when a pool is short
the longest-waiting deals hold it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kamsim.distributions import conditional_remaining
from kamsim.limits import OPEN_DEAL_ID_BASE
from kamsim.model.deal import Deal
from kamsim.model.decisions import shaping_chance
from kamsim.model.draws import DealDraws
from kamsim.model.steps import Step
from kamsim.model.steps.base import PROPOSAL, TENDER
from kamsim.model.steps.own import Own
from kamsim.model.steps.work import Work
from kamsim.pipeline import OpenPipeline
from kamsim.vocabulary import STAGES

if TYPE_CHECKING:
    from kamsim.model.engine import World


class OpenDeals:
    """The open deals of one replication: drawn when built, placed by :meth:`place`."""

    __slots__ = (
        "_account",
        "_age",
        "_draws",
        "_grade",
        "_order",
        "_owner",
        "_priced",
        "_stage",
        "world",
    )

    def __init__(self, world: World, pipeline: OpenPipeline) -> None:
        self.world = world
        rules, streams = world.rules, world.streams
        scenario = rules.scenario
        deals = pipeline.deals
        n = len(deals)
        keys = scenario.grade_keys
        shares = np.cumsum([scenario.grades[g].share for g in keys])
        shares[-1] = np.inf  # as for new leads: rounding never leaves a deal without a grade
        drawn = np.searchsorted(shares, streams("open.grade").uniform(size=n), side="right")
        grade = np.array(
            [drawn[i] if d.grade is None else keys.index(d.grade) for i, d in enumerate(deals)],
            dtype=np.int64,
        )
        known = np.array([np.nan if d.value is None else d.value for d in deals], dtype=float)
        draws = DealDraws.draw(rules, streams, n, "open.", grade, known)
        stage = [STAGES.index(d.stage) for d in deals]
        age = np.array([d.age for d in deals], dtype=float)
        u = streams("open.remaining").uniform(size=n)
        for s, key in enumerate(STAGES):
            rows = [i for i in range(n) if stage[i] == s]
            if rows:
                left = conditional_remaining(scenario.stages[key].duration, age[rows], u[rows])
                for i, t in zip(rows, left.tolist(), strict=True):
                    draws.duration[s][i] = t
        self._draws = draws
        self._grade = grade.tolist()
        self._stage = stage
        self._age = age.tolist()
        self._priced = [d.value is not None for d in deals]
        """Deals whose value was given: taken as it stands (after any price fight)."""
        self._account = _numbered(
            [(keys[g], d.account) for g, d in zip(self._grade, deals, strict=True)],
            [scenario.grades[keys[g]].accounts for g in self._grade],
            draws.account,
        )
        headcount = rules.account_managers
        self._owner = (
            _numbered([("", d.owner) for d in deals], [headcount] * n, [-1] * n)
            if rules.owner is not None and headcount
            else [-1] * n
        )
        self._order = sorted(range(n), key=lambda i: -self._age[i])

    def place(self, now: float) -> None:
        """Put every open deal in its stage at ``now`` (the as-of date)."""
        world = self.world
        rules = world.rules
        d = self._draws
        steps = rules.steps
        work = [next(i for i, st in enumerate(s) if isinstance(st, Work)) for s in steps]
        own: Step | None = None
        if rules.owner is not None:
            own = steps[0][0]
            assert isinstance(own, Own), "with ownership, development opens with the Own step"
        engage = rules.engage
        for i in self._order:
            s = self._stage[i]
            deal = Deal(
                OPEN_DEAL_ID_BASE + i,
                i,
                d,
                self._grade[i],
                self._account[i],
                d.value[i],
                d.margin[i],
                now,
            )
            world.relate(deal, now)
            if engage is not None and s >= engage:  # the visit opened this or an earlier stage
                deal.executive = True
                world.tie(deal, now)
            if s > PROPOSAL and d.shape_u is not None:
                deal.shaped = d.shape_u[i] < shaping_chance(rules, world.effects.shaping, deal, now)
            if (
                s > TENDER
                and not self._priced[i]
                and not deal.shaped
                and d.price_discount is not None
            ):
                deal.price_factor *= 1.0 - d.price_discount[i]
            entered = now - self._age[i]
            deal.arrived_at = entered
            if own is not None and self._owner[i] >= 0:
                world.prefer_owner(deal, self._owner[i])
            world.resume(deal, s, entered, work[s], own, now)


def _numbered(
    names: list[tuple[str, str | None]], sizes: list[int], otherwise: list[int]
) -> list[int]:
    """A number for each named item within its group, in order of first appearance modulo
    the group's size; ``otherwise[i]`` where the name is missing."""
    seen: dict[tuple[str, str], int] = {}
    counts: dict[str, int] = {}
    out = []
    for (group, name), size, fallback in zip(names, sizes, otherwise, strict=True):
        if name is None:
            out.append(int(fallback))
            continue
        key = (group, name)
        if key not in seen:
            seen[key] = counts.get(group, 0)
            counts[group] = seen[key] + 1
        out.append(seen[key] % size)
    return out
