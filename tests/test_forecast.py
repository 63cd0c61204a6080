"""``kamsim forecast``: the horizon and calendar, the table, and bad pipeline files."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from constants import BASELINE
from helpers import assert_user_error, write_toml
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app
from kamsim.errors import ScenarioError
from kamsim.forecast import COLUMNS, forecast, forecast_scenario, parse_horizon
from kamsim.pipeline import read_pipeline

MONTH = 365 / 12

CLOSING = """
name = "closing"
[calendar]
start = 2027-01-01
horizon_months = 24
[arrivals]
rate_per_month = 0.0
[grades.A]
share = 1.0
value = { dist = "fixed", value = 1000000.0 }
[stages.negotiation]
duration = { dist = "fixed", value = 20.0 }
pass_probability = 1.0
"""
"""Deals only negotiate, for a fixed 20 days, and always sign; no new leads."""


def csv_file(directory: Path, text: str, name: str = "open.csv") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_horizons_are_months_or_days() -> None:
    assert parse_horizon("6m").days == pytest.approx(6 * MONTH)
    assert parse_horizon(" 90D ").days == 90.0
    for bad in ("6", "m", "6 weeks", "0m", "-3m", "1000m"):
        with pytest.raises(ScenarioError, match="--horizon"):
            parse_horizon(bad)


@pytest.mark.parametrize(
    ("as_of", "horizon", "months"),
    [
        ("2027-04-01", "3m", 3),  # on the first: exactly the months asked
        ("2027-04-01", "90d", 3),  # 90 days end inside the third month
        ("2027-03-15", "6m", 7),  # to the end of the month the horizon ends in
        ("2027-03-31", "1m", 2),
    ],
)
def test_the_run_starts_on_the_first_of_the_as_of_month(
    tmp_path: Path, as_of: str, horizon: str, months: int
) -> None:
    scenario = kamsim.load_scenario(BASELINE)
    run = forecast_scenario(scenario, dt.date.fromisoformat(as_of), horizon)
    assert run.calendar.start == dt.date.fromisoformat(as_of).replace(day=1)
    assert run.calendar.horizon_months == months
    assert run.calendar.warmup_months == 0
    assert run.stages == scenario.stages and run.arrivals == scenario.arrivals


def test_a_known_pipeline_is_forecast_into_the_right_months(tmp_path: Path) -> None:
    """The run starts on 2027-03-01; the as-of date 2027-03-15 is day 14. Negotiation takes
    a fixed 20 days: a1 (in it for 5 days) signs on day 29, in March; a2 (23 days, already
    past 20) signs at once, in March; a3 and a4 (just entered) sign on day 34, in April
    (model month 1 starts on day 30.4). Every replication agrees: P10 = P50 = P90."""
    scenario = write_toml(tmp_path, CLOSING)
    pipeline = csv_file(
        tmp_path,
        """
        deal_id,stage,entered_stage_at,value
        a1,negotiation,2027-03-10,2000000
        a2,negotiation,2027-02-20,3000000
        a3,negotiation,2027-03-15,
        a4,negotiation,2027-03-15,500000
        """,
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            str(scenario),
            "--pipeline",
            str(pipeline),
            "--as-of",
            "2027-03-15",
            "--horizon",
            "3m",
            "--reps",
            "3",
            "--workers",
            "1",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "4 open deal(s) from open.csv and no new leads" in result.stdout
    table = pd.read_csv(out / "forecast.csv")
    assert tuple(table.columns) == COLUMNS
    months = table[table["kind"] == "month"]
    assert list(dict.fromkeys(months["period"])) == ["2027-03", "2027-04", "2027-05", "2027-06"]
    assert list(dict.fromkeys(table[table["kind"] == "quarter"]["period"])) == [
        "2027-Q1",
        "2027-Q2",
    ]
    got = table.set_index(["kind", "period", "measure"])
    expected = {
        ("month", "2027-03", "won"): 2,
        ("month", "2027-03", "bookings"): 5e6,
        ("month", "2027-04", "won"): 2,
        ("month", "2027-04", "bookings"): 1.5e6,  # a3's value is the grade's: fixed 1,000,000
        ("month", "2027-05", "won"): 0,
        ("quarter", "2027-Q1", "won"): 2,
        ("quarter", "2027-Q2", "won"): 2,
        ("quarter", "2027-Q2", "bookings_from_pipeline"): 1.5e6,
    }
    for key, value in expected.items():
        row = got.loc[key]
        assert row["mean"] == pytest.approx(value), key
        assert row["p10"] == row["p50"] == row["p90"] == pytest.approx(value), key
    assert (out / "closing" / "deals.parquet").is_file()
    assert (out / "manifest.json").is_file()


def test_the_pipeline_part_never_exceeds_the_whole(tmp_path: Path) -> None:
    """On the baseline from a mixed pipeline: new leads add wins only after their long
    journey, the pipeline's part is at most the whole in every replication and period."""
    scenario = kamsim.load_scenario(BASELINE)
    pipeline = csv_file(
        tmp_path,
        "deal_id,stage,entered_stage_at,value,grade,owner\n"
        + "".join(
            f"d{i},{stage},2027-0{1 + i % 3}-0{1 + i % 9},{1e6 * (1 + i % 5)},{'ABCD'[i % 4]},"
            f"am{i % 4}\n"
            for i, stage in enumerate(["negotiation", "tender", "proposal", "approval"] * 10)
        ),
    )
    as_of = dt.date(2027, 4, 1)
    fc = forecast(scenario, read_pipeline(pipeline, as_of), "3m", reps=6, seed=3, workers=1)
    wide = fc.samples.pivot_table(
        index=["replication", "kind", "period"], columns="measure", values="value"
    )
    assert (wide["won_from_pipeline"] <= wide["won"]).all()
    assert (wide["bookings_from_pipeline"] <= wide["bookings"] + 1e-6).all()
    quarter = wide.xs("quarter", level="kind").groupby("replication").sum()
    month = wide.xs("month", level="kind").groupby("replication").sum()
    pd.testing.assert_frame_equal(quarter, month)
    assert fc.table["low"].min() >= 0
    assert "2027-Q2" in fc.format()


