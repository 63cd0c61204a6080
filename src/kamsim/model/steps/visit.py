"""An executive visit at the stage named by ``policy.executive_engagement`` (or a skip)."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.steps.base import EXECUTIVES, Loop, Rules, Step


class Visit(Step):
    name = "visit"

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return stage == rules.engage

    def holds(self) -> tuple[int, ...]:
        return (EXECUTIVES,)

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        if self.rules.exec_skip and loop.busy(EXECUTIVES):
            return False
        return loop.take(deal, self.pools, now)

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        visit = deal.draws.visit
        assert visit is not None, "visits are drawn whenever a visit step exists"
        return visit[deal.k]

    def end(self, loop: Loop, deal: Deal, now: float) -> None:
        deal.executive = True
        loop.tie(deal, now)
