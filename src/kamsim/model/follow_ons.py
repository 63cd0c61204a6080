"""Repeat business (续单): an accepted project with an executive relationship (its own, or
its account's tie) may bring a follow-on lead from the same account, with the same grade.

Deal ids: new lead k (in arrival order) has id k; a follow-on lead's id is its parent's plus
``FOLLOW_ON_ID_STRIDE`` (10,000,000). So ``id // stride`` is a deal's generation and
``id % stride`` the new lead its chain started from; ids are unique but not dense, and
``repeat_of`` names the parent. Chains stop after ``MAX_FOLLOW_ON_GENERATIONS``, and a
replication refuses to start with as many new leads as the stride.

A follow-on's random inputs are row k of generation g's block (``draws.DrawBlock``), so they
depend on the chain alone, not on which other follow-ons happened or in what order: two
variants in which the same parent brings a follow-on give it the same id and the same luck.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import simpy

from kamsim.limits import FOLLOW_ON_ID_STRIDE, MAX_FOLLOW_ON_GENERATIONS
from kamsim.model.clock import Wake
from kamsim.model.deal import Deal
from kamsim.model.draws import DealDraws, DrawBlock
from kamsim.model.draws import Rules as DrawRules
from kamsim.model.records import Records
from kamsim.rng import Streams


class Rules(DrawRules, Protocol):
    @property
    def repeat_p(self) -> float: ...
    @property
    def arrivals_until(self) -> float: ...


class World(Protocol):
    """What follow-on leads need of the engine."""

    @property
    def rules(self) -> Rules: ...
    @property
    def streams(self) -> Streams: ...
    @property
    def records(self) -> Records: ...
    @property
    def env(self) -> simpy.Environment: ...
    def schedule(self, wake: Wake, delay: float) -> None: ...
    def start(self, deal: Deal, now: float) -> None: ...
    def tied(self, deal: Deal, now: float) -> bool: ...


class FollowOns:
    """The follow-on leads that the new leads (whose inputs are ``new_leads``) bring."""

    __slots__ = ("_generations", "new_leads", "pending", "world")

    def __init__(self, world: World, new_leads: DealDraws) -> None:
        n = len(new_leads.grade)
        if n >= FOLLOW_ON_ID_STRIDE:
            # Validation bounds expected leads far below this, so no validated scenario gets
            # here; the ids of follow-on leads would collide.
            raise ValueError(
                f"replication {world.records.replication} drew {n:,} new leads; deal ids "
                f"allow at most {FOLLOW_ON_ID_STRIDE - 1:,} (FOLLOW_ON_ID_STRIDE)"
            )
        self.world = world
        self.new_leads = new_leads
        self._generations: dict[int, DrawBlock] = {}
        self.pending = 0
        """Follow-on leads scheduled but not yet arrived."""

    def consider(self, deal: Deal, now: float) -> None:
        """An accepted project: schedule its follow-on lead if it brings one."""
        d = deal.draws
        rules = self.world.rules
        if (
            d.repeat_u is not None
            and d.repeat_delay is not None
            and (deal.executive or self.world.tied(deal, now))
            and d.repeat_u[deal.k] < rules.repeat_p
            and deal.id < MAX_FOLLOW_ON_GENERATIONS * FOLLOW_ON_ID_STRIDE
        ):
            delay = d.repeat_delay[deal.k]
            if now + delay <= rules.arrivals_until:
                self.pending += 1
                self.world.schedule(Wake(self._arrive, deal), delay)

    def _arrive(self, event: Wake) -> None:
        parent: Deal = event.value
        self.pending -= 1
        world = self.world
        deal_id = parent.id + FOLLOW_ON_ID_STRIDE
        g, k = divmod(deal_id, FOLLOW_ON_ID_STRIDE)
        block = self._generations.get(g)
        if block is None:
            block = self._generations[g] = DrawBlock(
                world.rules,
                world.streams,
                len(self.new_leads.grade),
                f"repeat.{g}.",
                np.asarray(self.new_leads.grade, dtype=np.int64),
            )
        d = block.row(k)
        now = world.env.now
        deal = Deal(deal_id, 0, d, parent.grade, parent.account, d.value[0], d.margin[0], now)
        deal.parent = parent.id
        world.start(deal, now)