# -- bad input ------------------------------------------------------------------------------


def run_forecast(tmp_path: Path, pipeline: Path, *extra: str) -> object:
    scenario = write_toml(tmp_path, CLOSING)
    args = ["forecast", str(scenario), "--pipeline", str(pipeline), "--as-of", "2027-03-15"]
    return CliRunner().invoke(app, [*args, "--reps", "2", "--workers", "1", "--quiet", *extra])


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (  # an unknown stage, a date after the as-of, a negative value: one line each
            """
            deal_id,stage,entered_stage_at,value
            a,negotiation,2027-03-01,100
            b,closing,2027-03-01,100
            c,tender,2027-04-01,100
            d,tender,2027-03-01,-5
            """,
            [
                "open.csv:3: stage: 'closing' is not an open stage",
                "open.csv:4: entered_stage_at: 2027-04-01 is after the as-of date 2027-03-15",
                "open.csv:5: value: -5 is negative",
            ],
        ),
        (
            """
            deal_id,stage,value
            a,tender,100
            """,
            ["open.csv:1: entered_stage_at: missing column"],
        ),
        (
            """
            deal_id,stage,entered_stage_at,value,grade
            a,implementation,2027-03-01,100,A
            a,tender,yesterday,ten,E
            ,tender,2027-03-01,100,B
            """,
            [
                "open.csv:2: stage: a deal in implementation is already signed",
                "open.csv:3: deal_id: 'a' is also on line 2",
                "open.csv:3: entered_stage_at: 'yesterday' is not a date",
                "open.csv:3: value: 'ten' is not a number",
                "open.csv:3: grade: 'E' is not a grade",
                "open.csv:4: deal_id: empty",
                "open.csv:4: grade: the scenario has no grade B",
            ],
        ),
        (
            """
            deal_id,stage,entered_stage_at,value
            a,tender,2027-03-01
            """,
            ["open.csv:2: 3 field(s), but the header has 4"],
        ),
        ("", ["open.csv: the file is empty"]),
        ("\n\n", ["open.csv: the file is empty"]),
    ],
)
def test_bad_pipeline_files_exit_2_naming_file_column_and_line(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    result = run_forecast(tmp_path, csv_file(tmp_path, text))
    err = assert_user_error(result, *fragments)  # type: ignore[arg-type]
    assert len(err.strip().splitlines()) == len(fragments), err


def test_a_binary_or_missing_file_and_bad_options_exit_2(tmp_path: Path) -> None:
    binary = tmp_path / "open.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert_user_error(run_forecast(tmp_path, binary), "open.csv: a binary file")  # type: ignore[arg-type]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "deal_id,stage,entered_stage_at,value\nb\xe9,tender,2027-03-01,1\n".encode("latin-1")
    )
    assert_user_error(run_forecast(tmp_path, latin), "latin.csv: not UTF-8")  # type: ignore[arg-type]
    missing = tmp_path / "nowhere.csv"
    assert_user_error(run_forecast(tmp_path, missing), "nowhere.csv: file not found")  # type: ignore[arg-type]
    good = csv_file(tmp_path, "deal_id,stage,entered_stage_at,value\na,tender,2027-03-01,1\n")
    assert_user_error(run_forecast(tmp_path, good, "--horizon", "soon"), "--horizon")  # type: ignore[arg-type]
    scenario = write_toml(tmp_path, CLOSING)
    result = CliRunner().invoke(
        app, ["forecast", str(scenario), "--pipeline", str(good), "--as-of", "15/03/2027"]
    )
    assert_user_error(result, "--as-of: '15/03/2027' is not a date")
    result = CliRunner().invoke(
        app, ["forecast", str(scenario), "--pipeline", str(good), "--as-of", "2026-12-01"]
    )
    assert_user_error(result, "open.csv", "after the as-of date")


