"""A stage's month-of-quarter effect (``Stage.month_of_quarter``): validation, the warp of its
work, its wins and losses by month of quarter in a run against a numerical oracle, the
analytic check with it, and calibration from a CRM export back to the same shares.

The oracle of the shares is independent of the engine's walk: the pace's integral is
tabulated on a fine grid, and with exponential work (memoryless in warped time) the chance
that work started on a uniform day of the year ends in each month follows from it in closed
form. Each replication gives one share per figure; they are held to the run's own t interval
(``assert_estimates``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from constants import CRM_SAMPLE
from constants import DAYS_PER_MONTH as M
from helpers import assert_estimates, interval, needs_sample
from test_calibrate import START, as_export, write_export

import kamsim
from kamsim.calibrate import calibrate
from kamsim.crm import example, read_crm
from kamsim.model.periods import PeriodClock
from kamsim.scenario import Scenario

PACE = [0.7, 0.8, 1.5]
LOG_ODDS = [-0.3, -0.2, 0.9]
PASS = 0.4
MEAN_DAYS = 40.0
REPS = 8


def _scenario(rate: float, months: int, effect: dict[str, Any] | None, **stage: Any) -> Scenario:
    """One timed stage (proposal, exponential work), nobody waits, leads for ``months`` whole
    years from January, then the run drains."""
    proposal: dict[str, Any] = {
        "duration": {"dist": "exponential", "mean": MEAN_DAYS},
        "pass_probability": PASS,
        **stage,
    }
    if effect is not None:
        proposal["month_of_quarter"] = effect
    return Scenario.model_validate(
        {
            "calendar": {
                "start": START,
                "horizon_months": months,
                "arrivals_until_months": months,
                "drain": True,
                "currency": "USD",
            },
            "arrivals": {"rate_per_month": rate},
            "grades": {"A": {"share": 1.0, "value": {"dist": "fixed", "value": 1e4}}},
            "stages": {"proposal": proposal},
        }
    )


def _month_of_quarter(t: np.ndarray[Any, Any] | pd.Series) -> np.ndarray[Any, Any]:
    """Month of quarter (0-2) of model times of a run starting in January."""
    return np.asarray(np.floor(np.asarray(t, dtype=float) / M), dtype=int) % 3


def _oracle(pace: list[float], mean: float) -> np.ndarray[Any, Any]:
    """Chance that exponential work of ``mean`` days at ``pace[month of quarter]``, started on
    a uniform day, ends in each month of quarter: the pace's integral tau on a grid, and
    P(end in [a, b]) = exp(-(tau(a) - tau(s)) / mean) - exp(-(tau(b) - tau(s)) / mean)."""
    step = 0.05
    t = np.arange(0.0, 3 * 12 * M, step)
    tau = np.concatenate([[0.0], np.cumsum(np.asarray(pace)[_month_of_quarter(t)] * step)])
    starts = np.arange(0.0, 12 * M, 0.5)
    share = np.zeros(3)
    for s in starts:
        i = round(s / step)
        for month in range(int(s // M), 36):
            a, b = max(month * M, s), (month + 1) * M
            ta, tb = tau[round(a / step)], tau[round(b / step)]
            share[month % 3] += math.exp(-(ta - tau[i]) / mean) - math.exp(-(tb - tau[i]) / mean)
    return share / share.sum()


def _unlimited(scenario: Scenario) -> pd.Series:
    """The analytic check's summary where nobody waits, by measure."""
    s = kamsim.check(scenario).summary
    return s[s["capacity"] == "unlimited"].set_index("measure")["value"]


def _expit(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "field"),
    [
        ({"pace": [1.0, 0.0, 1.0]}, "stages.proposal.month_of_quarter.pace.1"),
        ({"pace": [1.0, 1.0, 1e3]}, "stages.proposal.month_of_quarter.pace.2"),
        ({"pace": [1.0, 1.0]}, "stages.proposal.month_of_quarter.pace"),
        ({"log_odds": [0.0, "x", 0.0]}, "stages.proposal.month_of_quarter.log_odds.1"),
        ({"log_odds": [0.0, 0.0, 1e4]}, "stages.proposal.month_of_quarter.log_odds.2"),
        ({"log_odds": [0.0, 0.0, math.nan]}, "stages.proposal.month_of_quarter.log_odds.2"),
        ({"shift": [0.0, 0.0, 1.0]}, "stages.proposal.month_of_quarter.shift"),
    ],
)
def test_bad_settings_are_one_error_naming_the_field(effect: dict[str, Any], field: str) -> None:
    with pytest.raises(kamsim.ScenarioError) as err:
        _scenario(10.0, 12, effect)
    assert [p.where for p in err.value.problems] == [field], str(err.value)


# -- the warp ----------------------------------------------------------------------------------


def _integral(t0: float, t1: float, pace_at: Any) -> float:
    """Integral of a pace over [t0, t1], piece by piece (pieces end at month boundaries and
    at the start of each month's closing window)."""
    total, t = 0.0, t0
    while t < t1:
        m = math.floor(t / M)
        edges = [e for e in ((m + 1) * M - 10.0, (m + 1) * M) if e > t]
        b = min(edges[0], t1)
        total += pace_at((t + b) / 2) * (b - t)
        t = b
    return total


