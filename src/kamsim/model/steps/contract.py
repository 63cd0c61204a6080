"""Contract approval before signing, and a second approval beyond the discount authority."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.decisions import needs_escalation
from kamsim.model.steps.base import APPROVERS, NEGOTIATION, Loop, Rules, Step


class Contract(Step):
    name = "contract"

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return stage == NEGOTIATION and rules.switches.approval

    def holds(self) -> tuple[int, ...]:
        return (APPROVERS,)

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        approval = deal.draws.approval
        assert approval is not None, "approvals are drawn whenever a contract step exists"
        return approval[deal.k]


class Escalate(Contract):
    name = "escalate"

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return stage == NEGOTIATION and rules.switches.escalation

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        return needs_escalation(self.rules, deal) and loop.take(deal, self.pools, now)
