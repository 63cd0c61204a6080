"""Every duration, delay and count distribution refuses values below zero, naming the field.

A negative delay would schedule an event in the past; one shared schema type guards them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kamsim

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
NEGATIVE = '{dist="uniform", low=-1.0, high=2.0}'


@pytest.mark.parametrize(
    "field",
    [
        "grades.A.value",
        "stages.tender.duration",
        "stages.proposal.patience",
        "payments.lag_days",
        "relationship.executive_visit_days",
        "competition.competitors",
        "contract.approval_days",
        "implementation.acceptance_delay_days",
        "repeat.delay_days",
    ],
)
def test_negative_support_is_rejected(field: str) -> None:
    with pytest.raises(kamsim.ScenarioError) as err:
        kamsim.load_scenario(BASELINE, [f"{field}={NEGATIVE}"])
    assert [p.where for p in err.value.problems] == [field]
    assert "negative" in err.value.problems[0].message


def test_margins_may_be_negative() -> None:
    scenario = kamsim.load_scenario(
        BASELINE, ['grades.D.margin={dist="uniform", low=-0.1, high=0.2}']
    )
    assert scenario.grades["D"].margin.mean == pytest.approx(0.05)
