"""Which deals flipped: ``kamsim.flips.deal_flips`` compares two variants deal by deal.

The oracles come from the raw ``deals`` tables and the scenarios' logic, never from
``deal_flips`` itself: with common random numbers a deal passes a stage when its own uniform
is below the pass probability, so raising that probability from 0.5 to 0.8 wins back exactly
the deals whose uniform lies in [0.5, 0.8) and loses none; a longer stage near the horizon
leaves exactly the deals arriving within its extra days unsigned; follow-on leads exist only
where their parent brought one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from constants import DAYS_PER_MONTH, SCENARIOS
from helpers import assert_estimates
from mechanics_helpers import batch, build, fixed, stream

import kamsim
from kamsim.analysis import half_width, summarise
from kamsim.flips import FLIPS, Flips, deal_flips, measure_bounds
from kamsim.intervals import UNBOUNDED
from kamsim.results import concat_results

SEED = 11
STRIDE = 10_000_000
"""Documented id offset of a follow-on lead from its parent (README, Outputs)."""
VALUE = 1.0e6
"""Every tiny scenario's fixed deal value (``mechanics_helpers``)."""
MATCHED = [f for f in FLIPS if not f.startswith("repeat_")]
"""The flips of a deal present in both runs: every (base, variant) pair of outcomes."""


def _run(data: dict[str, Any], reps: int = 3, seed: int = SEED) -> kamsim.Result:
    return kamsim.run(build(data), reps=reps, seed=seed)


def _per_rep(result: kamsim.Result, mask: pd.Series) -> np.ndarray:
    """Count of the deals in ``mask`` per replication, every replication listed."""
    reps = result.kpis["replication"]
    counts = result.deals[mask].groupby("replication").size()
    return counts.reindex(reps, fill_value=0).to_numpy()


def _every(result: kamsim.Result) -> pd.Series:
    return pd.Series(True, index=result.deals.index)


def _won(result: kamsim.Result) -> pd.Series:
    return result.deals["outcome"] == "won"


def _booked_won(result: kamsim.Result) -> np.ndarray:
    """Booked value of the won deals per replication."""
    won = result.deals[_won(result)]
    sums = won.groupby("replication")["booked_value"].sum()
    return sums.reindex(result.kpis["replication"], fill_value=0.0).to_numpy()


def _column(flips: Flips, name: str) -> np.ndarray:
    return flips.per_replication[name].to_numpy()


def _by_exit_total(flips: Flips, flip: str, column: str) -> np.ndarray:
    rows = flips.by_exit[flips.by_exit["flip"] == flip]
    sums = rows.groupby("replication")[column].sum()
    return sums.reindex(flips.per_replication["replication"], fill_value=0).to_numpy()


def _keys(deals: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(deals["replication"], deals["deal_id"], strict=True))


# -- more deals: a higher pass chance ---------------------------------------------------------


def _proposal(p: float, n: float = 8000) -> dict[str, Any]:
    """A batch of leads through one uncertain stage (proposal, pass ``p``); a drained run."""
    return batch(n, stages={"proposal": {"pass_probability": p}})


@pytest.fixture(scope="module")
def proposal_pair() -> tuple[kamsim.Result, kamsim.Result]:
    return _run(_proposal(0.5)), _run(_proposal(0.8))


