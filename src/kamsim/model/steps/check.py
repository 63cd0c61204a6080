"""Tender only: withdraw when the criteria favour a rival; decline to bid (by chance, or
below the margin bar)."""

from __future__ import annotations

from kamsim.model.deal import Deal
from kamsim.model.decisions import tender_check as _tender_check
from kamsim.model.steps.base import TENDER, Loop, Rules, Step


class Check(Step):
    name, timed = "check", False

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        on = rules.switches
        return stage == TENDER and (on.withdraw or on.no_bid or on.bid_bar)

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        d = deal.draws
        k = deal.k
        u = None if d.withdraw_u is None else d.withdraw_u[k]
        no_bid_u = None if d.no_bid_u is None else d.no_bid_u[k]
        reason = _tender_check(self.rules, deal, u, no_bid_u)
        if reason is None:
            return False
        loop.exit(deal, reason, now)
        return True
