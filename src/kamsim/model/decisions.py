"""The pure decisions of a deal: pass chance, tender check, qualification.

No SimPy here: each function reads the settings (:class:`Bars`, which ``rules.Rules``
provides), the replication's effect sizes and a deal's state, so tests can check them on a
hand-made deal.

The chance of passing a stage is logistic(logit(grade base) + the log odds ratios of the
deal's state and of its owner's load) times 0.5^(days queued in the stage / wait half-life)
times 0.5^(days in the stage beyond its norm / stall half-life). Summed log odds ratios are
clipped to +/- ``MAX_LOG_ODDS``, so any count of rivals and any ratio give a valid chance.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from kamsim.limits import MAX_LOG_ODDS
from kamsim.model.deal import Deal

TOLERANCE = 1e-12
"""Slack for policy bars compared with recomputed fractions (1 - 0.95 is not 0.05 in floats)."""


class Bars(Protocol):
    """The settings the decisions read (``rules.Rules`` has them)."""

    @property
    def pass_p(self) -> list[list[float]]: ...
    @property
    def half_life(self) -> list[float]: ...
    @property
    def stall_half_life(self) -> list[float]: ...
    @property
    def stall_norm(self) -> list[float]: ...
    @property
    def shape_p(self) -> list[float]: ...
    @property
    def no_bid_p(self) -> list[float]: ...
    @property
    def withdraw_p(self) -> float: ...
    @property
    def bid_min_margin(self) -> float | None: ...
    @property
    def expected_price_discount(self) -> float: ...
    @property
    def grade_ok(self) -> list[bool]: ...
    @property
    def min_margin(self) -> float | None: ...
    @property
    def min_value(self) -> float | None: ...
    @property
    def authority(self) -> float | None: ...


class LogOdds(NamedTuple):
    """Log odds ratios of one stage's pass chance, by what the deal has."""

    access: float
    champion: float
    executive: float
    shaped: float
    competitor: float
    """Per rival beyond the first."""


class ShapingLogOdds(NamedTuple):
    """Log odds ratios of the chance that the proposal shapes the buying criteria."""

    access: float
    champion: float
    executive: float


def log_ratio(ratio: float) -> float:
    """log(ratio) clipped to +/- ``MAX_LOG_ODDS`` (0 gives the lower bound, inf the upper), so
    a sum of a few such terms, even times a competitor count, stays finite."""
    if not ratio > 0.0:
        return -MAX_LOG_ODDS
    return min(max(math.log(ratio), -MAX_LOG_ODDS), MAX_LOG_ODDS)


def with_log_odds(p: float, log_odds: float) -> float:
    """logistic(logit(p) + log_odds), exact at p = 0 and p = 1.

    ``log_odds`` is clipped to +/- ``MAX_LOG_ODDS`` first, so the odds ratio ``r`` stays
    finite and positive and ``p r / (1 - p + p r)`` is a probability for any finite input.
    """
    if log_odds > MAX_LOG_ODDS:
        log_odds = MAX_LOG_ODDS
    elif log_odds < -MAX_LOG_ODDS:
        log_odds = -MAX_LOG_ODDS
    r = math.exp(log_odds)
    return p * r / (1.0 - p + p * r)


def stage_log_odds(deal: Deal, o: LogOdds, now: float) -> float:
    """Sum of a stage's log odds ratios that apply to the deal now."""
    x = 0.0
    if deal.access:
        x += o.access
    until = deal.champion_until
    if until is not None and now < until:
        x += o.champion
    if deal.executive:
        x += o.executive
    if deal.shaped:
        x += o.shaped
    if deal.competitors > 1:
        x += (deal.competitors - 1) * o.competitor
    return x


def pass_chance(
    rules: Bars, o: LogOdds | None, deal: Deal, stage: int, now: float, extra: float = 0.0
) -> float:
    """The deal's chance of passing ``stage`` now, given the stage's log odds ratios ``o`` and
    ``extra`` log odds (the owner's focus)."""
    p = rules.pass_p[stage][deal.grade]
    if o is not None:
        extra += stage_log_odds(deal, o, now)
    if extra:
        p = with_log_odds(p, extra)
    half_life = rules.half_life[stage]
    if deal.stage_wait and half_life:
        p *= 0.5 ** (deal.stage_wait / half_life)
    stall = rules.stall_half_life[stage]
    if stall:
        late = now - deal.stall_from - rules.stall_norm[stage]
        if late > 0.0:
            p *= 0.5 ** (late / stall)
    return p


def focus_log_odds(log_ratio_per_deal: float, load: int, norm: int) -> float:
    """Log odds from the owner's attention: ``log_ratio_per_deal`` per active deal beyond
    ``norm``."""
    return log_ratio_per_deal * (load - norm) if load > norm else 0.0


def shaping_chance(rules: Bars, so: ShapingLogOdds, deal: Deal, now: float) -> float:
    """Chance that the deal's proposal shapes the buying criteria in our favour."""
    x = (so.access if deal.access else 0.0) + (so.executive if deal.executive else 0.0)
    until = deal.champion_until
    if until is not None and now < until:
        x += so.champion
    return with_log_odds(rules.shape_p[deal.grade], x)


def tender_check(
    rules: Bars, deal: Deal, withdraw_u: float | None, no_bid_u: float | None = None
) -> str | None:
    """Why the deal leaves before bidding (``withdrew``, ``no_bid``), or None to bid."""
    if withdraw_u is not None and not deal.shaped and withdraw_u < rules.withdraw_p:
        return "withdrew"
    if no_bid_u is not None and no_bid_u < rules.no_bid_p[deal.grade]:
        return "no_bid"
    if rules.bid_min_margin is not None:
        discount = 0.0 if deal.shaped else rules.expected_price_discount
        margin = 1.0 - (1.0 - deal.margin) / (1.0 - discount)
        if margin < rules.bid_min_margin - TOLERANCE:
            return "no_bid"
    return None


def qualified(rules: Bars, deal: Deal) -> bool:
    """Whether project approval's bars (grade, margin, value) let the deal through."""
    return (
        rules.grade_ok[deal.grade]
        and (rules.min_margin is None or deal.margin >= rules.min_margin)
        and (rules.min_value is None or deal.value >= rules.min_value)
    )


def needs_escalation(rules: Bars, deal: Deal) -> bool:
    """Whether the deal's total discount exceeds the discount authority."""
    return rules.authority is not None and 1.0 - deal.price_factor > rules.authority + TOLERANCE
