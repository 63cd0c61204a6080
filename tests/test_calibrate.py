"""``kamsim calibrate``: honest estimates from a CRM export, and a scenario that runs.

Censoring: on data with a known win probability where wins take longer than losses, dropping
the open deals biases the win rate; the competing-risks estimate does not. Round trip: kamsim
simulates a scenario with one recorded stage, its deals are exported as a CRM table, and the
calibration's 95% intervals for the arrival rate and the win probability cover the truth over
K data sets at close to the nominal rate, and so does the fitted mean cycle of won deals.
The bundled synthetic export and the public sample (skipped where absent) calibrate; records
after the as-of date change nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from constants import CRM_SAMPLE
from helpers import needs_sample
from scipy.stats import binom

import kamsim
from kamsim.calibrate import calendar_pvalue, calibrate
from kamsim.cli import app
from kamsim.crm import example, read_crm
from kamsim.scenario import Scenario

MAPPING = """\
shape = "opportunities"
created_stage = "proposal"

[columns]
id = "id"
stage = "stage"
created = "created"
closed = "closed"
value = "value"
owner = "owner"
product = "product"

[stages]
Open = "proposal"
Won = "won"
Lost = "lost"
"""

START = dt.date(2024, 1, 1)


def write_export(folder: Path, deals: pd.DataFrame) -> tuple[Path, Path]:
    """``deals`` (id, owner, product, stage, created, closed, value) as a CRM export in
    ``folder`` with its mapping file."""
    folder.mkdir(parents=True, exist_ok=True)
    table = deals.copy()
    for column in ("created", "closed"):
        table[column] = [
            "" if pd.isna(x) else pd.Timestamp(x).strftime("%Y-%m-%d") for x in table[column]
        ]
    table["value"] = ["" if pd.isna(v) else f"{v:.2f}" for v in table["value"]]
    path = folder / "deals.csv"
    table.to_csv(path, index=False)
    mapping = folder / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return path, mapping


def synthetic_deals(
    rng: np.random.Generator, months: int, rate: float, win: float
) -> tuple[pd.DataFrame, dt.date]:
    """Poisson leads over ``months``; a win takes a lognormal time of mean 150 days, a loss
    one of mean 25 days, so the deals open at the end are mostly future wins."""
    days = months * 365 / 12
    n = rng.poisson(rate * months)
    arrived = np.sort(rng.uniform(0, days, n))
    wins = rng.random(n) < win
    won_time = rng.lognormal(math.log(150) - 0.5 * math.log1p(0.25), math.sqrt(math.log1p(0.25)), n)
    lost_time = rng.lognormal(math.log(25) - 0.5 * math.log1p(0.25), math.sqrt(math.log1p(0.25)), n)
    close = arrived + np.where(wins, won_time, lost_time)
    as_of = START + dt.timedelta(days=int(days) - 1)
    start = pd.Timestamp(START)
    created = start + pd.to_timedelta(np.floor(arrived), unit="D")
    closed = start + pd.to_timedelta(np.floor(close), unit="D")
    deals = pd.DataFrame(
        {
            "id": [f"D{i:05d}" for i in range(n)],
            "owner": [f"owner {i % 5}" for i in range(n)],
            "product": "Core",
            "stage": np.where(wins, "Won", "Lost"),
            "created": created,
            "closed": closed,
            "value": np.where(wins, rng.lognormal(8, 0.4, n), np.nan),
        }
    )
    return deals, as_of


def test_censoring_drop_open_biases_competing_risks_does_not(tmp_path: Path) -> None:
    truth = 0.4
    deals, as_of = synthetic_deals(np.random.default_rng(7), 12, 120, truth)
    path, mapping = write_export(tmp_path, deals)
    cal = calibrate(read_crm(path, mapping), as_of.isoformat())
    est = cal.estimate("win_probability")
    naive = cal.estimate("win_rate_closed_only").value
    half = (est.high - est.low) / 2
    open_deals = read_crm(path, mapping).opportunities(as_of.isoformat())["outcome"] == "open"
    assert open_deals.sum() > 100  # many deals still open
    assert abs(est.value - truth) < 3 * half
    assert truth - naive > 3 * half  # dropping open deals: far too low


def simulated_export(seed: int) -> tuple[pd.DataFrame, dt.date]:
    scenario = Scenario.model_validate(
        {
            "calendar": {"start": START, "horizon_months": 24, "currency": "USD"},
            "arrivals": {"rate_per_month": 30.0},
            "grades": {"A": {"share": 1.0, "value": {"dist": "lognormal", "mean": 5e3, "cv": 0.4}}},
            "stages": {
                "proposal": {
                    "duration": {"dist": "lognormal", "mean": 60.0, "cv": 0.6},
                    "pass_probability": 0.3,
                }
            },
        }
    )
    return as_export(kamsim.simulate(scenario, seed=seed).deals), START + dt.timedelta(days=729)


def as_export(deals: pd.DataFrame, owners: int = 1) -> pd.DataFrame:
    """A run's deals table as the rows of a one-row-per-opportunity CRM export (id, owner,
    product, stage, created, closed, value), the run starting on ``START``."""
    start = pd.Timestamp(START)
    outcome = deals["outcome"].astype(str)
    closed_at = deals["signed_at"].where(outcome == "won", deals["closed_at"])
    return pd.DataFrame(
        {
            "id": [f"S{i:05d}" for i in deals["deal_id"]],
            "owner": [f"owner {i % owners}" for i in deals["deal_id"]],
            "product": "Core",
            "stage": outcome.map({"won": "Won", "lost": "Lost", "open": "Open"}),
            "created": start + pd.to_timedelta(np.floor(deals["arrived_at"]), unit="D"),
            "closed": [
                pd.NaT if o == "open" else start + pd.Timedelta(days=math.floor(c))
                for o, c in zip(outcome, closed_at, strict=True)
            ],
            "value": deals["value"].where(outcome == "won"),
        }
    )


def test_round_trip_intervals_cover_the_truth(tmp_path: Path) -> None:
    k = 20
    truth = {"arrivals.rate_per_month": 30.0, "win_probability": 0.3, "cycle_days_won.mean": 60.0}
    covered = dict.fromkeys(truth, 0)
    for seed in range(k):
        deals, as_of = simulated_export(seed)
        path, mapping = write_export(tmp_path / str(seed), deals)
        cal = calibrate(read_crm(path, mapping), as_of.isoformat())
        for name in covered:
            e = cal.estimate(name)
            covered[name] += e.low <= truth[name] <= e.high
    # at least the count a 95% interval reaches with probability 0.99 over k data sets
    least = int(binom.ppf(0.01, k, 0.95))
    assert all(c >= least for c in covered.values()), covered


def test_bundled_export_calibrates_and_checks(tmp_path: Path, cli: object) -> None:
    from typer.testing import CliRunner

    runner = cli if isinstance(cli, CliRunner) else CliRunner()
    out = tmp_path / "calibrated.toml"
    result = runner.invoke(
        app, ["calibrate", str(example()), "--out", str(out), "--report", str(tmp_path / "f.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "win_probability" in result.output
    assert "repaired:" in result.output
    scenario = kamsim.load_scenario(out)
    assert scenario.stages.tender.duration.mean == 0.0
    assert scenario.stages.tender.pass_probability == {g: 1.0 for g in scenario.grades}
    text = out.read_text(encoding="utf-8")
    assert "# From data:" in text and "Pass-through" in text
    tomllib.loads(text)
    check = runner.invoke(app, ["check", str(out)])
    assert check.exit_code == 0, check.output
    assert not kamsim.check(scenario).overloaded
    report = pd.read_csv(tmp_path / "f.csv")
    assert set(report["source"]) <= {"data", "assumption"}


@needs_sample
def test_public_sample_calibrates_and_finds_quarter_end_wins() -> None:
    cal = calibrate(read_crm(CRM_SAMPLE))
    cal.scenario()
    assert cal.window[0] == pd.Timestamp("2017-03-01")  # left-truncated start
    won = cal.estimate("calendar.won.quarter_end_ratio")
    lost = cal.estimate("calendar.lost.quarter_end_ratio")
    assert won.low > 1.0 and lost.high < 1.0
    assert calendar_pvalue(cal, "won") < 1e-6
    assert calendar_pvalue(cal, "lost") < 1e-6


def test_no_leakage_after_as_of(tmp_path: Path) -> None:
    deals, _ = synthetic_deals(np.random.default_rng(3), 12, 40, 0.4)
    as_of = "2024-09-30"
    base_path, mapping = write_export(tmp_path / "a", deals)
    changed = deals.copy()
    later = changed["closed"] > pd.Timestamp(as_of)
    changed.loc[later, "stage"] = np.where(changed.loc[later, "stage"] == "Won", "Lost", "Won")
    changed.loc[later, "closed"] = changed.loc[later, "closed"] + pd.Timedelta(days=5)
    changed.loc[later, "value"] = 1.0
    extra = changed.tail(30).copy()
    extra["id"] = [f"X{i}" for i in range(len(extra))]
    extra["created"] = pd.Timestamp("2024-10-05")
    extra["closed"] = pd.Timestamp("2024-10-20")
    changed = pd.concat([changed, extra], ignore_index=True)
    other_path, _ = write_export(tmp_path / "b", changed)
    a = calibrate(read_crm(base_path, mapping), as_of).table()
    b = calibrate(read_crm(other_path, mapping), as_of).table()
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    "args",
    [
        ["calibrate", "missing.csv", "--out", "x.toml"],
        ["calibrate", str(example()), "--out", "x.toml", "--as-of", "2024-02-30"],
        ["calibrate", str(example()), "--out", "x.toml", "--map", "no-such-mapping"],
        ["calibrate", str(example()), "--out", "x.toml", "--as-of", "1990-01-01"],
        ["calibrate", "EMPTY", "--out", "x.toml"],
        ["calibrate", str(example()), "--out", "FOLDER"],
        ["calibrate", str(example())],
    ],
)
def test_cli_bad_input_exits_2(tmp_path: Path, args: list[str], cli: object) -> None:
    from typer.testing import CliRunner

    runner = cli if isinstance(cli, CliRunner) else CliRunner()
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    args = [str(empty) if a == "EMPTY" else str(tmp_path) if a == "FOLDER" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("as_of", ["2024-01-03", "2024-02-15", "2024-06-30", "2025-06-01"])
def test_early_and_late_as_of_dates_give_valid_scenarios(as_of: str) -> None:
    for export in (read_crm(example()), read_crm(example("stage_history.csv"), "stage-history")):
        cal = calibrate(export, as_of)
        scenario = cal.scenario()
        assert not kamsim.check(scenario).overloaded
        assert all(e.source in ("data", "assumption") for e in cal.estimates)
        assert all(e.low <= e.value <= e.high for e in cal.estimates if not math.isnan(e.low))
