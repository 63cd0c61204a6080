"""Experiments: every (variant, replication) on any executor, in a deterministic order, with
common random numbers across variants and a run store that survives a kill.

Small scenarios keep it quick: the baseline over 18 months with a 6-month warm-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE

import kamsim
from kamsim import experiment as experiment_module
from kamsim.experiment import experiment, grid, resolve_variants

SHORT = {"calendar.horizon_months": 18, "calendar.warmup_months": 6}
VARIANTS = {
    "base": {},
    "presales +2": {"resources.presales.headcount": 10},
    "exec early": {"policy.executive_engagement": "proposal"},
}


@pytest.fixture(scope="module")
def short() -> kamsim.Scenario:
    return kamsim.load_scenario(BASELINE, SHORT)


@pytest.fixture(scope="module")
def serial(short: kamsim.Scenario) -> kamsim.experiment.Experiment:
    return experiment(VARIANTS, reps=4, seed=11, base=short, workers=1, progress=False, deals=True)


def test_tables_are_tidy_and_in_variant_then_replication_order(serial) -> None:
    kpis = serial.kpis
    assert list(kpis.columns[:3]) == ["variant", "replication", "seed"]
    assert isinstance(kpis["variant"].dtype, pd.CategoricalDtype)
    assert list(kpis["variant"].cat.categories) == list(VARIANTS)
    assert list(zip(kpis["variant"], kpis["replication"], strict=True)) == [
        (v, r) for v in VARIANTS for r in range(4)
    ]
    for table in (serial.timeseries, serial.kpis_by_year, serial.deals):
        assert table is not None and table.columns[0] == "variant"
        assert list(table["variant"].unique()) == list(VARIANTS)
    assert serial.failures.empty


def test_the_same_results_on_two_processes_and_on_a_dask_cluster(short, serial, tmp_path) -> None:
    """The API on two processes and on a Dask cluster, and ``kamsim run --executor dask
    --scheduler ADDRESS`` on the same cluster, give the serial tables."""
    from typer.testing import CliRunner

    from kamsim.cli import app

    parallel = experiment(VARIANTS, reps=4, seed=11, base=short, workers=2, progress=False)
    pd.testing.assert_frame_equal(parallel.kpis, serial.kpis)
    pd.testing.assert_frame_equal(parallel.timeseries, serial.timeseries)
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c,
        distributed.Client(c) as client,
    ):
        on_dask = experiment(
            VARIANTS, reps=4, seed=11, base=short, executor=client.get_executor(), progress=False
        )
        out = tmp_path / "on-dask"
        shorter = [f"--set={k}={v}" for k, v in SHORT.items()]
        cli = CliRunner().invoke(
            app,
            [
                "run",
                str(BASELINE),
                *shorter,
                "--reps",
                "4",
                "--seed",
                "11",
                "--quiet",
                "--executor",
                "dask",
                "--scheduler",
                c.scheduler_address,
                "--out",
                str(out),
            ],
        )
    pd.testing.assert_frame_equal(on_dask.kpis, serial.kpis)
    pd.testing.assert_frame_equal(on_dask.kpis_by_year, serial.kpis_by_year)
    assert cli.exit_code == 0, cli.output
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "baseline" / "kpis.csv"),
        serial.table_of("kpis", "base"),
        check_dtype=False,
    )


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        (["--executor", "dask"], ["--executor dask: needs --scheduler ADDRESS"]),
        (["--scheduler", "tcp://10.0.0.5:8786"], ["--scheduler: needs --executor dask"]),
        (
            ["--executor", "dask", "--workers", "2", "--precision-kpi", "profit"],
            [
                "--precision-kpi: 'profit' is not a KPI",
                "--executor dask: needs --scheduler ADDRESS",
                "--workers: the Dask cluster sets the workers",
            ],
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "sweep", "sensitivity", "compare"])
def test_option_problems_are_listed_before_any_work(
    command: str, options: list[str], problems: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kamsim.cli import app

    calls: list[object] = []
    monkeypatch.setattr("kamsim.experiment.experiment", lambda *a, **k: calls.append(a))
    monkeypatch.setattr("kamsim.analytic.check", lambda *a, **k: calls.append(a))
    args = {
        "run": [str(BASELINE)],
        "sweep": [str(BASELINE), "--grid", "resources.presales.headcount=8,9"],
        "sensitivity": [str(BASELINE)],
        "compare": ["baseline", "exec-early"],
    }[command]
    result = CliRunner().invoke(app, [command, *args, *options])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {p}" for p in problems]
    assert calls == []


def test_variants_meet_the_same_customers(serial) -> None:
    """Staffing and policy variants: every new lead arrives at the same time with the same
    grade, account, value and margin, and a follow-on with the same id is the same lead."""
    columns = ["replication", "deal_id", "arrived_at", "grade", "account_id", "value", "margin"]
    deals = serial.deals
    assert deals is not None
    frames = {v: deals.loc[deals["variant"] == v, columns] for v in VARIANTS}
    base = frames["base"].set_index(["replication", "deal_id"])
    for label in list(VARIANTS)[1:]:
        other = frames[label].set_index(["replication", "deal_id"])
        both = base.index.intersection(other.index)
        new = both[both.get_level_values("deal_id") < 10_000_000]
        assert len(new) == (base.index.get_level_values("deal_id") < 10_000_000).sum()
        pd.testing.assert_frame_equal(base.loc[both], other.loc[both])
    # The control: another seed meets other customers.
    other_seed = experiment(
        {"base": {}},
        reps=1,
        seed=12,
        base=serial.scenarios["base"],
        workers=1,
        progress=False,
        deals=True,
    ).deals
    assert other_seed is not None
    assert not np.array_equal(
        other_seed["arrived_at"].to_numpy()[:50], base.loc[0]["arrived_at"].to_numpy()[:50]
    )


def test_common_random_numbers_halve_the_variance_of_a_difference() -> None:
    """Baseline against exec-early: the variance of the paired difference in bookings is below
    half of what independent sampling would give (the sum of the two variances)."""
    result = experiment(["baseline", "exec-early"], reps=20, seed=3, workers=2, progress=False)
    a = result.kpis.loc[result.kpis["variant"] == "baseline", "bookings"].to_numpy()
    b = result.kpis.loc[result.kpis["variant"] == "exec-early", "bookings"].to_numpy()
    ratio = np.var(b - a, ddof=1) / (np.var(a, ddof=1) + np.var(b, ddof=1))
    print(f"paired / independent variance of the bookings difference: {ratio:.3f}")
    assert ratio < 0.5


def test_variants_by_name_file_scenario_and_grid(short: kamsim.Scenario) -> None:
    resolved = resolve_variants(["baseline", BASELINE.parent / "exec-early.toml"])
    assert list(resolved) == ["baseline", "exec-early"]
    assert resolve_variants({"mine": short})["mine"] is short
    points = grid({"resources.presales.headcount": [8, 10], "policy.bid_min_margin": [0.0, 0.1]})
    assert list(points)[1] == "resources.presales.headcount=8, policy.bid_min_margin=0.1"
    labelled = resolve_variants(list(points.values()), base=short)
    assert list(labelled) == list(points)
    assert labelled[list(points)[3]].resources.presales.headcount == 10
    with pytest.raises(ValueError, match="overrides need a base"):
        resolve_variants([{"resources.presales.headcount": 9}])
    with pytest.raises(ValueError, match="used twice"):
        resolve_variants(["baseline", "baseline"])


# -- the run store ------------------------------------------------------------------------------

RUNNER = textwrap.dedent(
    """
    import sys
    import kamsim
    from kamsim.experiment import experiment

    base = kamsim.load_scenario(sys.argv[1], {"calendar.horizon_months": 18,
                                              "calendar.warmup_months": 6})
    experiment({"base": {}, "more": {"resources.presales.headcount": 10}}, reps=int(sys.argv[3]),
               seed=5, base=base, workers=1, out=sys.argv[2], resume=sys.argv[4] == "resume",
               progress=False)
    """
)


def _runner(tmp_path: Path, out: Path, reps: int, mode: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER, encoding="utf-8")
    return subprocess.Popen([sys.executable, str(script), str(BASELINE), str(out), str(reps), mode])


def _parts(out: Path) -> list[Path]:
    partial = out.with_name(out.name + ".partial")
    return sorted(p for p in (partial / "parts").glob("*/r*") if p.is_dir())


def test_a_killed_run_resumes_without_losing_or_recomputing_a_replication(
    tmp_path: Path,
) -> None:
    reps = 8
    out = tmp_path / "run"
    whole = tmp_path / "whole"
    assert _runner(tmp_path, whole, reps, "fresh").wait(timeout=300) == 0
    # An earlier run in the folder stays whole until the new one has completed.
    assert _runner(tmp_path, out, 2, "fresh").wait(timeout=300) == 0
    before = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    proc = _runner(tmp_path, out, reps, "fresh")
    deadline = time.monotonic() + 300
    while len(_parts(out)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p: p.stat().st_mtime_ns for p in _parts(out)}
    assert 5 <= len(kept) < 2 * reps
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == before
    # Resume: the finished parts are read back, not recomputed, and the tables match.
    assert _runner(tmp_path, out, reps, "resume").wait(timeout=300) == 0
    for part, mtime in kept.items():
        moved = out / part.relative_to(out.with_name(out.name + ".partial"))
        assert moved.stat().st_mtime_ns == mtime
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete" and len(manifest["parts"]) == 2 * reps
    for folder in ("base", "more"):
        for name in ("deals.parquet", "events.parquet", "timeseries.parquet"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(out / folder / name), pd.read_parquet(whole / folder / name)
            )
        for name in ("kpis.csv", "kpis_by_year.csv"):
            pd.testing.assert_frame_equal(
                pd.read_csv(out / folder / name), pd.read_csv(whole / folder / name)
            )


def test_resume_refuses_a_folder_of_another_run(tmp_path: Path, short: kamsim.Scenario) -> None:
    out = tmp_path / "run"
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "manifest.json").write_text('{"plan": {"seed": 99}}', encoding="utf-8")
    with pytest.raises(kamsim.ScenarioError, match="other scenarios, seed or replications"):
        experiment(
            {"base": {}},
            reps=2,
            seed=1,
            base=short,
            workers=1,
            out=out,
            resume=True,
            progress=False,
        )


def test_a_failing_replication_is_recorded_and_the_others_kept(
    tmp_path: Path, short: kamsim.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = experiment_module._replicate

    def flaky(rules, seed, replication):
        if replication == 1:
            raise RuntimeError("disk on fire")
        return real(rules, seed, replication)

    monkeypatch.setattr(experiment_module, "_replicate", flaky)
    out = tmp_path / "run"
    result = experiment(
        {"base": {}}, reps=3, seed=2, base=short, workers=1, out=out, progress=False
    )
    assert result.failures.to_dict("records") == [
        {"variant": "base", "replication": 1, "error": "RuntimeError: disk on fire"}
    ]
    assert list(result.kpis["replication"]) == [0, 2]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
    failed = [p for p in manifest["parts"] if p["status"] == "failed"]
    assert failed == [
        {
            "variant": "base",
            "replication": 1,
            "status": "failed",
            "error": "RuntimeError: disk on fire",
        }
    ]
    error = json.loads((out / "parts" / "base" / "r000001.error.json").read_text("utf-8"))
    assert error["seed"] == 2 and error["replication"] == 1
    assert list(pd.read_csv(out / "base" / "kpis.csv")["replication"]) == [0, 2]


def test_stacking_results_of_different_scenarios_is_refused(short: kamsim.Scenario) -> None:
    a = kamsim.simulate(short, seed=1)
    b = kamsim.simulate(short.with_overrides({"resources.presales.headcount": 10}), seed=1)
    with pytest.raises(ValueError, match="one scenario and seed"):
        kamsim.results.concat_results([a, b])
    with pytest.raises(ValueError, match="one scenario and seed"):
        kamsim.results.concat_results([a, kamsim.simulate(short, seed=2)])
    assert (
        len(kamsim.results.concat_results([a, kamsim.simulate(short, seed=1, replication=1)]).kpis)
        == 2
    )


def test_categories_survive_stacking_variants_with_different_exit_reasons(
    short: kamsim.Scenario,
) -> None:
    renamed = short.with_overrides({"stages.tender.exit_reason": "outbid"})
    result = experiment(
        {"a": short, "b": renamed}, reps=1, seed=1, workers=1, progress=False, deals=True
    )
    assert result.deals is not None
    for column in ("grade", "last_stage", "outcome"):
        assert isinstance(result.deals[column].dtype, pd.CategoricalDtype), column
    reasons = set(result.deals["exit_reason"].dropna())
    assert {"bid_lost", "outbid"} <= reasons


# -- kamsim compare -----------------------------------------------------------------------------


def test_compare_prints_paired_effects_and_writes_the_layout(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kamsim.cli import app

    (tmp_path / "base.toml").write_text(
        f'extends = "{BASELINE.as_posix()}"\nname = "short"\n'
        "[calendar]\nhorizon_months = 18\nwarmup_months = 6\n",
        encoding="utf-8",
    )
    for name, table in (("hire", "resources.presales"), ("cut", "resources.delivery")):
        value = 10 if name == "hire" else 7
        (tmp_path / f"{name}.toml").write_text(
            f'extends = "base.toml"\nname = "{name}"\n[{table}]\nheadcount = {value}\n',
            encoding="utf-8",
        )
    out = tmp_path / "cmp"
    args = [str(tmp_path / f) for f in ("base.toml", "hire.toml", "cut.toml")]
    result = CliRunner().invoke(
        app, ["compare", *args, "--reps", "3", "--workers", "1", "--quiet", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "hire vs short, paired, 3 replications" in result.stdout
    assert "Bonferroni for 2 comparisons" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "check.json",
        "comparison.csv",
        "cut",
        "hire",
        "manifest.json",
        "parts",
        "short",
        "summary.csv",
    ]
    table = pd.read_csv(out / "comparison.csv")
    hire = table[(table["variant"] == "hire") & (table["kpi"] == "cost_of_sale")].iloc[0]
    assert hire["difference"] == pytest.approx(2 * 40000.0 * 12)  # two engineers, 12 months
    assert hire["better_share"] == 0.0  # a cost that rose is never better
    assert np.allclose(table["level"], 1 - 0.05 / 2)
    kpis = pd.concat(
        [pd.read_csv(out / v / "kpis.csv").assign(variant=v) for v in ("short", "hire")]
    )
    a = kpis[kpis["variant"] == "short"]["bookings"].to_numpy()
    b = kpis[kpis["variant"] == "hire"]["bookings"].to_numpy()
    row = table[(table["variant"] == "hire") & (table["kpi"] == "bookings")].iloc[0]
    assert row["difference"] == pytest.approx(float(np.mean(b - a)))
    assert row["better_share"] == pytest.approx(float(np.mean(b > a)))


def test_a_precision_target_adds_replications_until_met_or_capped(short: kamsim.Scenario) -> None:
    from kamsim.intervals import needed

    met = experiment(
        {"base": {}}, reps=3, seed=6, base=short, workers=1, progress=False, precision=0.05, batch=2
    )
    values = met.kpis["bookings"].to_numpy()
    assert met.reps == len(values) > 3
    assert needed(values, 0.05).met
    assert not needed(values[:3], 0.05).met  # the first replications were not enough
    assert "below 5.0% after" in met.note
    capped = experiment(
        {"base": {}},
        reps=3,
        seed=6,
        base=short,
        workers=1,
        progress=False,
        precision=0.001,
        max_reps=5,
        batch=2,
    )
    assert capped.reps == 5 and "cap of 5 replications was reached" in capped.note


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_the_commands_take_a_precision_target(command: str, tmp_path: Path) -> None:
    """``--precision`` adds replications in every experiment command: here a target too
    strict to meet, so the cap is reached, said, and every table holds the cap's replications."""
    from typer.testing import CliRunner

    from kamsim.cli import app

    out = tmp_path / command
    grid_ = ["--grid", "resources.presales.headcount=8,9"] if command == "sweep" else []
    shorter = [f"--set={k}={v}" for k, v in SHORT.items()]
    result = CliRunner().invoke(
        app,
        [
            command,
            str(BASELINE),
            *grid_,
            *shorter,
            "--reps",
            "2",
            "--workers",
            "1",
            "--quiet",
            "--precision",
            "0.0001",
            "--max-reps",
            "4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "precision: bookings: the cap of 4 replications was reached" in result.stdout
    folders = [p for p in out.iterdir() if p.is_dir() and p.name != "parts"]
    assert len(folders) == (2 if command == "sweep" else 1)
    for folder in folders:
        assert list(pd.read_csv(folder / "kpis.csv")["replication"]) == [0, 1, 2, 3]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["n"]) <= {4}
