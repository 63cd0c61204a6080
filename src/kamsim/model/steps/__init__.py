"""The steps of a stage visit, one module per step: its start, its work and its end together.

A visit to a stage is a short sequence of steps, fixed per stage when the rules are built
(``stage_steps``, the step table), so a mechanism that is off adds no step and costs nothing
per event. Each step is a module here; a new mechanism is one new module and its place in the
table:

``Own``       development with ownership: a named account manager's slot, held to signing
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

from kamsim.extensions import REGISTRY
from kamsim.model.steps.accept import Accept
from kamsim.model.steps.base import (
    ACCEPTANCE,
    DELIVERY,
    EXECUTIVES,
    IMPLEMENTATION,
    NEGOTIATION,
    PROPOSAL,
    RETENTION,
    SIGNING,
    TENDER,
    Loop,
    Rules,
    Step,
    checked,
)
from kamsim.model.steps.check import Check
from kamsim.model.steps.contract import Contract, Escalate
from kamsim.model.steps.decide import (
    Decide,
    ImplementationDecide,
    NegotiationDecide,
    ProposalDecide,
    TenderDecide,
)
from kamsim.model.steps.own import Own
from kamsim.model.steps.visit import Visit
from kamsim.model.steps.work import Delivery, Negotiation, Work
from kamsim.vocabulary import STAGES

__all__ = [
    "ACCEPTANCE",
    "DELIVERY",
    "EXECUTIVES",
    "IMPLEMENTATION",
    "RETENTION",
    "SIGNING",
    "Loop",
    "Step",
    "stage_steps",
]

WORK: dict[int, type[Work]] = {NEGOTIATION: Negotiation, IMPLEMENTATION: Delivery}
DECIDE: dict[int, type[Decide]] = {
    PROPOSAL: ProposalDecide,
    TENDER: TenderDecide,
    NEGOTIATION: NegotiationDecide,
    IMPLEMENTATION: ImplementationDecide,
}


def stage_steps(rules: Rules, stage: int) -> tuple[Step, ...]:
    """The steps of a visit to ``stage``, in order, with the scenario's extensions placed
    before the decision."""
    steps: list[Step] = []
    if Own.applies(rules, stage):
        steps.append(Own(rules, stage))
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
    return tuple(checked(s) for s in steps)
