"""A run exported as a CRM stage history reads back as the same deals; per-stage fits reach
the calibrated scenario.

The export is checked against the run's own deals table (won, lost and open counts, the
stages each deal entered), as of the horizon and as of an earlier date (later entries gone,
deals closed later open), and with ``since`` (deals closed before it left out). The slow
coverage checks are in ``test_round_trip.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import kamsim
from kamsim.calibrate import calibrate
from kamsim.crm import CrmExport, example, read_crm
from kamsim.crm_export import HISTORY_FILE, stage_history
from kamsim.results import Result
from kamsim.scenario import Scenario

START = dt.date(2024, 1, 1)


@pytest.fixture(scope="module")
def run() -> Result:
    stage = {"duration": {"dist": "lognormal", "mean": 20.0, "cv": 0.5}}
    scenario = Scenario.model_validate(
        {
            "calendar": {"start": START, "horizon_months": 12, "currency": "USD"},
            "arrivals": {"rate_per_month": 15.0},
            "grades": {"A": {"share": 1.0, "value": {"dist": "lognormal", "mean": 5e3, "cv": 0.4}}},
            "stages": {
                "development": stage | {"pass_probability": 0.7},
                "proposal": stage | {"pass_probability": 0.8, "pools": ["presales"]},
                "tender": stage | {"pass_probability": 0.5},
            },
            "resources": {"presales": {"headcount": 1, "deals_per_person": 5}},
        }
    )
    return kamsim.simulate(scenario, seed=3)


def read_back(files: dict[str, pd.DataFrame], folder: Path) -> CrmExport:
    folder.mkdir()
    for name, table in files.items():
        table.to_csv(folder / name, index=False)
    return read_crm(folder / HISTORY_FILE, "stage-history")


def test_the_export_reads_back_as_the_runs_deals(run: Result, tmp_path: Path) -> None:
    table = read_back(stage_history(run), tmp_path / "all").opportunities()
    deals = run.deals
    for outcome in ("won", "lost", "open"):
        assert (table["outcome"] == outcome).sum() == (deals["outcome"] == outcome).sum()
    assert (table["outcome"] == "open").sum() > 5  # censored at the horizon
    entered = run.events[run.events["pool"].isna() & (run.events["stage"] == "tender")]
    history = read_back(stage_history(run), tmp_path / "again").history()
    assert (history["stage"] == "tender").sum() == len(entered)


def test_an_earlier_as_of_keeps_only_what_had_happened(run: Result, tmp_path: Path) -> None:
    as_of = dt.date(2024, 6, 30)
    export = read_back(stage_history(run, as_of=as_of), tmp_path / "mid")
    history = export.history()
    assert history["entered"].max() < pd.Timestamp("2024-07-01")
    full = read_back(stage_history(run), tmp_path / "full")
    pd.testing.assert_frame_equal(
        export.opportunities()[["id", "outcome", "stage", "created", "closed"]],
        full.opportunities(as_of.isoformat())[["id", "outcome", "stage", "created", "closed"]],
    )


def test_since_leaves_out_the_deals_closed_before_it(run: Result, tmp_path: Path) -> None:
    since = dt.date(2024, 7, 1)
    table = read_back(stage_history(run, since=since), tmp_path / "since").opportunities()
    everything = read_back(stage_history(run), tmp_path / "whole").opportunities()
    before = everything["closed"] < pd.Timestamp(since)
    assert before.sum() > 10
    assert set(table["id"]) == set(everything.loc[~before, "id"])


def test_an_opportunities_mapping_is_refused(run: Result) -> None:
    with pytest.raises(ValueError, match="mapping: shape 'opportunities'"):
        stage_history(run, mapping="maven")


def test_each_recorded_stage_gets_its_own_fit_in_the_scenario() -> None:
    cal = calibrate(read_crm(example("stage_history.csv"), "stage-history"))
    stages = cal.scenario().stages
    for stage in ("development", "approval", "proposal", "tender", "negotiation"):
        p = cal.estimate(f"stages.{stage}.pass_probability")
        days = cal.estimate(f"stages.{stage}.mean_days")
        assert p.low < p.value < p.high and days.low < days.value < days.high
        assert getattr(stages, stage).pass_probability["A"] == pytest.approx(p.value)
        assert getattr(stages, stage).duration.mean == pytest.approx(days.value, rel=1e-6)
        assert not getattr(stages, stage).pools  # the fitted time already holds the waits
    assert stages.implementation.duration.mean == 0.0
    assert "own fitted time in stage" in cal.toml()
