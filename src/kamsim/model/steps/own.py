"""Development with named account managers: the deal takes an account manager's slot and
becomes that person's deal until it signs or leaves."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.steps.base import DEVELOPMENT, Loop, Rules, Step


class Own(Step):
    name = "own"

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return stage == DEVELOPMENT and rules.owner is not None

    def holds(self) -> tuple[int, ...]:
        owner = self.rules.owner
        assert owner is not None, "an own step exists only with ownership"
        return (owner,)

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        loop.assign(deal)
        return 0.0
