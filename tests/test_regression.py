"""Pinned KPIs of small scenarios: optimisations must not change results for a given seed.

The pins live in ``tests/data/pinned_kpis.csv``. A change that alters results on purpose
regenerates them with ``python tests/test_regression.py`` and says why in CHANGELOG.md.
"""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from constants import ROOT, SCENARIOS

import kamsim

PINS = ROOT / "tests" / "data" / "pinned_kpis.csv"
SHORT = ["calendar.horizon_months=12", "calendar.warmup_months=0"]
CASES: dict[str, tuple[str, list[str]]] = {
    "baseline": ("baseline.toml", SHORT),
    "exec-early": ("exec-early.toml", SHORT),
    "plain-funnel": (
        "baseline.toml",
        [
            *SHORT,
            "policy.executive_engagement=none",
            "policy.bid_min_margin=-1.0",
            "calendar.drain=true",
            "calendar.arrivals_until_months=6",
        ],
    ),
    "review-rescue-priority": (
        "baseline.toml",
        [
            *SHORT,
            "policy.pipeline_review.every_days=30.0",
            "policy.pipeline_review.action=rescue",
            "policy.priority=grade",
            "policy.am_active_deal_cap=8",
        ],
    ),
}


def compute(case: str) -> pd.DataFrame:
    file, overrides = CASES[case]
    scenario = kamsim.load_scenario(SCENARIOS / file, overrides)
    kpis = kamsim.run(scenario, reps=2, seed=11).kpis
    kpis.insert(0, "case", case)
    return kpis


@pytest.mark.parametrize("case", sorted(CASES))
def test_kpis_match_pins(case: str) -> None:
    pinned = pd.read_csv(PINS)
    expected = pinned[pinned["case"] == case].reset_index(drop=True)
    assert len(expected) == 2, f"no pins for {case}; regenerate (see module docstring)"
    actual = compute(case)
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected, check_dtype=False, rtol=1e-9, atol=1e-6
    )


if __name__ == "__main__":
    pd.concat([compute(c) for c in sorted(CASES)]).to_csv(PINS, index=False)
    print(f"wrote {PINS}", file=sys.stderr)