@pytest.mark.parametrize("closing", [False, True])
def test_the_warp_conserves_work_and_is_bounded(closing: bool) -> None:
    scenario = kamsim.load_scenario(
        Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml",
        [
            "period_end.window_days=10.0",
            "period_end.month.intensity=1.0",
            "period_end.quarter.intensity=3.0",
            "period_end.year.intensity=3.0",
        ],
    )
    clock = PeriodClock(scenario.period_end, 4)
    warp = clock.stage_warp(PACE, closing)

    def pace_at(t: float) -> float:
        m = math.floor(t / M)
        month = (3 + m) % 12  # starts in April
        p = PACE[month % 3]
        if closing and t >= (m + 1) * M - 10.0 and month % 3 == 2:
            p *= 3.0
        return p

    fastest = max(PACE) * (3.0 if closing else 1.0)
    rng = np.random.default_rng(5)
    for t0, work in zip(rng.uniform(0, 2000, 200), rng.exponential(80.0, 200), strict=True):
        end = warp.at(t0, work)
        assert _integral(t0, end, pace_at) == pytest.approx(work, rel=1e-9, abs=1e-9)
        assert work / fastest - 1e-9 <= end - t0 <= work / min(PACE) + 1e-9
    began = time.perf_counter()
    ends = [warp.at(17.0, w) for w in (0.0, 1.0, 1e9, 1e300)]
    assert time.perf_counter() - began < 0.5
    assert ends[0] == 17.0 and ends == sorted(ends) and all(map(math.isfinite, ends))


# -- a run against the oracle ------------------------------------------------------------------


@pytest.fixture(scope="module")
def paced() -> tuple[Scenario, pd.DataFrame]:
    scenario = _scenario(400.0, 24, {"pace": PACE, "log_odds": LOG_ODDS})
    deals = kamsim.run(scenario, reps=REPS, seed=4).deals
    assert (deals["outcome"] != "open").all()
    return scenario, deals


def _shares(deals: pd.DataFrame, outcome: str, month: int) -> np.ndarray[Any, Any]:
    """Per replication: the share of the ``outcome`` closes that fall in ``month`` of quarter."""
    closes = deals[deals["outcome"] == outcome]
    at = pd.Series(_month_of_quarter(closes["closed_at"]) == month, index=closes.index)
    return np.asarray(at.groupby(closes["replication"]).mean(), dtype=float)


@pytest.mark.parametrize("month", [0, 2])
def test_wins_and_losses_by_month_of_quarter_follow_the_setting(
    paced: tuple[Scenario, pd.DataFrame], month: int
) -> None:
    _, deals = paced
    ends = _oracle(PACE, MEAN_DAYS)
    p = _expit(math.log(PASS / (1 - PASS)) + np.asarray(LOG_ODDS))
    won = ends * p / (ends * p).sum()
    lost = ends * (1 - p) / (ends * (1 - p)).sum()
    assert won[2] > 1.5 / 3 and lost[2] < ends[2] - 0.1  # wins bunch, losses less than closes
    for outcome, target in (("won", won[month]), ("lost", lost[month])):
        assert_estimates(
            _shares(deals, outcome, month),
            float(target),
            f"share of {outcome} closes in month {month + 1} of the quarter",
            precision=0.04,
            reason="eight replications of 9,600 leads; month 1 holds a sixth of the wins",
        )


def test_the_check_agrees_with_the_run(paced: tuple[Scenario, pd.DataFrame]) -> None:
    """Wins per lead and cycle time of the analytic check include the effect."""
    scenario, deals = paced
    s = _unlimited(scenario)
    won = deals.groupby("replication")["outcome"].apply(lambda o: float((o == "won").mean()))
    assert_estimates(won.to_numpy(), s["wins"] / s["leads"], "share of leads signed")
    plain = _unlimited(_scenario(400.0, 24, None))
    assert abs(s["wins"] / plain["wins"] - 1.0) > 0.05  # the effect moves the check


def test_negotiation_composes_its_pace_with_the_closing_windows() -> None:
    """Negotiation's month-of-quarter pace and the period-end push both apply: the check, which
    walks the same composed warp from uniform starts, agrees with the run on the cycle."""
    data = _scenario(300.0, 24, None).model_dump(mode="json", exclude_unset=True)
    data["stages"]["negotiation"] = {
        "duration": {"dist": "exponential", "mean": 20.0},
        "month_of_quarter": {"pace": [0.6, 0.8, 1.6], "log_odds": [0.0, 0.0, 0.5]},
        "pass_probability": 0.6,
    }
    data["period_end"] = {"window_days": 10.0, "quarter": {"intensity": 2.0}}
    scenario = Scenario.model_validate(data)
    deals = kamsim.run(scenario, reps=REPS, seed=9).deals
    won = deals[deals["outcome"] == "won"]
    cycle = (won["signed_at"] - won["arrived_at"]).groupby(won["replication"]).mean()
    s = _unlimited(scenario)
    assert_estimates(cycle.to_numpy(), s["cycle_time_days"], "cycle to signature")
    signed = won.groupby("replication").size() / deals.groupby("replication").size()
    assert_estimates(signed.to_numpy(), s["wins"] / s["leads"], "signed share")


