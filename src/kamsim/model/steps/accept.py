"""Implementation: the customer's acceptance delay, paced by calendar month."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.steps.base import IMPLEMENTATION, Loop, Rules, Step


class Accept(Step):
    name = "accept"

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        on = rules.switches
        return stage == IMPLEMENTATION and (on.acceptance_delay or rules.periods.warps_accept)

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        d = deal.draws
        delay = 0.0 if d.acceptance_delay is None else d.acceptance_delay[deal.k]
        return loop.wait(deal, self.rules.periods.accept_at(now, delay) - now)