def test_a_header_without_rows_is_an_empty_pipeline(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "deal_id,stage,entered_stage_at,value,notes\n")
    pipeline = read_pipeline(path, dt.date(2027, 3, 15))
    assert len(pipeline) == 0 and pipeline.source == str(path)


def test_forecast_from_a_crm_export_takes_its_open_deals(tmp_path: Path) -> None:
    """``--crm`` reads the deals an export shows open on the as-of date: the forecast says how
    many came from it, and the same deals as a pipeline CSV give the same table."""
    from kamsim.calibrate import calibrate
    from kamsim.crm import example, read_crm

    export = read_crm(example())
    as_of = dt.date(2024, 9, 30)
    scenario = tmp_path / "calibrated.toml"
    scenario.write_text(calibrate(export, as_of).toml(), encoding="utf-8")
    deals = export.open_pipeline(as_of).deals
    assert deals
    pipeline = tmp_path / "open.csv"
    pipeline.write_text(
        "deal_id,stage,entered_stage_at,value\n"
        + "".join(
            f"{d.deal_id},{d.stage},{as_of - dt.timedelta(days=int(d.age))},\n" for d in deals
        ),
        encoding="utf-8",
    )
    common = ["forecast", str(scenario), "--as-of", "2024-09-30", "--horizon", "3m"]
    quiet = ["--reps", "4", "--workers", "1", "--quiet", "--seed", "3"]
    by_crm = CliRunner().invoke(app, [*common, "--crm", str(example()), *quiet])
    assert by_crm.exit_code == 0, by_crm.output + by_crm.stderr
    assert f"{len(deals)} open deal(s) from sales_pipeline.csv" in by_crm.stdout
    by_csv = CliRunner().invoke(app, [*common, "--pipeline", str(pipeline), *quiet])
    assert by_csv.exit_code == 0, by_csv.output + by_csv.stderr
    table = lambda out: out.split("deals won per period")[1]  # noqa: E731
    assert table(by_crm.stdout) == table(by_csv.stdout)
    both = CliRunner().invoke(
        app, [*common, "--crm", str(example()), "--pipeline", str(pipeline), *quiet]
    )
    assert_user_error(both, "--pipeline: give either --pipeline or --crm")
    assert_user_error(CliRunner().invoke(app, [*common, *quiet]), "give either")
    alone = CliRunner().invoke(app, [*common, "--pipeline", str(pipeline), "--map", "maven"])
    assert_user_error(alone, "--map: only with --crm")
    missing = CliRunner().invoke(app, [*common, "--crm", str(tmp_path / "none.csv"), *quiet])
    assert_user_error(missing, "none.csv: --crm: no such file")