# -- calibration -------------------------------------------------------------------------------


def _per_day(counts: np.ndarray[Any, Any], exposure: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    rate = counts / exposure
    return np.asarray(rate / rate.sum())


def _simulated_shares(scenario: Scenario, reps: int, seed: int) -> dict[str, list[float]]:
    """Per replication and outcome: closes per day in each month of quarter over the measured
    window, as shares (the calibrated run starts on a month's first day)."""
    deals = kamsim.run(scenario, reps=reps, seed=seed).deals
    cal = scenario.calendar
    first = math.ceil(cal.warmup_days / M - 1e-9)
    months = np.arange(first, round(cal.horizon_days / M))
    start = cal.start.month - 1
    exposure = np.bincount((start + months) % 12 % 3, minlength=3).astype(float)
    out: dict[str, list[float]] = {}
    for outcome in ("won", "lost"):
        at = deals["signed_at"] if outcome == "won" else deals["closed_at"]
        keep = (deals["outcome"] == outcome) & (at >= first * M)
        month = (start + np.floor(at[keep] / M).astype(int)) % 12 % 3
        for _, group in month.groupby(deals.loc[keep, "replication"]):
            counts = np.bincount(group, minlength=3).astype(float)
            share = _per_day(counts, exposure)
            out.setdefault(outcome, []).append(float(share[2]))
    return out


def _observed(cal: Any, outcome: str) -> tuple[float, float]:
    """The export's share of closes per day in the quarter's last month, and its standard
    error (binomial, on the exposure-weighted share)."""
    t = cal.calendar[cal.calendar["outcome"] == outcome]
    closes = t["closes"].to_numpy(float)
    share = _per_day(closes, t["expected"].to_numpy(float))[2]
    return float(share), math.sqrt(share * (1 - share) / closes.sum())


def _quarter_end_export(tmp_path: Path) -> tuple[Path, Path, str]:
    """Two years of a world with the effect, as a CRM export (the export ``test_calibrate``
    builds from a run)."""
    effect = {"pace": [0.8, 0.9, 1.3], "log_odds": [-0.4, -0.3, 0.8]}
    data = _scenario(150.0, 24, effect).model_dump(mode="json", exclude_unset=True)
    data["calendar"]["drain"] = False  # deals in flight at the export date are open
    data["stages"]["proposal"]["duration"] = {"dist": "lognormal", "mean": 60.0, "cv": 0.6}
    deals = kamsim.simulate(Scenario.model_validate(data), seed=3).deals
    path, mapping = write_export(tmp_path, as_export(deals, owners=8))
    return path, mapping, (START + pd.Timedelta(days=729)).isoformat()


def test_calibrated_effect_reproduces_the_exports_shares(tmp_path: Path) -> None:
    path, mapping, as_of = _quarter_end_export(tmp_path)
    cal = calibrate(read_crm(path, mapping), as_of[:10])
    assert cal.month_of_quarter is not None
    assert cal.estimate("calendar.log_odds.month_3").low > 0.0
    assert "simulated on proposal" in cal.toml()
    scenario = cal.scenario()
    assert scenario.stages.proposal.month_of_quarter is not None
    # The fit report's calendar: the fitted effect follows the closes, flat does not.
    table = cal.calendar
    noise = 3 * np.sqrt(table["closes"].to_numpy(float))
    assert (abs(table["fitted"] - table["closes"]) <= noise).all(), table
    assert (abs(table["expected"] - table["closes"]) > noise).any(), table
    simulated = _simulated_shares(scenario, 6, 2)
    for outcome in ("won", "lost"):
        share, se = _observed(cal, outcome)
        ci = interval(simulated[outcome])
        allowed = 3 * math.hypot(ci.half_width, 1.96 * se)
        assert abs(ci.mean - share) <= allowed, (outcome, str(ci), share, se)


def test_a_flat_export_leaves_the_default_and_says_so() -> None:
    cal = calibrate(read_crm(example()))
    assert cal.month_of_quarter is None
    assert cal.scenario().stages[cal.timed_stage].month_of_quarter is None
    assert any("no month-of-quarter effect is simulated" in n for n in cal.notes)
    assert "no calendar effect is simulated" in cal.toml()


@needs_sample
@pytest.mark.slow  # the public sample's calibration alone takes about 25 s
def test_public_sample_quarter_end_is_simulated() -> None:
    cal = calibrate(read_crm(CRM_SAMPLE))
    for m in (1, 2, 3):
        for name in ("pace", "log_odds"):
            e = cal.estimate(f"calendar.{name}.month_{m}")
            assert e.low < e.value < e.high and e.source == "data"
    data = cal.scenario_data()
    data["calendar"]["horizon_months"] = 18  # a year after warm-up: 8,000 leads
    shares = _simulated_shares(Scenario.model_validate(data), 1, 1)
    assert 3 * shares["won"][0] > 1.2
    assert 3 * shares["lost"][0] < 0.7
