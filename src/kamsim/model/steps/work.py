"""A stage's own work, holding its pools; negotiation paced by period ends; implementation
with change orders and the delivery milestone."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.steps.base import DELIVERY, SIGNING, Loop, Rules, Step


class Work(Step):
    name = "work"

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return True

    def holds(self) -> tuple[int, ...]:
        return self.rules.work_pools[self.stage]

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        deal.started = now
        return deal.draws.duration[self.stage][deal.k]


class Negotiation(Work):
    """Closing work, paced by period ends; a close inside a window takes its discount."""

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        deal.started = now
        return self.rules.periods.close_at(now, deal.draws.duration[self.stage][deal.k]) - now

    def end(self, loop: Loop, deal: Deal, now: float) -> None:
        deal.price_factor *= 1.0 - self.rules.periods.discount_at(now)


class Delivery(Work):
    """Implementation work: change orders book value at the start; the delivery milestone
    falls part-way through."""

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        deal.started = now
        d, k = deal.draws, deal.k
        duration = d.duration[self.stage][k]
        if d.change_orders is not None and d.change_orders[k]:
            extra = d.change_orders[k] * self.rules.co_share * deal.booked
            deal.booked += extra
            loop.book(deal, extra, now)
            loop.milestone(deal, SIGNING, now, extra)
        loop.milestone(deal, DELIVERY, now + self.rules.delivery_at * duration, deal.booked)
        return duration
