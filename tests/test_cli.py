"""The ``kamsim`` command: run writes its tables and manifest; schema; extends and --set."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from constants import BASELINE, OUTPUT_FILES, VARIANT_FILES
from helpers import write_toml
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app


def _read(out: Path) -> dict[str, pd.DataFrame]:
    """The tables of the baseline's folder in a run's output."""
    out = out / "baseline"
    tables = {
        name: pd.read_parquet(out / f"{name}.parquet") for name in ("deals", "events", "timeseries")
    }
    for name in ("kpis", "kpis_by_year"):
        tables[name] = pd.read_csv(out / f"{name}.csv")
    return tables


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("run") / "out"
    result = CliRunner().invoke(
        app, ["run", str(BASELINE), "--reps", "2", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    return out, result.stdout


def test_run_writes_the_shared_layout(baseline_run: tuple[Path, str]) -> None:
    """One folder of tables per variant (a run has one, named after the scenario), then the
    summary, the analytic check and the manifest; parts/ holds the replications as written."""
    out, _ = baseline_run
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert written == sorted([*OUTPUT_FILES, "baseline", "parts"])
    assert sorted(p.name for p in (out / "baseline").iterdir()) == sorted(VARIANT_FILES)
    summary = pd.read_csv(out / "summary.csv")
    kpis = pd.read_csv(out / "baseline" / "kpis.csv")
    bookings = summary[summary["kpi"] == "bookings"].iloc[0]
    assert bookings["variant"] == "baseline"
    assert bookings["mean"] == pytest.approx(kpis["bookings"].mean())


def test_every_table_has_both_replications(baseline_run: tuple[Path, str]) -> None:
    out, _ = baseline_run
    for name, table in _read(out).items():
        assert "replication" in table.columns, name
        assert sorted(set(table["replication"])) == [0, 1], name
    kpis = _read(out)["kpis"]
    assert len(kpis) == 2
    assert (kpis["seed"] == 3).all()


def test_written_tables_are_the_library_tables(
    baseline_run: tuple[Path, str], baseline: kamsim.Scenario
) -> None:
    out, _ = baseline_run
    expected = kamsim.run(baseline, reps=2, seed=3)
    for name, table in _read(out).items():
        want = getattr(expected, name)
        if name == "timeseries":  # dates come back from parquet as timestamps
            table = table.assign(date=pd.to_datetime(table["date"]).dt.date)
        pd.testing.assert_frame_equal(
            table, want, check_dtype=False, check_categorical=False, obj=name
        )


def test_manifest_names_command_scenario_hash_seed_and_versions(
    baseline_run: tuple[Path, str],
) -> None:
    out, _ = baseline_run
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for key in ("plan", "scenarios", "parts", "status", "versions", "created_at"):
        assert key in manifest, key
    plan = manifest["plan"]
    assert plan["command"] == "run"
    assert plan["seed"] == 3
    assert plan["replications"] == 2
    (variant,) = plan["variants"]
    assert variant["label"] == variant["folder"] == "baseline"
    assert re.fullmatch(r"[0-9a-f]{64}", variant["scenario_hash"])
    assert manifest["status"] == "complete"
    assert [p["replication"] for p in manifest["parts"]] == [0, 1]
    assert manifest["versions"]["kamsim"] == kamsim.__version__
    # The resolved scenario in the manifest is complete: it loads back to the same scenario.
    scenario = manifest["scenarios"]["baseline"]
    assert kamsim.Scenario.model_validate(scenario) == kamsim.load_scenario(BASELINE)


def test_run_prints_kpis_with_intervals(baseline_run: tuple[Path, str]) -> None:
    _, stdout = baseline_run
    for kpi in ("bookings", "revenue", "cash", "win_rate", "util_presales"):
        assert kpi in stdout, kpi
    assert "95% CI" in stdout


def _manifest_of(cli: CliRunner, scenario: Path, out: Path, *extra: str) -> dict:
    result = cli.invoke(
        app,
        [
            "run",
            str(scenario),
            "--reps",
            "1",
            "--out",
            str(out),
            "--set",
            "calendar.horizon_months=3",
            "--set",
            "calendar.warmup_months=0",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _hash(manifest: dict) -> str:
    (variant,) = manifest["plan"]["variants"]
    return str(variant["scenario_hash"])


def test_hash_follows_the_resolved_scenario(tmp_path: Path, cli: CliRunner) -> None:
    """Equal hashes for the same world reached two ways, a new hash for a changed one."""
    same = write_toml(tmp_path, f'extends = "{BASELINE.as_posix()}"\n', "same.toml")
    direct = _manifest_of(cli, BASELINE, tmp_path / "a")
    inherited = _manifest_of(cli, same, tmp_path / "b")
    changed = _manifest_of(cli, BASELINE, tmp_path / "c", "--set", "resources.presales.headcount=6")
    assert _hash(direct) == _hash(inherited)
    assert _hash(direct) != _hash(changed)
    assert changed["scenarios"]["baseline"]["resources"]["presales"]["headcount"] == 6


def test_schema_is_json_schema_of_scenarios(cli: CliRunner) -> None:
    result = cli.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "properties" in schema
    for key in ("calendar", "arrivals", "grades", "stages", "resources", "payments", "extends"):
        assert key in schema["properties"], key


CHILD = """
    extends = "{parent}"
    name = "child"

    [arrivals]
    seasonality = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0]

    [resources.presales]
    headcount = 7
"""


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_extends_and_set_combine(tmp_path: Path, cli: CliRunner, how: str) -> None:
    folder = tmp_path / "variants"
    folder.mkdir()
    parent = BASELINE if how == "absolute" else Path(os.path.relpath(BASELINE, folder))
    child = write_toml(folder, CHILD.format(parent=parent.as_posix()), "child.toml")
    manifest = _manifest_of(
        cli, child, tmp_path / "out", "--set", "resources.presales.monthly_cost=1.0"
    )
    (scenario,) = (kamsim.Scenario.model_validate(s) for s in manifest["scenarios"].values())
    base = kamsim.load_scenario(BASELINE)
    assert scenario.name == "child"
    assert scenario.calendar.horizon_months == 3  # --set over the file
    presales = scenario.resources.presales
    assert presales.headcount == 7  # child over parent
    assert presales.deals_per_person == base.resources.presales.deals_per_person  # tables merge
    assert presales.monthly_cost == 1.0
    assert scenario.arrivals.seasonality == [1.0] * 11 + [2.0]  # arrays replace
    assert scenario.arrivals.rate_per_month == base.arrivals.rate_per_month
    assert scenario.grades == base.grades
    assert scenario.stages == base.stages


def test_console_script_runs(tmp_path: Path) -> None:
    """One real process through the installed entry point (or its module if not on PATH)."""
    script = shutil.which("kamsim")
    command = [script] if script else [sys.executable, "-c", "from kamsim.cli import main; main()"]
    proc = subprocess.run(
        [
            *command,
            "run",
            str(BASELINE),
            "--reps",
            "1",
            "--set",
            "calendar.horizon_months=3",
            "--set",
            "calendar.warmup_months=0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "bookings" in proc.stdout
    assert "Traceback" not in proc.stderr
