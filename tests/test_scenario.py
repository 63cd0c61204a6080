"""Reading scenarios: defaults, overrides, inheritance, frozen variants."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from constants import BASELINE, DAYS_PER_MONTH, STAGES
from helpers import load_toml, write_toml

import kamsim
from kamsim.distributions import Fixed


def test_omitted_stages_are_instant_always_passed_and_need_nobody(tmp_path: Path) -> None:
    scenario = load_toml(tmp_path, "[calendar]\nhorizon_months = 2\n")
    for stage in STAGES:
        spec = scenario.stages[stage]
        assert spec.duration.mean == 0.0
        assert spec.pools == []
        assert all(spec.pass_for(g) == 1.0 for g in scenario.grade_keys)


def test_a_single_pass_probability_applies_to_every_grade(tmp_path: Path) -> None:
    scenario = load_toml(
        tmp_path,
        """
        [grades.A]
        share = 0.5
        value = { dist = "fixed", value = 1.0 }
        [grades.C]
        share = 0.5
        value = { dist = "fixed", value = 1.0 }
        [stages.tender]
        pass_probability = 0.25
        [stages.proposal]
        pass_probability = { A = 0.5, C = 0.75 }
        """,
    )
    assert [scenario.stages.tender.pass_for(g) for g in ("A", "C")] == [0.25, 0.25]
    assert [scenario.stages.proposal.pass_for(g) for g in ("A", "C")] == [0.5, 0.75]


def test_horizon_and_arrival_stop_in_days(tmp_path: Path) -> None:
    scenario = load_toml(tmp_path, "[calendar]\nhorizon_months = 12\narrivals_until_months = 6\n")
    assert scenario.calendar.horizon_days == pytest.approx(365.0)
    assert scenario.calendar.arrivals_until_days == pytest.approx(6 * DAYS_PER_MONTH)


@pytest.mark.parametrize(
    ("override", "path", "expected"),
    [
        ("resources.presales.headcount=8", ("resources", "presales", "headcount"), 8),
        ("calendar.drain=true", ("calendar", "drain"), True),
        ("name=variant", ("name",), "variant"),  # a bare word is a string
        ('description="two words"', ("description",), "two words"),
        ("arrivals.rate_per_month=12.5", ("arrivals", "rate_per_month"), 12.5),
        ("stages.tender.duration.mode=40.0", ("stages", "tender", "duration", "mode"), 40.0),
        (
            "stages.negotiation.pass_probability={ A = 0.5, B = 0.6, C = 0.7, D = 0.8 }",
            ("stages", "negotiation", "pass_probability", "C"),
            0.7,
        ),
    ],
)
def test_overrides_take_toml_literals(
    override: str, path: tuple[str, ...], expected: object
) -> None:
    for scenario in (
        kamsim.load_scenario(BASELINE, [override]),
        kamsim.load_scenario(BASELINE).with_overrides([override]),
    ):
        value: object = scenario
        for part in path:
            value = value[part] if isinstance(value, dict) else getattr(value, part)
        assert value == expected


def test_with_overrides_returns_a_new_validated_copy(baseline: kamsim.Scenario) -> None:
    before = baseline.resources.presales.headcount
    variant = baseline.with_overrides([f"resources.presales.headcount={before + 3}"])
    assert variant is not baseline
    assert variant.resources.presales.headcount == before + 3
    assert baseline.resources.presales.headcount == before
    with pytest.raises(kamsim.ScenarioError):
        baseline.with_overrides(["stages.tender.pass_probability=2"])
    with pytest.raises(kamsim.ScenarioError):
        baseline.with_overrides(["calendar.no_such_key=1"])


def test_scenarios_are_frozen(baseline: kamsim.Scenario) -> None:
    with pytest.raises(pydantic.ValidationError):
        baseline.calendar.horizon_months = 3  # type: ignore[misc]


def test_extends_resolves_relative_to_the_extending_file(tmp_path: Path) -> None:
    """grandchild -> ../parent.toml -> root.toml, each path relative to its own file."""
    write_toml(
        tmp_path, "[calendar]\nhorizon_months = 5\n[arrivals]\nrate_per_month = 7.0\n", "root.toml"
    )
    write_toml(tmp_path, 'extends = "root.toml"\n[arrivals]\nrate_per_month = 9.0\n', "parent.toml")
    sub = tmp_path / "sub"
    sub.mkdir()
    child = write_toml(sub, 'extends = "../parent.toml"\nname = "grandchild"\n', "child.toml")
    scenario = kamsim.load_scenario(child)
    assert scenario.name == "grandchild"
    assert scenario.arrivals.rate_per_month == 9.0
    assert scenario.calendar.horizon_months == 5


def test_a_child_can_replace_a_distribution_by_another_kind(tmp_path: Path) -> None:
    """A distribution is one value: a child (or --set) giving a fixed duration where the parent
    has a triangular one must get the fixed one, not a merge of both parameter sets."""
    child = write_toml(
        tmp_path,
        f"""
        extends = "{BASELINE.as_posix()}"
        [stages.tender]
        duration = {{ dist = "fixed", value = 30.0 }}
        """,
    )
    assert kamsim.load_scenario(child).stages.tender.duration == Fixed(value=30.0)
    override = 'stages.tender.duration={ dist = "fixed", value = 30.0 }'
    assert kamsim.load_scenario(BASELINE, [override]).stages.tender.duration == Fixed(value=30.0)


def test_assumptions_name_settings_of_the_scenario(tmp_path: Path) -> None:
    """An assumption names a real setting, with low <= high; the baseline lists several."""
    baseline = kamsim.load_scenario(BASELINE)
    assert len(baseline.assumptions) >= 10
    for key, a in baseline.assumptions.items():
        assert a.low <= a.high, key
    unordered = write_toml(
        tmp_path,
        '[assumptions]\n"repeat.probability" = { low = 0.5, high = 0.1, source = "judgement" }\n',
        "unordered.toml",
    )
    with pytest.raises(kamsim.ScenarioError, match=r"low 0\.5 is above high 0\.1"):
        kamsim.load_scenario(unordered)
    unknown = write_toml(
        tmp_path,
        """
        [assumptions]
        "stages.tender.odds.shaped" = { low = 1.5, high = 3.0 }
        "stages.tender.odds.nonsense" = { low = 1.0, high = 2.0 }
        """,
        "unknown.toml",
    )
    with pytest.raises(kamsim.ScenarioError) as err:
        kamsim.load_scenario(unknown)
    text = str(err.value)
    assert "assumptions.stages.tender.odds.nonsense: names no setting" in text
    assert "odds.shaped" not in text
