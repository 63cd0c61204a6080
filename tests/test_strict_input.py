"""Strict input: wrong types are errors, one error type per kind of problem, checks before work.

- A scenario value of the wrong type is never coerced; dates are a TOML date or ISO text.
- Scenario problems raise ``ScenarioError`` from every entry point (file, dict, overrides).
- Argument problems raise ``ValueError`` naming the argument, before any work.
- ``--out`` and ``--seed`` are checked before simulating; written files respect the umask.
- The exported JSON Schema accepts every bundled scenario (checked with ``jsonschema``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from constants import BASELINE, SCENARIOS
from helpers import assert_user_error, jsonable, write_toml
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app

BUNDLED = sorted(SCENARIOS.glob("*.toml"))


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[calendar]\nhorizon_months = "12"\n', "calendar.horizon_months"),
        ("[calendar]\nhorizon_months = 12.0\n", "calendar.horizon_months"),
        ('[calendar]\ndrain = "yes"\n', "calendar.drain"),
        ("[calendar]\ndrain = 1\n", "calendar.drain"),
        ("[resources.presales]\nheadcount = true\n", "resources.presales.headcount"),
        ("[resources.presales]\nheadcount = 2.5\n", "resources.presales.headcount"),
        ("[grades.A]\nshare = 1.0\naccounts = 7.5\nvalue = 1.0\n", "grades.A.accounts"),
        ('[arrivals]\nrate_per_month = "3"\n', "arrivals.rate_per_month"),
        ("[arrivals]\nrate_per_month = true\n", "arrivals.rate_per_month"),
        ("[calendar]\nstart = 20270101\n", "calendar.start"),
        ('[calendar]\nstart = "next monday"\n', "calendar.start"),
        ("[calendar]\nstart = 2027-01-01T08:00:00\n", "calendar.start"),
        ("name = 3\n", "name"),
        ('[policy]\nexecutive_engagement = ["proposal"]\n', "policy.executive_engagement"),
    ],
)
def test_wrong_types_are_errors_naming_the_field(tmp_path: Path, toml: str, field: str) -> None:
    path = write_toml(tmp_path, toml)
    with pytest.raises(kamsim.ScenarioError) as err:
        kamsim.load_scenario(path)
    assert field in [p.where for p in err.value.problems], str(err.value)


def test_dates_are_a_toml_date_or_iso_text(tmp_path: Path) -> None:
    as_date = kamsim.load_scenario(write_toml(tmp_path, "[calendar]\nstart = 2028-03-01\n"))
    as_text = kamsim.load_scenario(write_toml(tmp_path, '[calendar]\nstart = "2028-03-01"\n'))
    assert as_date.calendar.start == as_text.calendar.start == dt.date(2028, 3, 1)


def test_with_overrides_round_trips_every_bundled_scenario() -> None:
    for path in BUNDLED:
        scenario = kamsim.load_scenario(path)
        assert scenario.with_overrides([]) == scenario, path.name
        assert scenario.with_overrides({}) == scenario, path.name


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n   # another\n"])
def test_an_empty_file_is_an_error(tmp_path: Path, text: str, cli: CliRunner) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(kamsim.ScenarioError, match="scenario is empty"):
        kamsim.load_scenario(path)
    assert_user_error(cli.invoke(app, ["validate", str(path)]), "scenario is empty")


def test_scenario_errors_from_every_entry_point(baseline: kamsim.Scenario) -> None:
    bad = {"calendar": {"horizon_months": "12"}}
    for build in (
        lambda: kamsim.Scenario.model_validate(bad),
        lambda: kamsim.Scenario(**bad),
        lambda: baseline.with_overrides(["calendar.horizon_months='12'"]),
        lambda: baseline.with_overrides({"calendar.horizon_months": "12"}),
    ):
        with pytest.raises(kamsim.ScenarioError) as err:
            build()
        assert [p.where for p in err.value.problems] == ["calendar.horizon_months"]


def test_nesting_beyond_the_limit_is_one_error(tmp_path: Path, cli: CliRunner) -> None:
    deep = "{ a = " * 500 + "1" + " }" * 500
    path = write_toml(tmp_path, f"[stages.tender]\nodds = {deep}\n")
    assert_user_error(cli.invoke(app, ["validate", str(path)]), "nested")
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(500):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(kamsim.ScenarioError, match="nested"):
        kamsim.Scenario.model_validate({"stages": {"tender": {"odds": nested}}})


class TestOverrideForms:
    """A list of key=value strings, a mapping of dotted keys, or one string: all the same."""

    def test_the_three_forms_agree(self, baseline: kamsim.Scenario) -> None:
        dist = {"dist": "fixed", "value": 3.0}
        as_list = baseline.with_overrides(
            ["resources.presales.headcount=7", 'stages.tender.duration={dist="fixed",value=3.0}']
        )
        as_map = baseline.with_overrides(
            {"resources.presales.headcount": 7, "stages.tender.duration": dist}
        )
        assert as_list == as_map
        one = baseline.with_overrides("resources.presales.headcount=7")
        assert one.resources.presales.headcount == 7
        loaded = kamsim.load_scenario(BASELINE, "resources.presales.headcount=7")
        assert loaded == one
        assert kamsim.load_scenario(BASELINE, {"resources.presales.headcount": 7}) == one

    def test_one_string_is_one_override_not_one_per_character(
        self, baseline: kamsim.Scenario
    ) -> None:
        with pytest.raises(kamsim.ScenarioError) as err:
            baseline.with_overrides("resources.presales.headcount=seven")
        assert len(err.value.problems) == 1

    @pytest.mark.parametrize("overrides", [5, [1, 2], {3: 4}, b"a=1", [["a=1"]]])
    def test_wrong_shapes_are_value_errors(
        self, baseline: kamsim.Scenario, overrides: object
    ) -> None:
        with pytest.raises(ValueError, match="overrides") as err:
            baseline.with_overrides(overrides)  # type: ignore[arg-type]
        assert not isinstance(err.value, kamsim.ScenarioError)
        with pytest.raises(ValueError, match="overrides"):
            kamsim.load_scenario(BASELINE, overrides)  # type: ignore[arg-type]

    def test_a_multi_line_set_value_is_refused(self, baseline: kamsim.Scenario) -> None:
        with pytest.raises(kamsim.ScenarioError, match="one line"):
            baseline.with_overrides(["name=1\ndescription='x'"])


class TestArguments:
    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"seed": -1}, "seed"),
            ({"seed": 2**64}, "seed"),
            ({"seed": 1.5}, "seed"),
            ({"seed": True}, "seed"),
            ({"seed": "1"}, "seed"),
            ({"replication": -1}, "replication"),
        ],
    )
    def test_simulate(self, baseline: kamsim.Scenario, kwargs: dict, name: str) -> None:
        with pytest.raises(ValueError, match=name):
            kamsim.simulate(baseline, **kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [({"reps": 0}, "reps"), ({"reps": 2.0}, "reps"), ({"seed": -3}, "seed")],
    )
    def test_run(self, baseline: kamsim.Scenario, kwargs: dict, name: str) -> None:
        with pytest.raises(ValueError, match=name):
            kamsim.run(baseline, **kwargs)

    def test_scenario_must_be_a_scenario(self) -> None:
        for call in (kamsim.simulate, kamsim.run):
            with pytest.raises(ValueError, match="scenario"):
                call(str(BASELINE))  # type: ignore[arg-type]

    def test_the_largest_seed_runs(self, tmp_path: Path) -> None:
        tiny = kamsim.load_scenario(
            BASELINE, ["calendar.horizon_months=1", "calendar.warmup_months=0"]
        )
        result = kamsim.run(tiny, reps=1, seed=2**63 - 1)
        assert int(result.kpis["seed"].iloc[0]) == 2**63 - 1


class TestBeforeTheWork:
    """Option problems stop the CLI at once: nothing is simulated."""

    @pytest.fixture
    def no_simulation(self, monkeypatch: pytest.MonkeyPatch) -> list[object]:
        calls: list[object] = []
        monkeypatch.setattr("kamsim.experiment.experiment", lambda *a, **k: calls.append(a))
        return calls

    def test_out_naming_a_file(
        self, tmp_path: Path, cli: CliRunner, no_simulation: list[object]
    ) -> None:
        target = tmp_path / "results.csv"
        target.write_text("keep me\n", encoding="utf-8")
        result = cli.invoke(app, ["run", str(BASELINE), "--out", str(target)])
        assert_user_error(result, "--out", "not a folder")
        assert no_simulation == []
        assert target.read_text(encoding="utf-8") == "keep me\n"

    def test_out_under_a_file(
        self, tmp_path: Path, cli: CliRunner, no_simulation: list[object]
    ) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("", encoding="utf-8")
        result = cli.invoke(app, ["run", str(BASELINE), "--out", str(blocker / "a" / "b")])
        assert_user_error(result, "--out", "is a file")
        assert no_simulation == []

    @pytest.mark.parametrize("seed", ["100000000000000000000", "-1", "1.5", "x"])
    def test_bad_seed(self, cli: CliRunner, seed: str, no_simulation: list[object]) -> None:
        assert_user_error(cli.invoke(app, ["run", str(BASELINE), "--seed", seed]), "--seed")
        assert no_simulation == []


def test_written_files_respect_the_umask(tmp_path: Path, cli: CliRunner) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        result = cli.invoke(
            app,
            [
                "run",
                str(BASELINE),
                "--reps",
                "1",
                "--set",
                "calendar.horizon_months=2",
                "--set",
                "calendar.warmup_months=0",
                "--out",
                str(out),
            ],
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) == 13  # 5 tables, 5 in parts/, the summary, check and manifest
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(CliRunner().invoke(app, ["schema"]).stdout)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_the_exported_schema_accepts_every_bundled_scenario(
    path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    data = jsonable(tomllib.loads(path.read_text(encoding="utf-8")))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema_validator.iter_errors(data)]
    assert errors == []


def test_the_exported_schema_rejects_wrong_types(
    schema_validator: jsonschema.protocols.Validator,
) -> None:
    """A negative control: the schema is not vacuous."""
    for bad in (
        {"calendar": {"horizon_months": "12"}},
        {"stages": {"tender": {"pass_probability": "high"}}},
        {"resources": {"presales": {"headcount": True}}},
        {"no_such_table": {}},
    ):
        assert list(schema_validator.iter_errors(bad)), bad
