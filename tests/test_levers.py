"""Every lever shows a benefit beside its cost, each measured with paired replications.

The world is ``tests/data/levers.toml``: a named account-manager team that is the bottleneck,
presales for proposals and bids, ample delivery and executives. Each test changes one lever
and reads the paired difference (variant - base, replication by replication, same seed: the
same customers and luck) of one KPI after the warm-up. A benefit or cost is claimed when the
95% interval of the mean difference lies wholly on its side of zero; a lever that should not
help is checked to show no significant gain in the same setting where another lever does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from helpers import Interval, interval

import kamsim

LEVERS = Path(__file__).parent / "data" / "levers.toml"
REPS = 8
SEED = 5

FOCUS = ("focus.norm_deals=6", "focus.odds_per_deal=0.85")
"""Account managers lose attention beyond six active deals."""
STALLS = tuple(
    f"stages.{s}.stall_half_life_days=20.0" for s in ("development", "approval", "proposal")
)
"""Deals stall beyond each stage's mean duration (half-life 20 days)."""
LINGER = tuple(
    f'stages.{s}.duration={{dist="lognormal", mean=30.0, cv=2.0}}' for s in ("approval", "proposal")
)
"""Heavy-tailed stage times: a stuck deal lingers for months, holding its account manager."""
AMPLE_AMS = ("resources.account_managers.headcount=40",)
SCARCE_PRESALES = ("resources.presales.headcount=4",)
AMPLE_PRESALES = ("resources.presales.headcount=30",)
ONE_EXECUTIVE = ("resources.executives.headcount=1",)


@cache
def _kpis(sets: tuple[str, ...]) -> kamsim.Result:
    return kamsim.run(kamsim.load_scenario(LEVERS, list(sets)), reps=REPS, seed=SEED)


def diff(base: tuple[str, ...], variant: tuple[str, ...], kpi: str) -> Interval:
    """Interval of the mean paired difference variant - base of ``kpi``."""
    a, b = _kpis(base).kpis, _kpis(base + variant).kpis
    assert (a["replication"].to_numpy() == b["replication"].to_numpy()).all()
    return interval(b[kpi].to_numpy() - a[kpi].to_numpy())


def grade_won(base: tuple[str, ...], variant: tuple[str, ...], grade: str) -> Interval:
    """Interval of the mean paired difference in deals of ``grade`` signed after the warm-up."""

    def counts(result: kamsim.Result) -> np.ndarray:
        d = result.deals
        warm = result.scenario.calendar.warmup_days
        won = (d["grade"] == grade) & (d["signed_at"] >= warm)
        return won.groupby(d["replication"]).sum().to_numpy(dtype=float)

    return interval(counts(_kpis(base + variant)) - counts(_kpis(base)))


def gains(ci: Interval) -> bool:
    return ci.mean - ci.half_width > 0


def loses(ci: Interval) -> bool:
    return ci.mean + ci.half_width < 0


# -- work-in-progress cap ----------------------------------------------------------------------

CAP = ("policy.am_active_deal_cap=8",)


def test_wip_cap_wins_more_deals_when_attention_is_spread() -> None:
    """Account managers carrying at most 8 deals give each more attention: more deals signed,
    although some leads go cold waiting for a free account manager."""
    assert gains(diff(FOCUS, CAP, "deals_won"))


def test_wip_cap_only_costs_leads_without_focus() -> None:
    assert loses(diff((), CAP, "deals_won"))
    assert not gains(diff((), CAP, "win_rate"))


# -- qualification -----------------------------------------------------------------------------

QUALIFY = ('policy.qualification.min_grade="B"',)


def test_qualifying_harder_wins_more_good_deals_when_account_managers_are_stretched() -> None:
    """Turning C deals away at approval frees their account managers: more A deals signed."""
    assert gains(grade_won(FOCUS, QUALIFY, "A"))


def test_qualifying_harder_costs_bookings_when_nobody_is_stretched() -> None:
    assert not gains(grade_won(AMPLE_AMS, QUALIFY, "A"))
    assert loses(diff(AMPLE_AMS, QUALIFY, "bookings"))


