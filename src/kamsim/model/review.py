"""Pipeline review (异常现象): every ``every_days``, deals stalled in one pre-signing stage for
longer than ``stale_after_days`` are closed (exit ``stalled``) or rescued (a free executive
visits, giving the deal an executive relationship and restarting its stall clock). A review
aborts whatever a closed deal
was doing; a rescue visit holds an ``executives`` slot for its drawn duration.
"""

from __future__ import annotations

from typing import Protocol

import simpy

from kamsim.model.clock import Wake
from kamsim.model.deal import Deal
from kamsim.model.pools import PoolState
from kamsim.model.records import OPEN, RELEASED, Hold, Records
from kamsim.model.steps import EXECUTIVES, IMPLEMENTATION
from kamsim.policies import PipelineReview


class Rules(Protocol):
    @property
    def review(self) -> PipelineReview: ...


class World(Protocol):
    """What a review needs of the engine."""

    @property
    def rules(self) -> Rules: ...
    @property
    def env(self) -> simpy.Environment: ...
    @property
    def records(self) -> Records: ...
    @property
    def pools(self) -> list[PoolState[Deal]]: ...
    @property
    def live(self) -> dict[int, Deal]: ...
    def schedule(self, wake: Wake, delay: float) -> None: ...
    def exit(self, deal: Deal, reason: str, now: float) -> None: ...
    def release(self, pool: PoolState[Deal], now: float) -> None: ...
    def tie(self, deal: Deal, now: float) -> None: ...
    def deals_ahead(self) -> bool: ...


class Review:
    """The periodic review of one replication."""

    __slots__ = ("every", "rescues", "settings", "world")

    def __init__(self, world: World) -> None:
        self.world = world
        self.settings = world.rules.review
        every = self.settings.every_days
        assert every is not None, "a review exists only when scheduled"
        self.every = every
        self.rescues: dict[Wake, None] = {}
        """Rescue visits in progress, in the order they started."""

    def start(self) -> None:
        self.world.schedule(Wake(self._review), self.every)

    def _review(self, _: object) -> None:
        world = self.world
        now = world.env.now
        execs = world.pools[EXECUTIVES]
        stale = self.settings.stale_after_days
        for deal in list(world.live.values()):
            if deal.stage >= IMPLEMENTATION or now - deal.entered <= stale:
                continue
            if self.settings.action == "close":
                world.exit(deal, "stalled", now)
            elif not deal.rescued and execs.busy < execs.capacity:
                self._rescue(deal, now)
        if world.deals_ahead():
            world.schedule(Wake(self._review), self.every)

    def _rescue(self, deal: Deal, now: float) -> None:
        world = self.world
        execs = world.pools[EXECUTIVES]
        deal.rescued = True
        deal.executive = True
        deal.stall_from = now  # a rescued deal starts its stall clock again
        world.tie(deal, now)
        execs.busy += 1
        world.records.levels.append((now, execs.busy_series, execs.busy))
        visit = deal.draws.visit
        assert visit is not None, "visits are drawn whenever reviews rescue"
        rescue = Wake(self._rescue_end, (deal, deal.stage, now))
        self.rescues[rescue] = None
        world.schedule(rescue, visit[deal.k])

    def _rescue_end(self, event: Wake) -> None:
        del self.rescues[event]
        deal, stage, started = event.value
        world = self.world
        now = world.env.now
        world.records.holds.append((deal.id, stage, EXECUTIVES, started, started, now, RELEASED))
        world.release(world.pools[EXECUTIVES], now)

    def finish(self, holds: list[Hold]) -> None:
        """Rescue visits still running at the end are open holds."""
        for rescue in self.rescues:
            deal, stage, started = rescue.value
            holds.append((deal.id, stage, EXECUTIVES, started, started, float("nan"), OPEN))
