"""The steps of a stage visit, one class per step: its start, its work and its end together.

A visit to a stage is a short sequence of steps, fixed per stage when the rules are built, so
a mechanism that is off adds no step and costs nothing per event:

``Check``     tender only: withdraw when the criteria favour a rival; no-bid below the bar
``Visit``     the stage named by ``policy.executive_engagement``: an executive visit (or skip)
``Work``      the stage's own work, holding its pools (negotiation paced by period ends;
              implementation scaled by value, with change orders and the delivery milestone)
``Contract``  negotiation with contract approval: an approvers slot
``Escalate``  the same again when the discount exceeds ``policy.discount_authority``
(extensions) steps registered through ``kamsim.extensions``, placed by ``[extensions.<name>]``
``Accept``    implementation: the customer's acceptance delay (Q4 paced)
``Decide``    qualification (approval), then the pass draw against the deal's chance

A step's ``start`` returns True when the deal now waits (for a pool or for the step's end)
and False to go straight on to the next step. A timed step holds ``pools`` (possibly none):
once the deal holds them all, ``begin`` returns how long the step takes, and ``end`` applies
its effect when it is over. The engine (``World``) dispatches through these methods only.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from kamsim.extensions import REGISTRY
from kamsim.model.deal import Deal
from kamsim.model.decisions import (
    Bars,
    LogOdds,
    ShapingLogOdds,
    needs_escalation,
    pass_chance,
    qualified,
    shaping_chance,
)
from kamsim.model.decisions import tender_check as _tender_check
from kamsim.model.periods import PeriodClock
from kamsim.model.switches import Switches
from kamsim.scenario import Scenario
from kamsim.vocabulary import POOLS, STAGES

DEVELOPMENT, APPROVAL, PROPOSAL, TENDER, NEGOTIATION, IMPLEMENTATION = range(len(STAGES))
APPROVERS, EXECUTIVES = POOLS.index("approvers"), POOLS.index("executives")
SIGNING, DELIVERY, ACCEPTANCE = range(3)
"""Payment milestones."""


class Rules(Bars, Protocol):
    """The settings the steps read (``rules.Rules`` has them)."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def switches(self) -> Switches: ...
    @property
    def periods(self) -> PeriodClock: ...
    @property
    def work_pools(self) -> list[tuple[int, ...]]: ...
    @property
    def engage(self) -> int | None: ...
    @property
    def exec_skip(self) -> bool: ...
    @property
    def co_share(self) -> float: ...
    @property
    def delivery_at(self) -> float: ...
    @property
    def qualification(self) -> bool: ...
    @property
    def exit_reason(self) -> list[str]: ...


class Effects(Protocol):
    """The effect sizes of the replication (``rules.Effects``)."""

    @property
    def log_odds(self) -> list[LogOdds | None]: ...
    @property
    def shaping(self) -> ShapingLogOdds: ...


class Loop(Protocol):
    """What a step may ask of the engine."""

    @property
    def effects(self) -> Effects: ...

    def take(self, deal: Deal, pools: tuple[int, ...], now: float) -> bool: ...
    def wait(self, deal: Deal, delay: float) -> bool: ...
    def busy(self, pool: int) -> bool: ...
    def exit(self, deal: Deal, reason: str, now: float) -> None: ...
    def passed(self, deal: Deal, now: float) -> None: ...
    def cancel(self, deal: Deal, now: float) -> None: ...
    def enter(self, deal: Deal, stage: int, now: float) -> None: ...
    def book(self, deal: Deal, amount: float, now: float) -> None: ...
    def milestone(self, deal: Deal, milestone: int, at: float, base: float) -> None: ...
    def sign(self, deal: Deal, now: float) -> None: ...
    def accept(self, deal: Deal, now: float) -> None: ...


