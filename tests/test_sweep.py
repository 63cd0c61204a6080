"""Sweeps (a factorial grid of settings) and sensitivity (one uncertain number at a time),
checked against hand computations from the experiment's own per-replication KPIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app
from kamsim.experiment import experiment
from kamsim.sweep import (
    best_points,
    parse_axis,
    returns_on_heads,
    sensitivity_variants,
    sweep_points,
    sweep_table,
    tornado,
)

LEVERS = Path(__file__).parent / "data" / "levers.toml"
AXES = {"resources.presales.headcount": [4, 6], "policy.bid_min_margin": [0.0, 0.1]}


@pytest.fixture(scope="module")
def world() -> kamsim.Scenario:
    return kamsim.load_scenario(LEVERS, {"calendar.horizon_months": 24})


@pytest.fixture(scope="module")
def swept(world: kamsim.Scenario) -> kamsim.experiment.Experiment:
    return experiment(sweep_points(AXES), reps=5, seed=4, base=world, workers=1, progress=False)


def test_axes_parse_as_toml_literals_or_bare_words() -> None:
    assert parse_axis("resources.presales.headcount=4,6,8") == (
        "resources.presales.headcount",
        [4, 6, 8],
    )
    assert parse_axis("policy.priority=fifo,grade") == ("policy.priority", ["fifo", "grade"])
    with pytest.raises(kamsim.ScenarioError, match="expected key=value1,value2"):
        parse_axis("resources.presales.headcount")


def test_a_sweep_is_the_full_factorial_with_its_best_points(swept) -> None:
    table = sweep_table(swept, AXES)
    assert table["point"].nunique() == 4
    bookings = table[table["kpi"] == "bookings"].set_index("point")["mean"]
    for point in bookings.index:
        mine = swept.kpis[swept.kpis["variant"] == point]["bookings"]
        assert bookings[point] == pytest.approx(mine.mean())
    best = best_points(table).set_index("kpi")
    assert best.loc["bookings", "point"] == bookings.idxmax()
    cost = table[table["kpi"] == "cost_of_sale"].set_index("point")["mean"]
    assert best.loc["cost_of_sale", "point"] == cost.idxmin()


def test_the_return_on_each_added_head_is_paired_contribution_per_unit_of_cost(swept) -> None:
    returns = returns_on_heads(swept, AXES)
    assert len(returns) == 2  # 4 -> 6 presales, at each bid margin
    kpis = swept.kpis
    for row in returns.to_dict("records"):
        a = kpis[kpis["variant"] == row["from"]].sort_values("replication")
        b = kpis[kpis["variant"] == row["point"]].sort_values("replication")
        gain = b["contribution"].to_numpy() - a["contribution"].to_numpy()
        added = 2 * 40000.0 * 12  # two engineers over the 12 measured months
        assert row["cost_added"] == pytest.approx(added)
        assert row["per_unit_cost"] == pytest.approx(gain.mean() / added)
        assert row["low"] < row["per_unit_cost"] < row["high"]


def test_sensitivity_moves_each_assumption_to_its_ends(world: kamsim.Scenario) -> None:
    baseline = kamsim.load_scenario("baseline")
    variants = sensitivity_variants(baseline)
    assert len(variants) == 1 + 2 * len(baseline.assumptions)
    assert variants["focus.norm_deals=low"] == {"focus.norm_deals": 8}
    for overrides in variants.values():
        baseline.with_overrides(overrides)  # every end is a valid scenario
    fixed = sensitivity_variants(world, {"stages.proposal.duration": (20.0, 40.0)})
    assert fixed["stages.proposal.duration=high"] == {
        "stages.proposal.duration": {"dist": "fixed", "value": 40.0}
    }
    with pytest.raises(kamsim.ScenarioError, match="names no setting"):
        sensitivity_variants(world, {"stages.proposal.nothing": (1.0, 2.0)})


def test_the_tornado_ranks_paired_effects_by_their_swing(world: kamsim.Scenario) -> None:
    params = {
        "resources.presales.headcount": (4.0, 8.0),
        "stages.tender.pass_probability.A": (0.35, 0.45),
    }
    variants = sensitivity_variants(world, params)
    result = experiment(variants, reps=5, seed=2, base=world, workers=1, progress=False)
    table = tornado(result, list(params), "deals_won")
    rows = table[table["kpi"] == "deals_won"].set_index("param")
    kpis = result.kpis
    base = kpis[kpis["variant"] == "base"]["deals_won"].to_numpy()
    for key in params:
        for end in ("low", "high"):
            other = kpis[kpis["variant"] == f"{key}={end}"]["deals_won"].to_numpy()
            assert rows.loc[key, f"{end}_effect"] == pytest.approx(np.mean(other - base))
    swings = rows["swing"].abs().sort_values(ascending=False)
    assert list(rows.sort_values("rank").index) == list(swings.index)


def test_the_commands_write_their_tables_and_refuse_bad_axes(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--reps", "2", "--workers", "1", "--quiet", "--set", "calendar.horizon_months=15"]
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        [
            "sweep",
            str(LEVERS),
            "--grid",
            "resources.presales.headcount=4,6",
            *common,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "return on each added head" in result.stdout
    assert set(pd.read_csv(out / "sweep.csv")["point"]) == {
        "resources.presales.headcount=4",
        "resources.presales.headcount=6",
    }
    out = tmp_path / "sens"
    result = runner.invoke(
        app,
        [
            "sensitivity",
            str(LEVERS),
            "--param",
            "resources.presales.headcount=4,8",
            "--kpi",
            "deals_won",
            *common,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "sensitivity.csv").exists()
    bad = runner.invoke(app, ["sweep", str(LEVERS), "--grid", "resources.presales.headcount"])
    assert bad.exit_code == 2
    assert "expected key=value1,value2" in bad.stderr
    bad = runner.invoke(
        app, ["sweep", str(LEVERS), "--grid", "resources.presales.headcount=-1,2", *common]
    )
    assert bad.exit_code == 2 and "resources.presales.headcount" in bad.stderr
