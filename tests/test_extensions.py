"""A step from outside the package: registered, placed by ``[extensions.<name>]``, in effect.

The code is ``docs/extending.md``'s own (run here, so the page cannot rot). The trace is worked
out by hand: one deal-desk slot reviews every approved project for 5 days, first come first
served, so deal i's review starts at max(ready_i, end of deal i-1's review).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import ROOT, load_toml

import kamsim
from kamsim.extensions import REGISTRY, unregister
from kamsim.model import Rules
from kamsim.model.steps import Step

PAGE = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
PYTHON = re.findall(r"```python\n(.*?)```", PAGE, flags=re.S)
TOML = re.findall(r"```toml\n(.*?)```", PAGE, flags=re.S)

BASE = """
    name = "desk-review"
    [calendar]
    horizon_months = 12
    arrivals_until_months = 1
    drain = true
    [arrivals]
    rate_per_month = 6.0
    [grades.A]
    share = 1.0
    value = { dist = "fixed", value = 1000000.0 }
    [stages.development]
    duration = { dist = "fixed", value = 2.0 }
    [stages.approval]
    duration = { dist = "fixed", value = 3.0 }
"""
REVIEW_DAYS = 5.0


@pytest.fixture
def extension() -> Iterator[dict[str, Any]]:
    assert len(PYTHON) == 1 and len(TOML) == 1, "docs/extending.md: one python, one toml block"
    namespace: dict[str, Any] = {"__name__": "notebook"}
    exec(compile(PYTHON[0], "docs/extending.md", "exec"), namespace)
    assert "desk_review" in REGISTRY
    yield namespace
    unregister("desk_review")


def _signed(result: kamsim.Result) -> tuple[np.ndarray, np.ndarray]:
    deals = result.deals.sort_values("arrived_at")
    assert (deals["outcome"] == "won").all()
    return deals["arrived_at"].to_numpy(float), deals["signed_at"].to_numpy(float)


def test_the_documented_step_takes_effect(tmp_path: Path, extension: dict[str, Any]) -> None:
    scenario = load_toml(tmp_path, BASE + TOML[0])
    result = kamsim.simulate(scenario, seed=4)
    arrived, signed = _signed(result)
    assert len(arrived) >= 3
    expected, free = [], 0.0
    for t in arrived:
        start = max(t + 2.0 + 3.0, free)
        free = start + REVIEW_DAYS
        expected.append(free)
    np.testing.assert_allclose(signed, expected, rtol=0, atol=1e-9)
    assert (np.diff(expected) > REVIEW_DAYS - 1e-9).all(), "the single slot makes deals queue"
    holds = result.events[result.events["pool"] == "approvers"]
    assert len(holds) == len(arrived)
    assert (holds["stage"] == "approval").all()
    assert ((holds["ended_at"] - holds["started_at"]) == REVIEW_DAYS).all()


def test_without_the_extension_deals_sign_after_their_own_work(tmp_path: Path) -> None:
    """The control: the same scenario without the step signs at arrival + 5 days."""
    scenario = load_toml(tmp_path, BASE + "[resources.approvers]\nheadcount = 1\n")
    arrived, signed = _signed(kamsim.simulate(scenario, seed=4))
    np.testing.assert_allclose(signed, arrived + 5.0, rtol=0, atol=1e-9)


def test_extension_problems_name_the_field(tmp_path: Path, extension: dict[str, Any]) -> None:
    bad = BASE + TOML[0].replace("days = 5.0", "days = -1.0")
    with pytest.raises(kamsim.ScenarioError) as err:
        load_toml(tmp_path, bad)
    assert [p.where for p in err.value.problems] == ["extensions.desk_review.days"]
    unknown = BASE + "[extensions.no_such_step]\nstage = 'approval'\n"
    with pytest.raises(kamsim.ScenarioError) as err:
        load_toml(tmp_path, unknown)
    assert err.value.problems[0].where == "extensions.no_such_step"
    assert "desk_review" in err.value.problems[0].message  # lists what is registered


def test_a_step_without_a_handler_fails_when_the_rules_are_built(
    tmp_path: Path, extension: dict[str, Any]
) -> None:
    class Broken(Step):
        name = "broken"

    kamsim.extensions.register("broken", extension["DeskReviewParams"], Broken)
    try:
        scenario = load_toml(tmp_path, BASE + "[extensions.broken]\nstage = 'tender'\ndays = 1.0\n")
        with pytest.raises(TypeError, match="broken"):
            Rules(scenario)
    finally:
        unregister("broken")


def test_a_scenario_with_extensions_round_trips(tmp_path: Path, extension: dict[str, Any]) -> None:
    scenario = load_toml(tmp_path, BASE + TOML[0])
    assert scenario.with_overrides([]) == scenario
    assert scenario.extensions["desk_review"].days == REVIEW_DAYS  # type: ignore[attr-defined]
