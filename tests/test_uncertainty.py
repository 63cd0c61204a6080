"""Parameter uncertainty: settings drawn once per replication from the ``uncertainty`` section.

The section is validated per entry; the draws are a pure function of (seed, replication,
key), match their distributions, leave the run unchanged when degenerate at the point values,
and do not depend on the number of workers. A calibrated scenario carries the sampling
uncertainty of its estimates into the forecast, whose spread widens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import assert_estimates, interval

import kamsim
from kamsim.calibrate import calibrate
from kamsim.cli import app
from kamsim.crm import example, read_crm
from kamsim.errors import ScenarioError
from kamsim.experiment import PARAMETERS_FILE, experiment
from kamsim.forecast import forecast
from kamsim.uncertainty import drawn_parameters, drawn_scenario, draws

RATE = "arrivals.rate_per_month"
GAMMA = {"dist": "gamma", "shape": 100.0, "scale": 0.3}
BETA = {"dist": "beta", "a": 30.0, "b": 10.0}
BETA_KEY = "stages.proposal.pass_probability"


@pytest.fixture(scope="module")
def short(baseline: kamsim.Scenario) -> kamsim.Scenario:
    return baseline.with_overrides(["calendar.horizon_months=12", "calendar.warmup_months=0"])


def _with(scenario: kamsim.Scenario, section: dict[str, Any]) -> kamsim.Scenario:
    data = scenario.model_dump(mode="json", by_alias=True)
    return kamsim.Scenario.model_validate({**data, "uncertainty": section})


@pytest.mark.parametrize(
    ("key", "dist", "fragment"),
    [
        ("arrivals.rate_per_mnth", GAMMA, "names no setting of this scenario"),
        ("grades.A.value", GAMMA, "the setting is not a number"),
        ("resources.presales.headcount", GAMMA, "the setting is a whole number"),
        ("stages.proposal.pass_probability", GAMMA, "gamma draws values in (0, inf)"),
        ("grades.A.margin.high", BETA, "beta draws values in [0, 1]"),
        ("stages.tender.odds.shaped", {"dist": "uniform", "low": 0, "high": 2}, "[0, 2]"),
        ("not a key", GAMMA, "names no setting of this scenario"),
    ],
)
def test_an_entry_that_cannot_be_drawn_is_one_problem_naming_it(
    short: kamsim.Scenario, key: str, dist: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        _with(short, {key: dist, RATE: GAMMA})
    (problem,) = err.value.problems
    assert problem.where == f'uncertainty."{key}"'
    assert fragment in problem.message


def test_a_bad_entry_in_a_file_exits_2_with_one_line(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[uncertainty]\n"stages.proposal.pass_probability" = '
        '{ dist = "lognormal", mean = 0.5, cv = 0.2 }\n'
    )
    result = cli.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if "uncertainty" in line]
    assert len(lines) == 1 and 'uncertainty."stages.proposal.pass_probability"' in lines[0]
    assert "Traceback" not in result.stderr


def test_draws_are_reproducible_per_replication_and_per_key(short: kamsim.Scenario) -> None:
    both = _with(short, {RATE: GAMMA, "stages.proposal.pass_probability": BETA})
    alone = _with(short, {RATE: GAMMA})
    first = [draws(both, 5, r) for r in range(4)]
    assert first == [draws(both, 5, r) for r in range(4)]
    rates = [d[RATE] for d in first]
    assert len(set(rates)) == 4, "replications drew the same rate"
    assert rates != [draws(both, 6, r)[RATE] for r in range(4)], "the seed is ignored"
    # A key's draws do not move when another key joins the section.
    assert rates == [draws(alone, 5, r)[RATE] for r in range(4)]
    drawn = drawn_scenario(both, 5, 2)
    assert drawn.arrivals.rate_per_month == rates[2]
    assert set(drawn.stages.proposal.pass_probability.values()) == {first[2][BETA_KEY]}
    assert not drawn.uncertainty


def test_drawn_values_match_the_distribution(short: kamsim.Scenario) -> None:
    scenario = _with(short, {RATE: GAMMA, BETA_KEY: BETA})
    table = drawn_parameters(scenario, seed=3, reps=12_000)
    for key, dist in scenario.uncertainty.items():
        values = table.loc[table["parameter"] == key, "value"].to_numpy()
        assert len(values) == 12_000
        assert_estimates(values, dist.mean, f"{key} mean")
        assert_estimates(
            (values - dist.mean) ** 2,
            dist.variance,
            f"{key} variance",
            precision=0.03,
            reason="squared deviations spread about 1.5 times their mean: 2% would need "
            "twice the draws",
        )


def test_fixed_draws_at_the_point_values_change_nothing(short: kamsim.Scenario) -> None:
    value = short.grades["A"].value
    section = {
        RATE: {"dist": "fixed", "value": short.arrivals.rate_per_month},
        "grades.A.value.mean": {"dist": "fixed", "value": value.mean},
    }
    plain = kamsim.run(short, reps=2, seed=4)
    drawn = kamsim.run(_with(short, section), reps=2, seed=4)
    for name, table in plain.tables().items():
        pd.testing.assert_frame_equal(getattr(drawn, name), table, obj=name)


def test_runs_do_not_depend_on_workers_or_how_they_are_run(
    short: kamsim.Scenario, tmp_path: Path
) -> None:
    scenario = _with(short, {RATE: GAMMA, BETA_KEY: BETA})
    kwargs: dict[str, Any] = {"reps": 3, "seed": 9, "progress": False}
    one = experiment({"u": scenario}, workers=1, **kwargs)
    two = experiment({"u": scenario}, workers=2, out=tmp_path / "out", **kwargs)
    pd.testing.assert_frame_equal(one.kpis, two.kpis)
    written = pd.read_csv(tmp_path / "out" / PARAMETERS_FILE)
    assert list(written.columns) == ["variant", "replication", "parameter", "value"]
    assert len(written) == 3 * 2
    drawn = written[(written["replication"] == 1) & (written["parameter"] == RATE)]
    assert drawn["value"].item() == pytest.approx(draws(scenario, 9, 1)[RATE], rel=1e-12)
    stacked = kamsim.run(scenario, reps=3, seed=9)
    pd.testing.assert_frame_equal(stacked.kpis, one.kpis.drop(columns="variant"), check_dtype=False)
    single = kamsim.simulate(scenario, seed=9, replication=1)
    pd.testing.assert_frame_equal(
        stacked.kpis.iloc[[1]].reset_index(drop=True), single.kpis, check_dtype=False
    )
    plain = kamsim.run(short, reps=3, seed=9)
    assert not plain.kpis["bookings"].equals(stacked.kpis["bookings"]), "nothing was drawn"


@pytest.fixture(scope="module")
def calibrated() -> Any:
    return calibrate(read_crm(example()))


def test_the_calibrated_toml_validates_and_checks(
    calibrated: Any, tmp_path: Path, cli: Any
) -> None:
    section = calibrated.scenario().uncertainty
    assert {RATE, f"stages.{calibrated.timed_stage}.pass_probability"} <= set(section)
    rate = calibrated.estimate(RATE)
    gamma = section[RATE]
    assert rate.low < gamma.mean < rate.high
    win = calibrated.estimate("win_probability")
    beta = section[f"stages.{calibrated.timed_stage}.pass_probability"]
    assert beta.mean == pytest.approx(calibrated.win_probability)
    # The beta's spread is the interval's implied standard error.
    assert np.sqrt(beta.variance) == pytest.approx((win.high - win.low) / (2 * 1.959963984540054))
    path = tmp_path / "calibrated.toml"
    path.write_text(calibrated.toml())
    assert cli.invoke(app, ["validate", str(path)]).exit_code == 0
    assert cli.invoke(app, ["check", str(path)]).exit_code == 0
    assert kamsim.load_scenario(path).uncertainty == section


def test_the_forecast_spread_carries_the_parameter_uncertainty(calibrated: Any) -> None:
    crm = read_crm(example())
    as_of = calibrated.as_of.date()
    pipeline = crm.open_pipeline(as_of)
    scenario = calibrated.scenario()
    point = _with(scenario, {})
    runs = {
        name: forecast(s, pipeline, "6m", reps=100, seed=2, workers=1)
        for name, s in (("uncertain", scenario), ("point", point))
    }

    def total_wins(name: str) -> pd.Series:
        """Deals won over the horizon, per replication (the months' sum)."""
        samples = runs[name].samples
        rows = samples[(samples["measure"] == "won") & (samples["kind"] == "month")]
        return rows.groupby("replication")["value"].sum()

    def band(values: pd.Series) -> float:
        return float(values.quantile(0.9) - values.quantile(0.1))

    uncertain, fixed = total_wins("uncertain"), total_wins("point")
    assert band(uncertain) > band(fixed)
    assert interval(fixed).agrees_with(float(uncertain.mean()))
    assert "parameter uncertainty" in runs["uncertain"].format()
    assert "parameter uncertainty" not in runs["point"].format()