def test_a_higher_pass_chance_wins_deals_back_and_loses_none(
    proposal_pair: tuple[kamsim.Result, kamsim.Result],
) -> None:
    base, variant = proposal_pair
    flips = deal_flips(base, variant)
    # The probabilities' logic, read off the raw tables: u < 0.5 implies u < 0.8.
    base_won, variant_won = _keys(base.deals[_won(base)]), _keys(variant.deals[_won(variant)])
    assert base_won <= variant_won
    assert len(variant_won) > len(base_won) + 1000
    # So every base win is a variant win and the difference in wins is the deals won back.
    lost_to_won = _per_rep(variant, _won(variant)) - _per_rep(base, _won(base))
    np.testing.assert_array_equal(_column(flips, "lost_to_won"), lost_to_won)
    np.testing.assert_array_equal(_column(flips, "won_both"), _per_rep(base, _won(base)))
    lost_v = variant.deals["outcome"] == "lost"
    np.testing.assert_array_equal(_column(flips, "lost_both"), _per_rep(variant, lost_v))
    for never in ("won_to_lost", "open_to_won", "won_to_open", "repeat_gained", "repeat_lost"):
        assert (_column(flips, never) == 0).all(), never
    np.testing.assert_allclose(_column(flips, "value_gained"), lost_to_won * VALUE)
    np.testing.assert_allclose(_column(flips, "value_lost"), 0.0)
    np.testing.assert_allclose(
        _column(flips, "net_value"), _booked_won(variant) - _booked_won(base), rtol=1e-12
    )
    # Each deal's uniform is its own draw: the share won back is P(0.5 <= u < 0.8).
    assert_estimates(flips.deals["flip"] == "lost_to_won", 0.8 - 0.5, "share lost -> won")
    # Where the base lost them: all at the proposal, with its exit reason.
    groups = flips.by_exit[["flip", "stage", "exit_reason"]].astype(str).drop_duplicates()
    assert groups.to_numpy().tolist() == [["lost_to_won", "proposal", "customer_dropped"]]


def test_swapping_the_runs_mirrors_the_flips(
    proposal_pair: tuple[kamsim.Result, kamsim.Result],
) -> None:
    base, variant = proposal_pair
    forward, backward = deal_flips(base, variant), deal_flips(variant, base)
    for a, b in (("lost_to_won", "won_to_lost"), ("value_gained", "value_lost")):
        np.testing.assert_array_equal(_column(forward, a), _column(backward, b))
    np.testing.assert_array_equal(_column(backward, "lost_to_won"), 0)
    np.testing.assert_array_equal(_column(forward, "net_value"), -_column(backward, "net_value"))


def test_a_run_against_itself_flips_nothing(
    proposal_pair: tuple[kamsim.Result, kamsim.Result],
) -> None:
    """Negative control: identical runs have every deal in the same state."""
    base, _ = proposal_pair
    flips = deal_flips(base, base)
    same = {"won_both", "lost_both", "open_both"}
    assert (flips.per_replication[[f for f in FLIPS if f not in same]] == 0).all().all()
    np.testing.assert_array_equal(_column(flips, "won_both"), _per_rep(base, _won(base)))
    assert flips.by_exit.empty
    assert (flips.summary.set_index("measure").loc["net_value", ["mean", "low", "high"]] == 0).all()


def test_count_intervals_never_go_below_zero(
    proposal_pair: tuple[kamsim.Result, kamsim.Result],
) -> None:
    """A flip that happens in one replication out of three has a t interval reaching below
    zero; a count cannot, so the interval is clipped there and the note says so."""
    base, variant = proposal_pair
    flips = deal_flips(base, variant)
    per_rep = flips.per_replication.copy()
    rows = flips.summary.set_index("measure")
    for measure in rows.index:
        if measure not in ("net_value", "value_repriced", "repeat_value"):
            assert rows.loc[measure, "low"] >= 0 or np.isnan(rows.loc[measure, "low"]), measure
    # The unclipped interval of a rare flip does reach below zero: the clip is doing work.
    rare = np.array([0.0, 0.0, 3.0])
    per_rep["won_to_lost"] = rare
    clipped = summarise(per_rep, bounds=measure_bounds).set_index("kpi")
    free = summarise(per_rep, bounds=lambda _: UNBOUNDED).set_index("kpi")
    assert free.loc["won_to_lost", "low"] < 0
    assert clipped.loc["won_to_lost", "low"] == 0
    assert "clipped" in clipped.loc["won_to_lost", "note"]
    # Net value can be negative, and keeps its unclipped interval.
    per_rep["net_value"] = np.array([-5.0, -1.0, 2.0])
    clipped = summarise(per_rep, bounds=measure_bounds).set_index("kpi")
    free = summarise(per_rep, bounds=lambda _: UNBOUNDED).set_index("kpi")
    assert clipped.loc["net_value", "low"] == free.loc["net_value", "low"] < 0


# -- earlier deals: timing near the horizon ---------------------------------------------------

RATE = 100.0
MONTHS = 12
HORIZON = MONTHS * DAYS_PER_MONTH


def _development(days: float, drain: bool) -> dict[str, Any]:
    """Leads until the horizon; development takes ``days``, every other stage is instant."""
    return stream(
        RATE,
        MONTHS,
        calendar={"drain": drain},
        stages={"development": {"duration": fixed(days)}},
    )