def test_qualification_does_not_count_against_the_win_rate() -> None:
    """Deals our own approval turns away are not losses, so the win rate does not fall; counted
    as losses (the control) they would drag it down."""
    assert not loses(diff(AMPLE_AMS, QUALIFY, "win_rate"))

    def with_rejections(result: kamsim.Result) -> np.ndarray:
        d = result.deals
        d = d[d["arrived_at"] >= result.scenario.calendar.warmup_days]
        won = (d["outcome"] == "won").groupby(d["replication"]).sum()
        lost = (
            ((d["outcome"] == "lost") & (d["exit_reason"] != "disqualified"))
            .groupby(d["replication"])
            .sum()
        )
        return (won / (won + lost)).to_numpy(dtype=float)

    control = with_rejections(_kpis(AMPLE_AMS + QUALIFY)) - with_rejections(_kpis(AMPLE_AMS))
    assert loses(interval(control))


# -- pipeline review ---------------------------------------------------------------------------

REVIEW = ("policy.pipeline_review.every_days=15.0", "policy.pipeline_review.stale_after_days=60.0")
RESCUE = (*REVIEW, 'policy.pipeline_review.action="rescue"')


def test_closing_stalled_deals_frees_account_managers_for_better_ones() -> None:
    """Stuck deals linger and their chances decay; closing them gives their account managers'
    attention to deals that can still win."""
    assert gains(diff(LINGER + FOCUS + STALLS, REVIEW, "deals_won"))


def test_closing_deals_only_loses_when_nothing_stalls() -> None:
    assert loses(diff(LINGER, REVIEW, "deals_won"))
    assert loses(diff(AMPLE_AMS, REVIEW, "deals_won"))


def test_a_rescue_visit_wins_deals_and_costs_executive_time() -> None:
    assert gains(diff(STALLS, RESCUE, "deals_won"))
    assert gains(diff(STALLS, RESCUE, "executive_days_per_month"))


# -- executive engagement ----------------------------------------------------------------------

EARLY = ('policy.executive_engagement="approval"',)
EARLY_WAIT = (*EARLY, 'policy.executive_wait="wait"')
EARLY_SKIP = (*EARLY, 'policy.executive_wait="skip"')


def test_engaging_executives_early_raises_the_win_rate_at_the_cost_of_their_time() -> None:
    assert gains(diff(AMPLE_AMS, EARLY, "win_rate"))
    assert gains(diff(AMPLE_AMS, EARLY, "executive_days_per_month"))


def test_waiting_for_one_executive_costs_time_and_skipping_costs_the_relationship() -> None:
    """With one executive, waiting for the visit lengthens the cycle against skipping it;
    skipping gives fewer deals the relationship, so a lower win rate."""
    base = AMPLE_AMS + ONE_EXECUTIVE + EARLY_SKIP
    assert gains(diff(base, EARLY_WAIT, "cycle_time_days"))
    assert gains(diff(base, EARLY_WAIT, "win_rate"))


# -- staffing ----------------------------------------------------------------------------------

HIRE = ("resources.presales.headcount=6",)
"""Two more presales engineers on top of the scarce four."""
SPARE_HIRE = ("resources.presales.headcount=32",)
"""Two more on top of thirty with room to spare."""


def test_hiring_presales_wins_deals_when_presales_is_the_bottleneck() -> None:
    base = AMPLE_AMS + SCARCE_PRESALES
    assert gains(diff(base, HIRE, "deals_won"))
    assert loses(diff(base, HIRE, "wait_presales"))


def test_hiring_presales_costs_its_salaries() -> None:
    """Two more presales engineers cost 2 x 40,000 a month over the 24 measured months, and
    with presales to spare they win nothing: contribution falls."""
    base = AMPLE_AMS + AMPLE_PRESALES
    cost = diff(base, SPARE_HIRE, "cost_of_sale")
    assert cost.mean == pytest.approx(2 * 40000.0 * 24, rel=1e-9)
    assert cost.half_width == pytest.approx(0.0, abs=1e-6)
    assert loses(diff(base, SPARE_HIRE, "contribution"))
    assert not gains(diff(base, SPARE_HIRE, "deals_won"))


# -- bid margin --------------------------------------------------------------------------------

BID_BAR = ("policy.bid_min_margin=0.10",)


def test_a_margin_bar_raises_the_margin_and_frees_presales() -> None:
    base = AMPLE_AMS + SCARCE_PRESALES
    assert gains(diff(base, BID_BAR, "gross_margin_pct"))
    assert loses(diff(base, BID_BAR, "wait_presales"))


def test_a_margin_bar_costs_deals_when_presales_has_room() -> None:
    assert loses(diff(AMPLE_AMS + AMPLE_PRESALES, BID_BAR, "deals_won"))
