"""The end of every stage visit: qualification, the pass draw, and what passing means."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.decisions import pass_chance, qualified, shaping_chance
from kamsim.model.steps.base import APPROVAL, IMPLEMENTATION, Loop, Rules, Step


class Decide(Step):
    """Qualification (approval), then the pass draw; a passed deal moves on."""

    name, timed = "decide", False
    __slots__ = ("focus", "quarter", "stalls")

    def __init__(self, rules: Rules, stage: int) -> None:
        super().__init__(rules, stage)
        self.focus = rules.switches.focus and stage < IMPLEMENTATION
        """The owner's load moves the chance (attention dilution, before signing)."""
        self.stalls = rules.switches.stall[stage]
        self.quarter = rules.quarter_log_odds[stage]
        """Log odds by month of quarter of the decision (None: no calendar effect)."""

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return True

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        rules, s = self.rules, self.stage
        if s == APPROVAL and rules.switches.qualification and not qualified(rules, deal):
            loop.exit(deal, "not_approved", now)
            return True
        o = loop.effects.log_odds[s]
        extra = loop.focus(deal) if self.focus else 0.0
        if self.quarter is not None:
            extra += self.quarter[rules.periods.month_of_quarter(now)]
        if (
            o is None
            and not extra
            and not self.stalls
            and not (deal.stage_wait and rules.half_life[s])
        ):
            chance = rules.pass_p[s][deal.grade]  # the base chance: nothing modifies it
        else:
            chance = pass_chance(rules, o, deal, s, now, extra)
        if deal.draws.pass_u[s][deal.k] >= chance:
            if s == IMPLEMENTATION:
                loop.cancel(deal, now)
            else:
                loop.exit(deal, rules.exit_reason[s], now)
            return True
        loop.passed(deal, now)
        self.passes(loop, deal, now)
        return True

    def passes(self, loop: Loop, deal: Deal, now: float) -> None:
        loop.enter(deal, self.stage + 1, now)


class ProposalDecide(Decide):
    """A passed proposal may have shaped the buying criteria in our favour."""

    def passes(self, loop: Loop, deal: Deal, now: float) -> None:
        shape_u = deal.draws.shape_u
        if shape_u is not None:
            chance = shaping_chance(self.rules, loop.effects.shaping, deal, now)
            deal.shaped = shape_u[deal.k] < chance
        loop.enter(deal, self.stage + 1, now)


class TenderDecide(Decide):
    """A tender won on unshaped criteria was a price fight: its discount applies."""

    def passes(self, loop: Loop, deal: Deal, now: float) -> None:
        discount = deal.draws.price_discount
        if not deal.shaped and discount is not None:
            deal.price_factor *= 1.0 - discount[deal.k]
        loop.enter(deal, self.stage + 1, now)


class NegotiationDecide(Decide):
    def passes(self, loop: Loop, deal: Deal, now: float) -> None:
        loop.sign(deal, now)
        loop.enter(deal, self.stage + 1, now)


class ImplementationDecide(Decide):
    def passes(self, loop: Loop, deal: Deal, now: float) -> None:
        loop.accept(deal, now)
