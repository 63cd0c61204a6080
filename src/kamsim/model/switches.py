"""Which optional mechanisms a scenario switches on, decided once.

The rules (``rules.Rules``) hold one :class:`Switches`; the draws read it to decide what to
draw and the steps to decide which steps a stage has, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from kamsim.scenario import Scenario
from kamsim.vocabulary import GRADES, STAGES


@dataclass(frozen=True, slots=True)
class Switches:
    """Which optional mechanisms are on. A mechanism that is off draws nothing and adds no
    step, so it costs nothing per event and shifts no other draw."""

    access: bool
    champion: bool
    champion_loss: bool
    executive: bool
    visits: bool
    """Executive visits happen: engagement at a stage, or reviews that rescue."""
    competitors: bool
    shaping: bool
    withdraw: bool
    price_fight: bool
    patience: tuple[bool, ...]
    """Per stage."""
    approval: bool
    escalation: bool
    acceptance_delay: bool
    change_orders: bool
    repeat: bool
    review: bool
    qualification: bool
    bid_bar: bool
    no_bid: bool
    stall: tuple[bool, ...]
    """Per stage."""
    focus: bool
    ties: bool
    tie_loss: bool
    retention: bool

    @classmethod
    def of(cls, scenario: Scenario) -> Switches:
        rel, comp, pol = scenario.relationship, scenario.competition, scenario.policy
        qual = pol.qualification
        grades = scenario.grade_keys
        review = pol.pipeline_review.every_days is not None
        approval = scenario.contract.approval_days is not None
        return cls(
            access=any(rel.access_probability.values()),
            champion=any(rel.champion_probability.values()),
            champion_loss=rel.champion_loss_per_year > 0,
            executive=any(rel.executive_probability.values()),
            visits=pol.executive_engagement != "none"
            or (review and pol.pipeline_review.action == "rescue"),
            competitors=any(scenario.stages[s].odds.competitor != 1.0 for s in STAGES),
            shaping=any(comp.shaping_probability.values()),
            withdraw=comp.withdraw_probability > 0,
            price_fight=comp.price_fight_discount.mean > 0,
            patience=tuple(scenario.stages[s].patience is not None for s in STAGES),
            approval=approval,
            escalation=approval and pol.discount_authority is not None,
            acceptance_delay=scenario.implementation.acceptance_delay_days.mean > 0,
            change_orders=scenario.implementation.change_orders_per_month > 0,
            repeat=scenario.repeat.probability > 0,
            review=review,
            qualification=any(GRADES.index(g) > GRADES.index(qual.min_grade) for g in grades)
            or qual.min_margin is not None
            or qual.min_value is not None,
            bid_bar=pol.bid_min_margin is not None,
            no_bid=any(comp.no_bid_probability.values()),
            stall=tuple(scenario.stages[s].stall_half_life_days is not None for s in STAGES),
            focus=scenario.focus.odds_per_deal != 1.0,
            ties=rel.account_ties,
            tie_loss=rel.account_ties and rel.tie_loss_per_year > 0,
            retention=scenario.payments.retention > 0,
        )