class Step:
    """A step of a visit to ``stage``; subclasses define what it does."""

    name: ClassVar[str] = ""
    timed: ClassVar[bool] = True
    """Timed steps hold ``pools`` for the duration ``begin`` returns; instant steps override
    ``start`` and return from it."""

    __slots__ = ("ends", "params", "plain", "pools", "rules", "stage")

    def __init__(self, rules: Rules, stage: int, params: Any = None) -> None:
        self.rules = rules
        self.stage = stage
        self.params = params
        self.pools = self.holds()
        cls = type(self)
        self.plain = cls.start is Step.start
        """The step only takes its pools (the engine then skips the call to ``start``)."""
        self.ends = cls.end is not Step.end
        """The step has an end effect (otherwise the engine skips the call to ``end``)."""

    def holds(self) -> tuple[int, ...]:
        """Pools the step holds (in the global pool order)."""
        return ()

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        return loop.take(deal, self.pools, now)

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        """The step's work starts now, every pool held: its effects, and how long it takes."""
        raise NotImplementedError(f"step {self.name!r} defines no begin()")

    def end(self, loop: Loop, deal: Deal, now: float) -> None:
        """The step's work is over (its pools are already released)."""


class Check(Step):
    name, timed = "check", False

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        on = rules.switches
        return stage == TENDER and (on.withdraw or on.bid_bar)

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        d = deal.draws
        u = None if d.withdraw_u is None else d.withdraw_u[deal.k]
        reason = _tender_check(self.rules, deal, u)
        if reason is None:
            return False
        loop.exit(deal, reason, now)
        return True


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


class Decide(Step):
    """Qualification (approval), then the pass draw; a passed deal moves on."""

    name, timed = "decide", False

    @staticmethod
    def applies(rules: Rules, stage: int) -> bool:
        return True

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        rules, s = self.rules, self.stage
        if s == APPROVAL and rules.qualification and not qualified(rules, deal):
            loop.exit(deal, "not_approved", now)
            return True
        o = loop.effects.log_odds[s]
        if o is None and not (deal.stage_wait and rules.half_life[s]):
            chance = rules.pass_p[s][deal.grade]  # the base chance: nothing modifies it
        else:
            chance = pass_chance(rules, o, deal, s, now)
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


WORK: dict[int, type[Work]] = {NEGOTIATION: Negotiation, IMPLEMENTATION: Delivery}
DECIDE: dict[int, type[Decide]] = {
    PROPOSAL: ProposalDecide,
    TENDER: TenderDecide,
    NEGOTIATION: NegotiationDecide,
    IMPLEMENTATION: ImplementationDecide,
}


def _checked(step: Step) -> Step:
    """A step that cannot run fails here, when the rules are built, not mid-run."""
    cls = type(step)
    if cls.timed and cls.start is Step.start and cls.begin is Step.begin:
        raise TypeError(f"step {step.name or cls.__name__!r} is timed but defines no begin()")
    if not cls.timed and cls.start is Step.start:
        raise TypeError(f"step {step.name or cls.__name__!r} is instant but defines no start()")
    return step


def stage_steps(rules: Rules, stage: int) -> tuple[Step, ...]:
    """The steps of a visit to ``stage``, in order, with the scenario's extensions placed
    before the decision."""
    steps: list[Step] = []
    if Check.applies(rules, stage):
        steps.append(Check(rules, stage))
    if Visit.applies(rules, stage):
        steps.append(Visit(rules, stage))
    steps.append(WORK.get(stage, Work)(rules, stage))
    if Contract.applies(rules, stage):
        steps.append(Contract(rules, stage))
    if Escalate.applies(rules, stage):
        steps.append(Escalate(rules, stage))
    for name, params in rules.scenario.extensions.items():
        if params.stage == STAGES[stage]:
            steps.append(REGISTRY[name].step(rules, stage, params))
    if Accept.applies(rules, stage):
        steps.append(Accept(rules, stage))
    steps.append(DECIDE.get(stage, Decide)(rules, stage))
    return tuple(_checked(s) for s in steps)