def test_a_longer_stage_near_the_horizon_leaves_deals_open() -> None:
    """Every deal passes; one arriving at t signs at t + days. With 10 days in the base and
    40 in the variant, the deals arriving in [H - 40, H - 10) sign in the base only, those
    arriving later in neither."""
    base, variant = _run(_development(10.0, False)), _run(_development(40.0, False))
    flips = deal_flips(base, variant)
    arrived = base.deals["arrived_at"]
    late = (arrived >= HORIZON - 40.0) & (arrived < HORIZON - 10.0)
    assert _per_rep(base, late).min() > 50
    np.testing.assert_array_equal(_column(flips, "won_to_open"), _per_rep(base, late))
    np.testing.assert_array_equal(
        _column(flips, "open_both"), _per_rep(base, arrived >= HORIZON - 10.0)
    )
    np.testing.assert_array_equal(
        _column(flips, "won_both"), _per_rep(base, arrived < HORIZON - 40.0)
    )
    np.testing.assert_allclose(_column(flips, "value_lost"), _per_rep(base, late) * VALUE)
    for never in ("lost_to_won", "won_to_lost", "open_to_won"):
        assert (_column(flips, never) == 0).all(), never
    # Timing is not a lost deal: by_exit lists only deals that left.
    assert flips.by_exit.empty
    backward = deal_flips(variant, base)
    np.testing.assert_array_equal(_column(backward, "open_to_won"), _per_rep(base, late))
    np.testing.assert_allclose(_column(backward, "value_gained"), _per_rep(base, late) * VALUE)


def test_drained_runs_have_no_timing_flips() -> None:
    base, variant = _run(_development(10.0, True)), _run(_development(40.0, True))
    flips = deal_flips(base, variant)
    timing = ["open_to_won", "won_to_open", "lost_to_open", "open_to_lost", "open_both"]
    assert (flips.per_replication[timing] == 0).all().all()
    np.testing.assert_array_equal(_column(flips, "won_both"), _per_rep(base, _won(base)))
    assert _won(base).all()


# -- repeat leads -----------------------------------------------------------------------------


def _engagement(stage: str) -> dict[str, Any]:
    """Accepted projects bring a follow-on (probability 1) only with an executive relationship,
    which here only an executive visit at implementation gives."""
    return stream(
        10,
        MONTHS,
        stages={"implementation": {"duration": fixed(30.0)}},
        resources={"executives": {"headcount": 1, "deals_per_person": 100}},
        relationship={"executive_visit_days": fixed(1.0)},
        repeat={"probability": 1.0, "delay_days": fixed(50.0)},
        policy={"executive_engagement": stage},
    )


def test_follow_on_leads_gained_and_lost() -> None:
    base, variant = _run(_engagement("none")), _run(_engagement("implementation"))
    assert base.deals["repeat_of"].isna().all()
    children = variant.deals["repeat_of"].notna()
    assert _per_rep(variant, children).min() > 10
    flips = deal_flips(base, variant)
    np.testing.assert_array_equal(_column(flips, "repeat_gained"), _per_rep(variant, children))
    assert (_column(flips, "repeat_lost") == 0).all()
    # The new leads are the same deals and win in both (the visit comes after signing).
    new = base.deals["repeat_of"].isna()
    np.testing.assert_array_equal(_column(flips, "won_both"), _per_rep(base, new & _won(base)))
    won_children = variant.deals[children & _won(variant)]
    repeat_value = won_children.groupby("replication")["booked_value"].sum()
    np.testing.assert_allclose(
        _column(flips, "repeat_value"),
        repeat_value.reindex(variant.kpis["replication"], fill_value=0.0),
    )
    gained = flips.deals[flips.deals["flip"] == "repeat_gained"]
    np.testing.assert_array_equal(gained["deal_id"] - STRIDE, gained["repeat_of"].to_numpy(int))
    backward = deal_flips(variant, base)
    np.testing.assert_array_equal(_column(backward, "repeat_lost"), _per_rep(variant, children))
    assert (_column(backward, "repeat_gained") == 0).all()


# -- pairing ----------------------------------------------------------------------------------


