"""Round trip of a stage history: simulate known scenarios, export, calibrate, compare.

Each scenario has a queue (a pool with finite headcount on one stage, loaded enough that deals
wait) and is exported at its horizon's end, so deals still open are censored; every recorded
stage has its own duration and pass probability. Over K data sets (different replications),
each 95% interval of the calibration (arrival rate, each stage's pass probability and mean
time in stage) must cover the truth a number of times inside the two-sided binomial
acceptance region for K at 0.95: too few means intervals too narrow or biased, too many
intervals far too wide. The truth of a queued stage's mean time in stage (wait and work) is
measured on long reference runs, whose standard error must be small beside the data sets'
interval half-widths; waits come in congestion episodes months long, so its interval needs the
variance clustered by quarter. The mean of the completed visits only, dropping the censored
ones, fails the check.
"""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import kamsim
from kamsim.calibrate import Calibration, calibrate
from kamsim.crm import read_crm
from kamsim.crm_export import HISTORY_FILE, stage_history
from kamsim.scenario import Scenario
from kamsim.stage_fit import stage_visits

pytestmark = pytest.mark.slow  # K full calibrations per scenario

K = 60
ACCEPT = 0.001
"""A coverage count is rejected when the two-sided binomial test gives p below this."""
REFERENCE_REPS = 6
START = dt.date(2024, 1, 1)
SINCE = dt.date(2025, 1, 1)
"""The export holds the deals open on this date or created later: a year of warm-up fills
the queues first, and the deals under way then are left-truncated."""
RECORDED = ("development", "approval", "proposal", "tender", "negotiation")


def _stage(mean: float, cv: float, p: float, pools: list[str] | None = None) -> dict[str, Any]:
    stage: dict[str, Any] = {
        "duration": {"dist": "lognormal", "mean": mean, "cv": cv},
        "pass_probability": p,
    }
    return stage | ({"pools": pools} if pools else {})


def scenario(name: str) -> Scenario:
    """Two funnels: a queue for presales at the proposal or for the approvers at the
    approval (offered load about 0.8 each)."""
    if name == "proposal-queue":
        rate, stages = (
            20.0,
            {
                "development": _stage(20.0, 0.6, 0.7),
                "approval": _stage(10.0, 0.8, 0.9),
                "proposal": _stage(30.0, 0.7, 0.8, ["presales"]),
                "tender": _stage(40.0, 0.5, 0.4),
                "negotiation": _stage(15.0, 0.5, 0.85),
            },
        )
        resources = {"presales": {"headcount": 4, "deals_per_person": 4}}
    else:
        rate, stages = (
            30.0,
            {
                "development": _stage(15.0, 0.5, 0.6),
                "approval": _stage(20.0, 0.6, 0.85, ["approvers"]),
                "proposal": _stage(25.0, 0.6, 0.75),
                "tender": _stage(90.0, 1.0, 0.35),
                "negotiation": _stage(10.0, 0.5, 0.9),
            },
        )
        resources = {"approvers": {"headcount": 3, "deals_per_person": 5}}
    return Scenario.model_validate(
        {
            "name": name,
            "calendar": {"start": START, "horizon_months": 36, "currency": "USD"},
            "arrivals": {"rate_per_month": rate},
            "grades": {"A": {"share": 1.0, "value": {"dist": "lognormal", "mean": 5e3, "cv": 0.4}}},
            "stages": stages,
            "resources": resources,
        }
    )


def reference_mean(s: Scenario, stage: str) -> tuple[float, float]:
    """The long-run mean time in ``stage`` (wait and work) and its standard error, from
    ``REFERENCE_REPS`` runs of 20 years: visits entered after the first two years and two
    years before the end (so all have ended), the standard error by batch means over the
    yearly batches (waits are correlated in time, years nearly not)."""
    long = Scenario.model_validate(
        s.model_dump() | {"calendar": {"start": START, "horizon_months": 240, "currency": "USD"}}
    )
    events = kamsim.run(long, reps=REFERENCE_REPS, seed=99).events
    v = events[(events["stage"] == stage) & events["pool"].isna() & events["ended_at"].notna()]
    entered = v["queued_at"].to_numpy(float)
    time = v["ended_at"].to_numpy(float) - entered
    year = 365.0
    keep = (entered >= 2 * year) & (entered < 18 * year)
    batch = v["replication"].to_numpy()[keep] * 100 + np.floor(entered[keep] / year)
    means = pd.Series(time[keep]).groupby(batch).mean().to_numpy()
    return float(time[keep].mean()), float(means.std(ddof=1) / math.sqrt(means.size))


@dataclass(frozen=True)
class RoundTrip:
    truth: dict[str, float]
    work: dict[str, float]
    """The scenario's mean work per stage (its duration's mean)."""
    reference_se: dict[str, float]
    calibrations: list[Calibration]
    naive: list[dict[str, tuple[float, float]]]
    """Per data set: stage -> (mean, standard error) of the completed visits only."""


