"""Bad input never crashes: every problem is one readable line naming the field, exit 2.

Each case is a scenario file (or none) plus ``--set`` overrides; both ``kamsim validate`` and
``kamsim run`` must reject it the same way, before simulating anything.
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from constants import BASELINE
from helpers import assert_user_error, write_toml
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app

GOOD = """
    [calendar]
    horizon_months = 2
"""

# id -> (scenario text or None for a missing file, extra files, --set overrides, fragments
# that must appear in stderr). "{file}" in a fragment is the scenario's path.
CASES: dict[str, tuple[str | None, dict[str, str], list[str], list[str]]] = {
    "missing file": (None, {}, [], ["{file}", "not found"]),
    "toml syntax": (
        "[calendar]\nhorizon_months = 12\nstart = = 3\n[arrivals]\nrate_per_month = 3.0\n",
        {},
        [],
        ["{file}:3:", "TOML"],
    ),
    "toml syntax at the end of the file": (
        '[calendar]\nhorizon_months = 12\n[stages.proposal]\npools = ["presales",\n',
        {},
        [],
        ["{file}:4:", "TOML"],
    ),
    "unknown key": (
        "[calendar]\nhorizon_monts = 12\n",
        {},
        [],
        ["{file}:2:", "calendar.horizon_monts", "unknown"],
    ),
    "unknown table": ("[calender]\nhorizon_months = 12\n", {}, [], ["calender"]),
    "wrong type": ('[calendar]\nhorizon_months = "twelve"\n', {}, [], ["calendar.horizon_months"]),
    "wrong type in a table": (
        '[resources.presales]\nheadcount = "five"\n',
        {},
        [],
        ["resources.presales.headcount"],
    ),
    "probability above 1": (
        "[stages.tender]\npass_probability = 1.5\n",
        {},
        [],
        ["stages.tender.pass_probability"],
    ),
    "probability below 0 by grade": (
        "[stages.proposal]\npass_probability = { A = -0.1 }\n",
        {},
        [],
        ["stages.proposal.pass_probability"],
    ),
    "grade shares": (
        '[grades.A]\nshare = 0.5\nvalue = { dist = "fixed", value = 1.0 }\n'
        '[grades.B]\nshare = 0.3\nvalue = { dist = "fixed", value = 1.0 }\n',
        {},
        [],
        ["grades", "sum"],
    ),
    "payment shares": (
        "[payments]\nsigning = 0.3\ndelivery = 0.3\nacceptance = 0.3\n",
        {},
        [],
        ["payments"],
    ),
    "zero headcount for a needed pool": (
        '[stages.proposal]\npools = ["presales"]\n[resources.presales]\nheadcount = 0\n',
        {},
        [],
        ["resources.presales.headcount"],
    ),
    "nan": ("[arrivals]\nrate_per_month = nan\n", {}, [], ["arrivals.rate_per_month"]),
    "inf": ("[arrivals]\nrate_per_month = inf\n", {}, [], ["arrivals.rate_per_month"]),
    "inf in a distribution": (
        '[stages.tender]\nduration = { dist = "exponential", mean = inf }\n',
        {},
        [],
        ["stages.tender.duration"],
    ),
    "unknown distribution": (
        '[stages.tender]\nduration = { dist = "weibull", shape = 2.0 }\n',
        {},
        [],
        ["stages.tender.duration"],
    ),
    "unknown pool": ('[stages.tender]\npools = ["lawyers"]\n', {}, [], ["stages.tender.pools"]),
    "missing parent": ('extends = "missing.toml"\n', {}, [], ["extends", "missing.toml"]),
    "cyclic extends": (
        'extends = "b.toml"\n',
        {"b.toml": 'extends = "scenario.toml"\n'},
        [],
        ["extends", "cyclic"],
    ),
    "--set without =": (GOOD, {}, ["calendar.horizon_months"], ["calendar.horizon_months"]),
    "--set bad key path": (GOOD, {}, ["calendar..horizon_months=3"], ["calendar..horizon_months"]),
    "--set malformed value": (
        GOOD,
        {},
        ["calendar.horizon_months=[1,"],
        ["calendar.horizon_months"],
    ),
    "--set unknown key": (GOOD, {}, ["calendar.horizon=3"], ["calendar.horizon", "unknown"]),
    "--set invalid value": (
        GOOD,
        {},
        ["stages.tender.pass_probability=2"],
        ["stages.tender.pass_probability"],
    ),
    "--set into a scalar": (GOOD, {}, ["name.first=1"], ["name"]),
}


def _args(tmp_path: Path, case: str, command: str) -> tuple[list[str], list[str]]:
    text, extra, overrides, fragments = CASES[case]
    path = tmp_path / "scenario.toml"
    if text is not None:
        write_toml(tmp_path, text)
    for name, body in extra.items():
        write_toml(tmp_path, body, name)
    args = [command, str(path)]
    if command == "run":
        args += ["--reps", "1"]
    for override in overrides:
        args += ["--set", override]
    return args, [f.format(file=path) for f in fragments]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_naming_the_field(
    tmp_path: Path, cli: CliRunner, case: str, command: str
) -> None:
    args, fragments = _args(tmp_path, case, command)
    result = cli.invoke(app, args)
    err = assert_user_error(result, *fragments)
    for line in err.strip().splitlines():
        assert line.startswith("error: "), line
    assert "replication" not in result.stdout  # nothing was simulated


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path, cli: CliRunner) -> None:
    path = write_toml(
        tmp_path,
        """
        [calendar]
        horizon_monts = 12
        [arrivals]
        rate_per_month = nan
        [stages.tender]
        pass_probability = 1.5
        """,
    )
    err = assert_user_error(cli.invoke(app, ["validate", str(path)]))
    lines = err.strip().splitlines()
    assert len(lines) == 3, lines
    for field, line in zip(
        ["calendar.horizon_monts", "arrivals.rate_per_month", "stages.tender.pass_probability"],
        [2, 4, 6],
        strict=True,
    ):
        assert any(f"{path}:{line}: {field}: " in text for text in lines), (field, lines)


def test_problems_carry_field_file_and_line(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[calendar]\nhorizon_months = 12\nhorizon_monts = 12\n")
    with pytest.raises(kamsim.ScenarioError) as caught:
        kamsim.load_scenario(path)
    (problem,) = caught.value.problems
    assert problem.where == "calendar.horizon_monts"
    assert Path(problem.file or "").resolve() == path.resolve()
    assert problem.line == 3
    text = str(problem)
    assert "\n" not in text
    assert re.fullmatch(rf"{re.escape(str(problem.file))}:3: calendar\.horizon_monts: .+", text)


def test_reps_below_one_is_rejected(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", str(BASELINE), "--reps", "0"])
    assert_user_error(result, "--reps")


def test_console_errors_without_traceback_in_a_real_process(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[stages.tender]\npass_probability = 1.5\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from kamsim.cli import main; main()", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("error: ")
    assert "stages.tender.pass_probability" in proc.stderr


def test_a_scenario_error_survives_pickling_whole() -> None:
    """Worker processes hand errors back pickled: the problems must arrive as they left."""
    err = kamsim.ScenarioError([kamsim.errors.Problem("calendar.horizon_months", "too long")])
    back = pickle.loads(pickle.dumps(err))
    assert back.problems == err.problems
    assert str(back) == str(err)
