"""``kamsim check``: the analytic view against the engine, and the command around it.

The agreement test runs ``tests/data/check_all.toml`` (every mechanism on, every pool at
0.6-0.85, waits and patience biting) for 144 months and compares each pool's analytic
utilisation with each replication's mean ``util_<pool>`` over the months after warm-up: one
independent figure per replication, so the run's own t interval is the tolerance, with the
suite's 10% negative control. The check's ``utilisation_expected`` is the carried load (offered
load less the work of customers who go cold first); on this scenario the two differ by under
1%, on presales only.

The trend test (``kamsim.steady.queue_trend``) is tested both ways: the bundled baseline does
not warn, the same baseline with delivery cut to six project managers does, and its slopes and
p-values are recomputed here with scipy's own regression and t-test.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from constants import BASELINE, POOLS, ROOT
from helpers import assert_estimates, assert_user_error, cpu_count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from test_properties import scenarios
from typer.testing import CliRunner

import kamsim
from kamsim.analytic import check
from kamsim.cli import app
from kamsim.steady import pools_beside, queue_trend

ALL_ON = ROOT / "tests" / "data" / "check_all.toml"
OVERLOAD = ["resources.delivery.headcount=6"]
"""Delivery cut from ten project managers to six: offered load about 1.3."""
REPS = 32
SEED = 1


# -- the command ----------------------------------------------------------------------------


def test_check_of_the_baseline_is_clean(cli: CliRunner) -> None:
    result = cli.invoke(app, ["check", str(BASELINE)])
    assert result.exit_code == 0, result.output + result.stderr
    out = result.stdout
    for pool in POOLS:
        assert pool in out, pool
    for fragment in ("offered", "P(wait)", "Erlang", "per year", "funnel", "tender"):
        assert fragment in out, fragment
    assert "warning" not in out


def test_an_overloaded_pool_exits_3_with_a_warning(cli: CliRunner) -> None:
    result = cli.invoke(app, ["check", str(BASELINE), "--set", OVERLOAD[0]])
    assert result.exit_code == 3, result.output + result.stderr
    assert "warning: delivery offered load" in result.stdout
    assert "grows without bound" in result.stdout


def test_a_busy_pool_warns_but_exits_0(cli: CliRunner) -> None:
    # Eight project managers: offered load between 0.85 and 1.
    busy = kamsim.load_scenario(BASELINE, ["resources.delivery.headcount=8"])
    load = float(check(busy).pools.set_index("pool").loc["delivery", "offered_load"])
    assert 0.85 < load < 1.0, load
    result = cli.invoke(app, ["check", str(BASELINE), "--set", "resources.delivery.headcount=8"])
    assert result.exit_code == 0
    assert "warning: delivery offered load" in result.stdout
    assert "waits dominate" in result.stdout


def test_json_lists_pools_funnel_and_assumptions(cli: CliRunner) -> None:
    result = cli.invoke(app, ["check", str(ALL_ON), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [p["pool"] for p in data["pools"]] == list(POOLS)
    for row in data["pools"]:
        assert row["method"] in ("Erlang A", "Erlang B", "Erlang C")
        assert 0.6 <= row["utilisation_expected"] <= 0.85, row
    scenario = kamsim.load_scenario(ALL_ON)
    listed = {a["key"]: a for a in data["assumptions"]}
    assert set(listed) == set(scenario.assumptions)
    for key, a in scenario.assumptions.items():
        assert (listed[key]["low"], listed[key]["high"]) == (a.low, a.high)
        assert listed[key]["source"] == a.source
    assert {f["capacity"] for f in data["funnel"]} == {"unlimited", "queues"}
    assert data["overloaded"] is False and data["warnings"] == []


def test_json_of_an_overloaded_pool_has_no_infinities(cli: CliRunner) -> None:
    result = cli.invoke(app, ["check", str(BASELINE), "--json", "--set", OVERLOAD[0]])
    assert result.exit_code == 3
    data = json.loads(result.stdout)  # strict JSON: no Infinity or NaN tokens
    delivery = next(p for p in data["pools"] if p["pool"] == "delivery")
    assert delivery["mean_wait_days"] is None
    assert delivery["offered_load"] > 1
    assert data["overloaded"] is True


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["check", "missing.toml"], ["missing.toml", "not found"]),
        (["check", str(BASELINE), "--set", "resources.delivery.headcount=-1"], ["headcount"]),
        (["check", str(BASELINE), "--set", "nonsense"], ["nonsense"]),
    ],
)
def test_bad_input_exits_2(cli: CliRunner, argv: list[str], fragments: list[str]) -> None:
    err = assert_user_error(cli.invoke(app, argv), *fragments)
    for line in err.strip().splitlines():
        assert line.startswith("error: "), line


def test_run_opens_with_the_check_and_saves_it(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli.invoke(
        app, ["run", str(BASELINE), "--reps", "2", "--seed", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    text = result.stdout
    head, kpis, beside = text.index("check: baseline"), text.index("95% CI"), text.index("pools:")
    assert head < kpis < beside
    saved = json.loads((out / "check.json").read_text(encoding="utf-8"))["baseline"]
    expected = check(kamsim.load_scenario(BASELINE)).to_dict()
    assert saved == json.loads(json.dumps(expected))


MECHANISMS = st.fixed_dictionaries(
    {
        "patience": st.booleans(),
        "stall": st.booleans(),
        "engage": st.sampled_from(["none", "approval", "tender", "implementation"]),
        "skip": st.booleans(),
        "review": st.sampled_from([None, "close", "rescue"]),
        "ties": st.booleans(),
        "repeat": st.floats(0.0, 1.0),
        "focus": st.floats(0.5, 1.5),
        "approval": st.booleans(),
    }
)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=scenarios(), mech=MECHANISMS)
def test_any_valid_scenario_gives_a_finite_check(data: dict, mech: dict) -> None:
    """Random scenarios (any pools, loads far above capacity, zero-length stages) with
    mechanisms on: the check always finishes, its JSON is strict and its flows are sane."""
    stages = data["stages"]
    for s in ("development", "proposal", "tender") if mech["patience"] else ():
        stages[s]["patience"] = {"dist": "exponential", "mean": 5.0}
    for s in ("development", "negotiation") if mech["stall"] else ():
        stages[s]["stall_half_life_days"] = 10.0
    policy = {"executive_engagement": mech["engage"], "executive_wait": "wait"}
    if mech["skip"]:
        policy["executive_wait"] = "skip"
    if mech["review"]:
        policy["pipeline_review"] = {
            "every_days": 5.0,
            "stale_after_days": 5.0,
            "action": mech["review"],
        }
    if mech["approval"]:
        data["contract"] = {"approval_days": {"dist": "fixed", "value": 1.0}}
        policy["discount_authority"] = 0.05
        data["competition"] = {
            "price_fight_discount": {"dist": "uniform", "low": 0.0, "high": 0.2},
            "shaping_probability": 0.5,
            "no_bid_probability": 0.1,
        }
    data["policy"] = policy
    data["relationship"] = {
        "account_ties": mech["ties"],
        "executive_probability": 0.3,
        "champion_probability": 0.3,
        "champion_loss_per_year": 1.0,
    }
    data["repeat"] = {"probability": mech["repeat"], "delay_days": {"dist": "fixed", "value": 3.0}}
    if data["resources"]["account_managers"]["ownership"]:
        data["focus"] = {"odds_per_deal": mech["focus"], "norm_deals": 1}
    try:
        scenario = kamsim.Scenario.model_validate(data)
    except kamsim.ScenarioError:
        return
    result = check(scenario)
    json.dumps(result.to_dict(), allow_nan=False)
    assert result.format()
    assert (result.funnel["per_year"] >= -1e-6).all()
    pools = result.pools
    assert (pools["utilisation_expected"] >= -1e-9).all()
    for row in pools.to_dict("records"):
        if row["slots"] > 0 and row["offered_load"] < 1:
            assert math.isfinite(row["mean_wait_days"]), row


# -- the trend test -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline_runs() -> dict[str, kamsim.Result]:
    runs = {}
    for name, overrides in (("baseline", []), ("overloaded", OVERLOAD)):
        runs[name] = kamsim.run(kamsim.load_scenario(BASELINE, overrides), reps=10, seed=SEED)
    return runs


def test_the_baseline_queues_do_not_grow(baseline_runs: dict[str, kamsim.Result]) -> None:
    trend = queue_trend(baseline_runs["baseline"])
    assert list(trend["pool"]) == list(POOLS)
    assert not trend["growing"].any(), trend


def test_a_cut_delivery_queue_grows(baseline_runs: dict[str, kamsim.Result]) -> None:
    trend = queue_trend(baseline_runs["overloaded"]).set_index("pool")
    assert trend.loc["delivery", "growing"], trend
    assert trend.loc["delivery", "mean_slope"] > 0
    beside = pools_beside(
        check(kamsim.load_scenario(BASELINE, OVERLOAD)), baseline_runs["overloaded"]
    ).set_index("pool")
    assert beside.loc["delivery", "growing"]
    assert beside.loc["delivery", "offered_load"] > 1


def test_trend_figures_are_regression_slopes_and_a_t_test(
    baseline_runs: dict[str, kamsim.Result],
) -> None:
    """The library's slope, t and Bonferroni p against scipy's linregress and ttest_1samp."""
    result = baseline_runs["overloaded"]
    horizon = result.scenario.calendar.horizon_months
    first = horizon - horizon // 3
    ts = result.timeseries
    window = ts[(ts["month"] >= first) & (ts["month"] < horizon)]
    trend = queue_trend(result).set_index("pool")
    tested = sum(result.scenario.resources[p].capacity > 0 for p in POOLS)
    for pool in ("delivery", "presales"):
        slopes = [
            stats.linregress(rep["month"], rep[f"queue_{pool}"]).slope
            for _, rep in window.groupby("replication")
        ]
        test = stats.ttest_1samp(slopes, 0.0, alternative="greater")
        assert trend.loc[pool, "mean_slope"] == pytest.approx(np.mean(slopes), rel=1e-9)
        assert trend.loc[pool, "t"] == pytest.approx(test.statistic, rel=1e-9)
        assert trend.loc[pool, "p_adjusted"] == pytest.approx(
            min(1.0, test.pvalue * tested), rel=1e-9
        )


# -- agreement with the engine --------------------------------------------------------------


def steady_utilisation(path: str, seed: int, replication: int) -> list[float]:
    """One replication's mean ``util_<pool>`` over the months after warm-up (worker process)."""
    scenario = kamsim.load_scenario(path)
    ts = kamsim.simulate(scenario, seed=seed, replication=replication).timeseries
    cal = scenario.calendar
    after = ts[(ts["month"] >= cal.warmup_months) & (ts["month"] < cal.horizon_months)]
    return [float(after[f"util_{p}"].mean()) for p in POOLS]


@pytest.fixture(scope="module")
def all_on_utilisation() -> np.ndarray:
    args = [(str(ALL_ON), SEED, r) for r in range(REPS)]
    workers = max(1, min(4, cpu_count()))
    if workers == 1:
        return np.array([steady_utilisation(*a) for a in args])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return np.array(list(pool.map(steady_utilisation, *zip(*args, strict=True))))


@pytest.mark.slow
@pytest.mark.parametrize("pool", POOLS)
def test_analytic_utilisation_agrees_with_the_engine(
    all_on_utilisation: np.ndarray, pool: str
) -> None:
    scenario = kamsim.load_scenario(ALL_ON)
    pools = check(scenario).pools.set_index("pool")
    expected = float(pools.loc[pool, "utilisation_expected"])
    assert 0.6 <= expected <= 0.85  # the scenario is what it says
    values = all_on_utilisation[:, POOLS.index(pool)]
    assert 0.6 <= values.mean() <= 0.85
    assert_estimates(values, expected, f"{pool} utilisation after warm-up")
    # Offered load exceeds the carried load only by the work of those who go cold.
    offered = float(pools.loc[pool, "offered_load"])
    assert expected <= offered <= expected / (1 - float(pools.loc[pool, "p_abandon"])) + 1e-9