def data_set(
    s: Scenario, replication: int, folder: Path
) -> tuple[Calibration, dict[str, tuple[float, float]]]:
    """One replication exported as a stage history and calibrated; with the mean and standard
    error of each stage's completed visits only (the naive estimate)."""
    run = kamsim.simulate(s, seed=7, replication=replication)
    files = stage_history(run, since=SINCE)
    where = folder / str(replication)
    where.mkdir()
    for file, table in files.items():
        table.to_csv(where / file, index=False)
    export = read_crm(where / HISTORY_FILE, "stage-history")
    cal = calibrate(export)
    end = cal.as_of + pd.Timedelta(days=1)
    history = export.history(f"{cal.as_of:%Y-%m-%d}")
    completed = {}
    for stage in RECORDED:
        v = stage_visits(history, stage, cal.window[0], end)
        t = v.time[v.event > 0]
        completed[stage] = (float(t.mean()), float(t.std(ddof=1) / math.sqrt(t.size)))
    return cal, completed


def round_trip(name: str, folder: Path) -> RoundTrip:
    s = scenario(name)
    truth = {"arrivals.rate_per_month": s.arrivals.rate_per_month}
    reference_se: dict[str, float] = {}
    work: dict[str, float] = {}
    for stage in RECORDED:
        spec = getattr(s.stages, stage)
        work[f"stages.{stage}.mean_days"] = spec.duration.mean
        truth[f"stages.{stage}.pass_probability"] = spec.pass_probability["A"]
        if spec.pools:
            mean, se = reference_mean(s, stage)
            reference_se[f"stages.{stage}.mean_days"] = se
        else:
            mean = work[f"stages.{stage}.mean_days"]
        truth[f"stages.{stage}.mean_days"] = mean
    # The data sets are independent: two processes (the CI machine's two cores) halve the time.
    with ProcessPoolExecutor(2) as pool:
        trips = list(pool.map(data_set, [s] * K, range(K), [folder] * K))
    calibrations = [cal for cal, _ in trips]
    naive = [completed for _, completed in trips]
    return RoundTrip(truth, work, reference_se, calibrations, naive)


@pytest.fixture(scope="module", params=["proposal-queue", "approval-queue"])
def trip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    return round_trip(request.param, tmp_path_factory.mktemp(request.param))


def accepted(count: int) -> bool:
    return binomtest(count, K, 0.95).pvalue > ACCEPT


def test_scenarios_queue_and_censor(trip: RoundTrip) -> None:
    """The data sets have what the round trip is about: waits, and deals open at the end."""
    for cal in trip.calibrations[:5]:
        open_visits = sum(f.counts[2] for f in cal.stage_fits)
        assert open_visits > 20, open_visits
    for name in trip.reference_se:
        assert trip.truth[name] > 1.03 * trip.work[name]  # deals wait


def coverage(trip: RoundTrip, names: list[str]) -> dict[str, int]:
    """How many of the K calibrations' intervals hold the truth, per estimate."""
    return {
        name: sum(
            cal.estimate(name).low <= trip.truth[name] <= cal.estimate(name).high
            for cal in trip.calibrations
        )
        for name in names
    }


def test_intervals_cover_the_truth_at_the_nominal_rate(trip: RoundTrip) -> None:
    counts = coverage(trip, [n for n in trip.truth if n not in trip.reference_se])
    rejected = {n: c for n, c in counts.items() if not accepted(c)}
    assert not rejected, f"covered of {K}: {rejected} (all: {counts})"


def test_a_queued_stage_mean_covers_the_truth_at_the_nominal_rate(trip: RoundTrip) -> None:
    """The long-run mean time in a queued stage: covered only because the variance sums the
    visits' influences by quarter (congestion episodes), not visit by visit."""
    counts = coverage(trip, list(trip.reference_se))
    assert all(accepted(c) for c in counts.values()), counts


def test_reference_error_is_small_beside_the_intervals(trip: RoundTrip) -> None:
    for name, se in trip.reference_se.items():
        half = np.median(
            [(c.estimate(name).high - c.estimate(name).low) / 2 for c in trip.calibrations]
        )
        assert se < 0.2 * half, (name, se, half)


def test_dropping_censored_visits_fails_the_check(trip: RoundTrip) -> None:
    """The naive mean of completed visits is biased short: its intervals miss."""
    counts = {}
    for stage in RECORDED:
        truth = trip.truth[f"stages.{stage}.mean_days"]
        counts[stage] = sum(
            abs(naive[stage][0] - truth) <= 1.959963984540054 * naive[stage][1]
            for naive in trip.naive
        )
    assert any(not accepted(c) for c in counts.values()), counts
