"""The mechanisms that make a key-account pipeline behave as it does: relationship state,
competition at the tender, contract approval, delivery, repeat business and period ends.

Part of the scenario schema (``kamsim.scenario``); each table is neutral by default.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
)

from kamsim.distributions import Distribution, fixed
from kamsim.limits import (
    MAX_MONEY,
    PACE_RANGE,
)
from kamsim.validation import (
    DISCOUNT,
    PROBABILITY,
    RIVALS,
    Days,
    Monthly,
    OddsRatio,
    PerGrade,
    Probability,
    Range,
    Strict,
)
from kamsim.vocabulary import (
    GRADES,
)

PACE = Range(*PACE_RANGE)


class Relationship(Strict):
    """The deal's relationship state, drawn when the lead arrives (all off by default)."""

    access_probability: PerGrade = Field(default_factory=lambda: dict.fromkeys(GRADES, 0.0))
    """Chance that we have access to the decision makers, by grade."""
    champion_probability: PerGrade = Field(default_factory=lambda: dict.fromkeys(GRADES, 0.0))
    """Chance of an inside champion (内线), by grade."""
    champion_loss_per_year: Annotated[float, Range(0.0, 365.0).bounds()] = 0.0
    """Hazard of losing the champion (reorganisation, job change);
    docs/sources.md §3: 10%/yr (L)."""
    executive_probability: PerGrade = Field(default_factory=lambda: dict.fromkeys(GRADES, 0.0))
    """Chance of an existing executive relationship when the lead arrives, by grade."""
    executive_visit_days: Days = fixed(5.0)
    """An executive visit's effort: days of an executive's time it takes, holding an
    ``executives`` slot (a day or two of an executive's month; the meeting's lead time runs
    alongside the stage's work)."""
    account_ties: bool = False
    """An executive relationship built by a visit (engagement or rescue) belongs to the
    account: later deals at that account start with it, and it counts for repeat business."""
    tie_loss_per_year: Annotated[float, Range(0.0, 365.0).bounds()] = 0.0
    """Hazard of an account tie fading (the customer's executives change), drawn per visit;
    0: ties last for the run."""


class ShapingOdds(Strict):
    """Odds ratios on the chance that the proposal shapes the buying criteria."""

    access: OddsRatio = 1.0
    """Access to the decision makers."""
    champion: OddsRatio = 1.0
    """An inside champion."""
    executive: OddsRatio = 1.0
    """An executive relationship."""


class Competition(Strict):
    """Criteria shaping, rivals and price fights at the tender."""

    competitors: Annotated[Distribution, RIVALS.fits()] = fixed(1.0)
    """Number of rival bidders (rounded down), drawn per deal, in [0, 100]."""
    shaping_probability: PerGrade = Field(default_factory=lambda: dict.fromkeys(GRADES, 0.0))
    """Base chance that the proposal shapes the buying criteria in our favour, by grade."""
    shaping_odds: ShapingOdds = ShapingOdds()
    """How relationship state raises the shaping chance."""
    price_fight_discount: Annotated[Distribution, DISCOUNT.fits()] = fixed(0.0)
    """Discount on the winning price when the criteria were not shaped (a price fight), in
    [0, 1)."""
    withdraw_probability: Probability = 0.0
    """Chance that a deal whose criteria favour a rival (not shaped) withdraws at the tender."""
    no_bid_probability: PerGrade = Field(default_factory=lambda: dict.fromkeys(GRADES, 0.0))
    """Chance that we decline to bid (exit ``no_bid``: cost, fit, risk), by grade, decided at
    the tender before any presales time; the margin bar ``policy.bid_min_margin`` adds to it."""


class Focus(Strict):
    """Attention dilution: a deal's chances fall as its account manager carries more deals.

    Needs named account managers (``resources.account_managers.ownership``): each deal gets an
    owner when it enters development, the account's previous owner if they have a free slot,
    else the least-loaded account manager with one.
    """

    norm_deals: Annotated[int, Field(ge=0, le=10_000)] = 10
    """Active deals an account manager carries without loss of attention."""
    odds_per_deal: OddsRatio = 1.0
    """Odds ratio on every pre-signing pass chance per active deal of the owner beyond
    ``norm_deals`` (counted at the pass draw); 1 = no effect. May be a distribution, drawn once
    per replication."""


class Contract(Strict):
    """Contract approval before signing (deal desk, legal, finance)."""

    approval_days: Days | None = None
    """Days of an ``approvers`` slot to approve the contract after negotiation; a discount
    beyond ``policy.discount_authority`` needs a second approval of the same length.
    Empty: no contract approval step."""


class Implementation(Strict):
    """Delivery: size-dependent duration, change orders, acceptance."""

    value_elasticity: Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)] = 0.0
    """Duration scales with (value / reference_value)^elasticity
    (docs/sources.md §1: beta 0.5, L)."""
    reference_value: Annotated[float, Range(1.0, MAX_MONEY).bounds()] = 3.0e6
    """Contract value at which the stage duration is as drawn."""
    change_orders_per_month: Annotated[float, Range(0.0, 30.0).bounds()] = 0.0
    """Rate of change orders during delivery work."""
    change_order_value_share: Annotated[float, PROBABILITY.bounds()] = 0.0
    """Contract value each change order adds, as a share of the signed value."""
    change_order_days: Annotated[float, Range(0.0, 365.0).bounds()] = 0.0
    """Delivery work each change order adds, in days."""
    acceptance_delay_days: Days = fixed(0.0)
    """Days from the end of delivery work to the customer's final acceptance (no pool held)."""


class Repeat(Strict):
    """Repeat business (续单): accepted projects with an executive relationship bring leads."""

    probability: Probability = 0.0
    """Chance that an accepted project with an executive relationship brings a follow-on lead."""
    delay_days: Days = fixed(180.0)
    """Days from acceptance to the follow-on lead."""


class PeriodLevel(Strict):
    """Behaviour in the closing window of one kind of period."""

    intensity: Annotated[float, PACE.bounds()] = 1.0
    """Multiplier on the pace of closing (negotiation work) inside the window, in [0.01, 100]."""
    discount: Annotated[float, DISCOUNT.bounds()] = 0.0
    """Extra discount on deals signed inside the window."""


class PeriodEnd(Strict):
    """Month, quarter and year ends pull closes forward at a discount; customers' acceptance
    pace varies by calendar month (Q4 bunching)."""

    window_days: Annotated[float, Field(ge=0, le=30, allow_inf_nan=False)] = 14.0
    """Length of the closing window at the end of each period, in days."""
    month: PeriodLevel = PeriodLevel()
    """Month ends."""
    quarter: PeriodLevel = PeriodLevel()
    """Quarter ends (take precedence over month ends)."""
    year: PeriodLevel = PeriodLevel()
    """Year ends (take precedence over quarter ends)."""
    acceptance_pace: Monthly[Annotated[float, PACE.bounds()]] = Field(
        default_factory=lambda: [1.0] * 12
    )
    """Pace of customers' acceptance by calendar month (January..December); gov/SOE customers
    accept much of their projects in Q4, e.g. 0.7 for January-September and 2.5 for Q4."""