def test_unpaired_runs_are_refused() -> None:
    data = stream(20, 2)
    base = _run(data, reps=2)
    with pytest.raises(ValueError, match=r"not paired: different seeds \(base 11, variant 12\)"):
        deal_flips(base, _run(data, reps=2, seed=SEED + 1))
    with pytest.raises(ValueError, match=r"different replications \(only in variant: 2\)"):
        deal_flips(base, _run(data, reps=3))
    with pytest.raises(ValueError, match="new leads differ in id or arrival time"):
        deal_flips(base, _run(stream(25, 2), reps=2))
    # The same ids arriving at other times are other customers.
    moved = replace(base, deals=base.deals.assign(arrived_at=base.deals["arrived_at"] + 1.0))
    with pytest.raises(ValueError, match=r"new leads differ .*deal 0 of replication 0"):
        deal_flips(base, moved)
    twice = concat_results([base, base])
    with pytest.raises(ValueError, match="more than once"):
        deal_flips(twice, twice)
    # Negative control: the same scenario with the same seed and replications is paired.
    deal_flips(base, _run(data, reps=2))


# -- both directions at once: by_exit ---------------------------------------------------------


def test_by_exit_adds_up_to_the_counts() -> None:
    """Proposal 0.5 -> 0.8 wins deals back (where the base dropped them, at the proposal);
    tender 0.9 -> 0.6 loses deals the base won (where the variant loses them, at the
    tender). A deal won back must also pass the variant's harder tender, so the base never
    lost one at the tender."""

    def two(proposal: float, tender: float) -> dict[str, Any]:
        stages = {"proposal": {"pass_probability": proposal}, "tender": {}}
        stages["tender"]["pass_probability"] = tender
        return batch(1500, stages=stages)

    flips = deal_flips(_run(two(0.5, 0.9)), _run(two(0.8, 0.6)))
    for flip, value in (("lost_to_won", "value_gained"), ("won_to_lost", "value_lost")):
        counts = _column(flips, flip)
        assert counts.min() > 100, flip
        np.testing.assert_array_equal(_by_exit_total(flips, flip, "deals"), counts)
        np.testing.assert_allclose(_by_exit_total(flips, flip, "value"), _column(flips, value))
    groups = flips.by_exit[["flip", "stage", "exit_reason"]].astype(str).drop_duplicates()
    assert sorted(groups.to_numpy().tolist()) == [
        ["lost_to_won", "proposal", "customer_dropped"],
        ["won_to_lost", "tender", "bid_lost"],
    ]


def test_the_baseline_against_early_engagement_adds_up() -> None:
    """A realistic pair (not drained, with discounts, follow-ons and every exit): the
    matched flips cover the deals in both runs, by_exit matches the counts, the value columns
    add up to the difference in booked value, and the summary is the per-replication
    table's mean and t interval."""
    base = kamsim.run(kamsim.load_scenario(SCENARIOS / "baseline.toml"), reps=3, seed=SEED)
    variant = kamsim.run(kamsim.load_scenario(SCENARIOS / "exec-early.toml"), reps=3, seed=SEED)
    flips = deal_flips(base, variant)
    per = flips.per_replication
    matched = per[MATCHED].sum(axis=1)
    np.testing.assert_array_equal(matched + per["repeat_lost"], _per_rep(base, _every(base)))
    np.testing.assert_array_equal(
        matched + per["repeat_gained"], _per_rep(variant, _every(variant))
    )
    for flip in ("lost_to_won", "won_to_lost"):
        np.testing.assert_array_equal(_by_exit_total(flips, flip, "deals"), per[flip])
    total = per["net_value"] + per["value_repriced"] + per["repeat_value"]
    np.testing.assert_allclose(total, _booked_won(variant) - _booked_won(base), rtol=1e-9)
    assert per["lost_to_won"].sum() > 0 and per["open_both"].sum() > 0
    summary = flips.summary.set_index("measure")
    assert list(summary.index) == [c for c in per.columns if c != "replication"]
    for name in ("lost_to_won", "net_value"):
        assert summary.loc[name, "mean"] == pytest.approx(per[name].mean())
        assert summary.loc[name, "half_width"] == pytest.approx(half_width(per[name]))
        assert summary.loc[name, "n"] == 3
    text = flips.format()
    assert "3 paired replications" in text and "CNY" in text
    for name in summary.index:
        assert name in text
