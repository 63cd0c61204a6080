"""A stage's own work, holding its pools, at the stage's pace by month of quarter; negotiation
paced by period ends too; implementation with change orders and the delivery milestone."""

from __future__ import annotations

from typing import Any

from kamsim.model.deal import Deal
from kamsim.model.steps.base import DELIVERY, SIGNING, Loop, Rules, Step


class Work(Step):
    name = "work"
    __slots__ = ("warp",)

    def __init__(self, rules: Rules, stage: int, params: Any = None) -> None:
        super().__init__(rules, stage, params)
        self.warp = rules.stage_warp[stage]
        """The stage's pace by month of quarter (None: normal pace, no walk)."""

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return True

    def holds(self) -> tuple[int, ...]:
        return self.rules.work_pools[self.stage]

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        """The deal's work in the stage, stretched or squeezed by the month-of-quarter pace."""
        deal.started = now
        work = deal.draws.duration[self.stage][deal.k]
        return work if self.warp is None else self.warp.at(now, work) - now


class Negotiation(Work):
    """Closing work, paced by period ends (and by month of quarter: ``stage_warp`` composes
    both); a close inside a window takes its discount."""

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        if self.warp is not None:
            return Work.begin(self, loop, deal, now)
        deal.started = now
        return self.rules.periods.close_at(now, deal.draws.duration[self.stage][deal.k]) - now

    def end(self, loop: Loop, deal: Deal, now: float) -> None:
        deal.price_factor *= 1.0 - self.rules.periods.discount_at(now)


class Delivery(Work):
    """Implementation work: change orders book value at the start; the delivery milestone
    falls part-way through."""

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        duration = Work.begin(self, loop, deal, now)
        d, k = deal.draws, deal.k
        if d.change_orders is not None and d.change_orders[k]:
            extra = d.change_orders[k] * self.rules.co_share * deal.booked
            deal.booked += extra
            loop.book(deal, extra, now)
            loop.milestone(deal, SIGNING, now, extra)
        loop.milestone(deal, DELIVERY, now + self.rules.delivery_at * duration, deal.booked)
        return duration
