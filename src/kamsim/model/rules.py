"""Settings once per scenario, luck once per replication.

:class:`Rules` turns a scenario into what the engine reads: pools and capacities, the steps of
each stage, each mechanism's on/off switch (decided here once, read by both the draws and the
engine) and the numbers the pure decisions use (``decisions``). Rules are built once per
scenario and reused across replications. What is drawn per replication lives apart:
:class:`Effects` (uncertain effect sizes) and ``draws.DealDraws`` (every deal's inputs).
"""

from __future__ import annotations

from typing import NamedTuple

from kamsim.model.decisions import LogOdds, ShapingLogOdds, log_ratio
from kamsim.model.periods import PeriodClock, Warp
from kamsim.model.records import result_names
from kamsim.model.steps import Step, stage_steps
from kamsim.model.switches import Switches
from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.validation import OddsRatio
from kamsim.vocabulary import GRADES, POOLS, STAGES

ACCOUNT_MANAGERS = POOLS.index("account_managers")


class Rules:
    """A scenario as engine settings (see the module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.switches = Switches.of(scenario)
        cal, pol, res, stages = (
            scenario.calendar,
            scenario.policy,
            scenario.resources,
            scenario.stages,
        )
        self.horizon = cal.horizon_days
        self.arrivals_until = cal.arrivals_until_days
        self.drain = cal.drain
        self.capacity = [res[p].capacity for p in POOLS]
        """Slots of each pool as run: a WIP cap lowers the account managers'."""
        if pol.am_active_deal_cap is not None:
            ams = res.account_managers
            self.capacity[ACCOUNT_MANAGERS] = ams.headcount * min(
                ams.deals_per_person, pol.am_active_deal_cap
            )
        orders = {"presales": pol.priority.presales, "delivery": pol.priority.delivery}
        self.queue_order = [orders.get(p, "fifo") for p in POOLS]
        self.owner: int | None = ACCOUNT_MANAGERS if res.account_managers.ownership else None
        """The pool a deal holds from entering development until it is signed or leaves."""
        self.work_pools: list[tuple[int, ...]] = [
            tuple(POOLS.index(p) for p in stages[s].pools if POOLS.index(p) != self.owner)
            for s in STAGES
        ]
        """Pools each stage's work takes, in the global order; an owned pool is taken once,
        by the ``Own`` step that opens development, and never again per stage."""
        self.account_managers = res.account_managers.headcount
        self.am_slots = (
            self.capacity[ACCOUNT_MANAGERS] // self.account_managers if self.account_managers else 0
        )
        """Deals each named account manager carries at most (after the WIP cap)."""
        self.focus_norm = scenario.focus.norm_deals
        self.ties = scenario.relationship.account_ties
        grades = scenario.grade_keys
        self.pass_p = [[stages[s].pass_for(g) for g in grades] for s in STAGES]
        self.exit_reason = [stages.exit_reason(s) for s in STAGES]
        self.half_life = [stages[s].wait_half_life_days or 0.0 for s in STAGES]
        self.stall_half_life = [stages[s].stall_half_life_days or 0.0 for s in STAGES]
        """Per stage; 0: no stall risk."""
        self.stall_norm = [stages[s].stall_norm for s in STAGES]
        comp = scenario.competition
        self.shape_p = [comp.shaping_probability.get(g, 0.0) for g in grades]
        self.withdraw_p = comp.withdraw_probability
        self.no_bid_p = [comp.no_bid_probability.get(g, 0.0) for g in grades]
        self.expected_price_discount = comp.price_fight_discount.mean
        self.bid_min_margin = pol.bid_min_margin
        qual = pol.qualification
        self.grade_ok = [GRADES.index(g) <= GRADES.index(qual.min_grade) for g in grades]
        self.min_margin = qual.min_margin
        self.min_value = qual.min_value
        self.engage: int | None = (
            None if pol.executive_engagement == "none" else STAGES.index(pol.executive_engagement)
        )
        """The stage at whose start an executive visits (None: no engagement)."""
        self.exec_skip = pol.executive_wait == "skip"
        self.authority = pol.discount_authority
        self.co_share = scenario.implementation.change_order_value_share
        self.repeat_p = scenario.repeat.probability
        self.shares = scenario.payments.shares
        self.delivery_at = scenario.payments.delivery_at
        self.review = pol.pipeline_review
        self.results = result_names(scenario)
        self.code = {name: i for i, name in enumerate(self.results)}
        self.periods = PeriodClock(scenario.period_end, cal.start.month)
        quarter = [stages[s].month_of_quarter for s in STAGES]
        self.stage_warp: list[Warp | None] = [
            None
            if q is None or not q.warps
            else self.periods.stage_warp(q.pace, STAGES[i] == "negotiation")
            for i, q in enumerate(quarter)
        ]
        """Per stage: its work's pace by month of quarter (None: normal pace)."""
        self.quarter_log_odds: list[tuple[float, float, float] | None] = [
            None if q is None or not q.shifts else (q.log_odds[0], q.log_odds[1], q.log_odds[2])
            for q in quarter
        ]
        """Per stage: log odds added to the pass chance by month of quarter of the decision."""
        self.steps: list[tuple[Step, ...]] = [stage_steps(self, s) for s in range(len(STAGES))]
        """The steps a visit to each stage goes through (those that can apply at all)."""


def _effect(effect: OddsRatio, streams: Streams, purpose: str) -> float:
    """An effect size for this replication: the number, or one draw of its distribution."""
    if isinstance(effect, int | float):
        return float(effect)
    return float(effect.sample(streams("effect." + purpose), 1)[0])


class Effects(NamedTuple):
    """Effect sizes of one replication (an uncertain effect is drawn once per replication)."""

    odds: list[tuple[float, ...] | None]
    """Each stage's odds ratios as drawn (access, champion, executive, shaped, competitor);
    None where all are 1."""
    log_odds: list[LogOdds | None]
    """Their logs, which the decisions use."""
    shaping: ShapingLogOdds
    focus: float
    """Log odds ratio per active deal of the owner beyond the norm (0: focus off)."""

    @classmethod
    def draw(cls, rules: Rules, streams: Streams) -> Effects:
        stages = rules.scenario.stages
        odds: list[tuple[float, ...] | None] = []
        for s in STAGES:
            o = stages[s].odds
            ratios = tuple(
                _effect(getattr(o, name), streams, f"stages.{s}.odds.{name}")
                for name in LogOdds._fields
            )
            odds.append(None if all(r == 1.0 for r in ratios) else ratios)
        so = rules.scenario.competition.shaping_odds
        shaping = ShapingLogOdds(
            *(
                log_ratio(_effect(getattr(so, n), streams, f"competition.shaping_odds.{n}"))
                for n in ShapingLogOdds._fields
            )
        )
        log_odds = [None if o is None else LogOdds(*map(log_ratio, o)) for o in odds]
        focus = log_ratio(_effect(rules.scenario.focus.odds_per_deal, streams, "focus"))
        return cls(odds, log_odds, shaping, focus)
