"""Starting the engine from a pipeline already under way (``kamsim.pipeline``).

Oracles: closed forms and scipy for the remaining time of a stage conditioned on the time
already spent; hand-derived signing times and win counts on tiny scenarios; and the runs
themselves for what must not change (an empty pipeline, the new leads' luck, the worker
count).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE, STAGES
from helpers import interval, load_toml
from scipy import integrate, stats

import kamsim
from kamsim.distributions import (
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    Lognormal,
    Pert,
    Triangular,
    Uniform,
    conditional_remaining,
)
from kamsim.errors import ScenarioError
from kamsim.experiment import experiment
from kamsim.pipeline import OpenDeal, OpenPipeline

OPEN_BASE = 1_000_000_000
"""README/docs: open deal i has the id 1,000,000,000 + i."""
START = dt.date(2027, 1, 1)
N_DRAWS = 40_000


def _u(seed: int, n: int = N_DRAWS) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=n)


def _scipy(dist: object) -> stats.rv_continuous:
    """The same distribution in scipy's parametrisation (an independent oracle)."""
    if isinstance(dist, Exponential):
        return stats.expon(scale=dist.mean)
    if isinstance(dist, Lognormal):
        s2 = math.log1p(dist.cv**2)
        return stats.lognorm(s=math.sqrt(s2), scale=math.exp(math.log(dist.mean) - s2 / 2))
    if isinstance(dist, Gamma):
        return stats.gamma(dist.shape, scale=dist.scale)
    if isinstance(dist, Uniform):
        return stats.uniform(dist.low, dist.high - dist.low)
    if isinstance(dist, Triangular):
        span = dist.high - dist.low
        return stats.triang((dist.mode - dist.low) / span, loc=dist.low, scale=span)
    if isinstance(dist, Pert):
        span = dist.high - dist.low
        a = 1 + dist.lamb * (dist.mode - dist.low) / span
        b = 1 + dist.lamb * (dist.high - dist.mode) / span
        return stats.beta(a, b, loc=dist.low, scale=span)
    raise AssertionError(dist)


# -- the remaining time of a stage, conditioned on its age -----------------------------------


def test_exponential_remaining_time_is_memoryless() -> None:
    """Whatever the age, the time left is exponential with the same mean: the same uniforms
    give the same times at every age, and their mean and survival match the closed form."""
    dist = Exponential(mean=30.0)
    u = _u(1)
    left = conditional_remaining(dist, 0.0, u)
    for age in (5.0, 60.0, 1000.0):
        np.testing.assert_array_equal(conditional_remaining(dist, age, u), left)
    assert interval(left).agrees_with(30.0)
    for t in (10.0, 30.0, 90.0):
        share = float((left > t).mean())
        se = math.sqrt(share * (1 - share) / len(left))
        assert abs(share - math.exp(-t / 30.0)) <= 3 * se, (t, share)


CONTINUOUS = [
    Lognormal(mean=30.0, cv=1.0),
    Lognormal(mean=100.0, cv=0.7),
    Gamma(shape=4.0, scale=10.0),
    Gamma(shape=0.5, scale=60.0),
    Uniform(low=10.0, high=50.0),
    Triangular(low=25.0, mode=30.0, high=50.0),
    Pert(low=5.0, mode=10.0, high=40.0),
]


@pytest.mark.parametrize("dist", CONTINUOUS, ids=repr)
def test_remaining_time_inverts_the_conditional_survival_of_scipy(dist: object) -> None:
    """For each uniform u the time left t solves P(T > age + t | T > age) = 1 - u, with
    scipy's survival function as the oracle, at ages inside and far into the tail."""
    ref = _scipy(dist)
    u = np.linspace(0.0, 0.999, 41)
    for q in (0.0, 0.3, 0.9, 0.999):
        age = float(ref.ppf(q))
        left = conditional_remaining(dist, age, u)  # type: ignore[arg-type]
        assert (left >= 0).all()
        survival = ref.sf(age + left) / ref.sf(age)
        np.testing.assert_allclose(survival, 1.0 - u, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "dist", [Lognormal(mean=30.0, cv=1.0), Gamma(shape=4.0, scale=10.0)], ids=repr
)
def test_remaining_time_mean_matches_scipy_within_its_standard_error(dist: object) -> None:
    """Sampled with uniforms, the mean time left agrees with E[T - a | T > a] integrated from
    scipy's survival function, within 3 standard errors of the sample (and not with the
    unconditioned mean, which it must differ from)."""
    ref = _scipy(dist)
    for i, age in enumerate((20.0, 60.0)):
        left = conditional_remaining(dist, age, _u(10 + i))  # type: ignore[arg-type]
        expected = integrate.quad(lambda t, a=age: ref.sf(a + t), 0, np.inf)[0] / ref.sf(age)
        se = left.std(ddof=1) / math.sqrt(len(left))
        assert abs(left.mean() - expected) <= 3 * se, (age, left.mean(), expected, se)
        assert abs(left.mean() - ref.mean()) > 3 * se  # the age matters


def test_fixed_and_empirical_remaining_times() -> None:
    """Fixed: what is left of the value (never below 0). Empirical: the values above the age,
    resampled with their weights (every value at age 0)."""
    np.testing.assert_array_equal(
        conditional_remaining(Fixed(value=20.0), np.array([0.0, 5.0, 20.0, 30.0]), 0.5),
        [20.0, 15.0, 0.0, 0.0],
    )
    dist = Empirical(values=[30.0, 5.0, 10.0, 20.0], weights=[1.0, 1.0, 2.0, 1.0])
    u = _u(3)
    left = conditional_remaining(dist, 6.0, u)
    for value, weight in ((10.0, 0.5), (20.0, 0.25), (30.0, 0.25)):
        share = float(np.isclose(left, value - 6.0).mean())
        assert abs(share - weight) <= 3 * math.sqrt(weight * (1 - weight) / len(u)), value
    assert set(np.round(conditional_remaining(dist, 0.0, u), 9)) == {5.0, 10.0, 20.0, 30.0}
    assert (conditional_remaining(dist, 30.0, u) == 0).all()  # nothing above: done at once


def test_remaining_time_refuses_bad_ages_and_uniforms() -> None:
    with pytest.raises(ValueError, match="age"):
        conditional_remaining(Exponential(mean=1.0), -1.0, 0.5)
    with pytest.raises(ValueError, match="u"):
        conditional_remaining(Exponential(mean=1.0), 1.0, 1.0)


# -- the engine ------------------------------------------------------------------------------

CLOSING = """
name = "closing"
[calendar]
start = 2027-01-01
horizon_months = {months}
[arrivals]
rate_per_month = {rate}
[grades.A]
share = 1.0
value = {{ dist = "fixed", value = 1000000.0 }}
[stages.negotiation]
duration = {duration}
pass_probability = {p}
"""


def closing(tmp_path: Path, duration: str, p: float = 1.0, months: int = 3, rate: float = 0.0):
    """Deals only negotiate (every other stage is instant and passed); no new leads."""
    text = CLOSING.format(months=months, rate=rate, duration=duration, p=p)
    return load_toml(tmp_path, text)


def negotiating(ages: list[float], as_of: dt.date = START) -> OpenPipeline:
    return OpenPipeline(
        as_of, tuple(OpenDeal(f"N{i}", "negotiation", a) for i, a in enumerate(ages))
    )


@pytest.mark.parametrize("as_of", [START, dt.date(2027, 1, 15)])
def test_a_deal_in_negotiation_signs_exactly_when_its_fixed_duration_runs_out(
    tmp_path: Path, as_of: dt.date
) -> None:
    """Pass probability 1 and a fixed duration D: a deal aged a signs D - a days after the
    as-of date, and a deal aged D or more at once."""
    d = 20.0
    ages = [0.0, 1.5, 7.25, 19.0, 20.0, 35.0]
    scenario = closing(tmp_path, '{ dist = "fixed", value = 20.0 }')
    pipeline = negotiating(ages, as_of)
    deals = kamsim.simulate(scenario, seed=5, pipeline=pipeline).deals
    at = float((as_of - START).days)
    assert list(deals["deal_id"]) == [OPEN_BASE + i for i in range(len(ages))]
    assert (deals["outcome"] == "won").all()
    assert list(deals["signed_at"]) == [at + max(d - a, 0.0) for a in ages]
    assert list(deals["arrived_at"]) == [at - a for a in ages]  # when they entered the stage
    kpis = kamsim.simulate(scenario, seed=5, pipeline=pipeline).kpis.iloc[0]
    assert kpis["deals_won"] == len(ages)
    assert kpis["bookings"] == pytest.approx(len(ages) * 1e6)
    assert [pipeline.deal_of(int(i)).deal_id for i in deals["deal_id"]] == [
        f"N{i}" for i in range(len(ages))
    ]


def test_wins_from_an_aged_pipeline_meet_the_conditioned_expectation(tmp_path: Path) -> None:
    """No new leads; N deals in negotiation, lognormal (mean 30, cv 1) and pass 0.7, half at
    age 0 and half at age 120: over one model month the expected wins are
    0.7 N/2 [P(T <= H) + P(T <= 120 + H | T > 120)] (scipy). The mean over replications
    agrees within 3 half-widths, and the same count without the conditioning does not."""
    n, p = 200, 0.7
    h = 365 / 12
    scenario = closing(tmp_path, '{ dist = "lognormal", mean = 30.0, cv = 1.0 }', p, months=1)
    ages = [0.0] * (n // 2) + [120.0] * (n // 2)
    result = kamsim.run(scenario, reps=25, seed=2, pipeline=negotiating(ages))
    won = result.kpis["deals_won"].to_numpy(float)
    ref = _scipy(Lognormal(mean=30.0, cv=1.0))
    conditioned = (ref.cdf(120 + h) - ref.cdf(120)) / ref.sf(120)
    expected = p * n / 2 * (ref.cdf(h) + conditioned)
    unconditioned = p * n * ref.cdf(h)
    ci = interval(won)
    assert ci.agrees_with(expected), (ci, expected)
    assert not ci.agrees_with(unconditioned), (ci, unconditioned)


@pytest.fixture(scope="module")
def short() -> kamsim.Scenario:
    """The baseline over six months from its start, every mechanism on."""
    return kamsim.load_scenario(BASELINE, ["calendar.horizon_months=6", "calendar.warmup_months=0"])


def spread(as_of: dt.date = START, n: int = 60) -> OpenPipeline:
    """Open deals in every pre-signing stage, with mixed ages, grades, values and owners."""
    deals = []
    for i in range(n):
        deals.append(
            OpenDeal(
                f"CRM-{i:03d}",
                STAGES[i % 5],
                age=float((7 * i) % 90),
                value=None if i % 4 == 0 else 1e6 + 1e5 * i,
                grade=None if i % 3 == 0 else "ABCD"[i % 4],
                account=None if i % 2 else f"acct-{i % 7}",
                owner=None if i % 5 == 1 else f"am-{i % 6}",
            )
        )
    return OpenPipeline(as_of, tuple(deals))


def test_open_deals_start_in_their_stage_and_never_visit_an_earlier_one(short) -> None:
    pipeline = spread(dt.date(2027, 1, 20))
    events = kamsim.simulate(short, seed=4, replication=1, pipeline=pipeline).events
    visits = events[events["pool"].isna() & (events["deal_id"] >= OPEN_BASE)]
    first = visits.groupby("deal_id", observed=True).first()
    lowest = visits.groupby("deal_id", observed=True)["stage"].min()
    at = 19.0
    for deal_id, row in first.iterrows():
        deal = pipeline.deal_of(int(deal_id))
        assert row["stage"] == deal.stage
        assert lowest[deal_id] == deal.stage
        assert row["queued_at"] == at - deal.age  # the visit started before the as-of date
    assert len(first) == len(pipeline)


def test_an_empty_pipeline_gives_the_ordinary_run(short) -> None:
    """Negative control: a pipeline with no deals on the scenario's start changes nothing."""
    empty = OpenPipeline(START, ())
    plain = kamsim.run(short, reps=2, seed=9)
    started = kamsim.run(short, reps=2, seed=9, pipeline=empty)
    for name, table in plain.tables().items():
        pd.testing.assert_frame_equal(getattr(started, name), table, check_exact=True)


def test_a_pipeline_changes_no_new_lead_and_is_reproducible(short) -> None:
    """The open deals draw from streams of their own: the new leads arrive when and as they
    would without them; the same seed gives the same run, another replication another."""
    plain = kamsim.simulate(short, seed=6, replication=2).deals
    pipeline = spread()
    with_open = kamsim.simulate(short, seed=6, replication=2, pipeline=pipeline).deals
    again = kamsim.simulate(short, seed=6, replication=2, pipeline=pipeline).deals
    pd.testing.assert_frame_equal(with_open, again, check_exact=True)
    other = kamsim.simulate(short, seed=6, replication=3, pipeline=pipeline).deals
    assert not with_open[with_open["deal_id"] >= OPEN_BASE]["value"].equals(
        other[other["deal_id"] >= OPEN_BASE]["value"]
    )
    new = with_open[with_open["deal_id"] < OPEN_BASE].reset_index(drop=True)
    same = ["deal_id", "account_id", "grade", "value", "margin", "arrived_at"]
    pd.testing.assert_frame_equal(new[same], plain[same], check_exact=True)
    assert set(with_open["deal_id"]) >= {OPEN_BASE + i for i in range(len(pipeline))}
    # Known values are kept; named owners hold an account manager (ownership is on).
    mine = with_open[with_open["deal_id"] >= OPEN_BASE].set_index("deal_id")
    for i, deal in enumerate(pipeline.deals):
        if deal.value is not None:
            assert mine.loc[OPEN_BASE + i, "value"] == deal.value
        if deal.grade is not None:
            assert mine.loc[OPEN_BASE + i, "grade"] == deal.grade
    assert (mine["owner"].notna()).all()
    by_name: dict[str, set[int]] = {}
    for i, deal in enumerate(pipeline.deals):  # no one carries 20 deals: each keeps theirs
        if deal.owner is not None:
            by_name.setdefault(deal.owner, set()).add(int(mine.loc[OPEN_BASE + i, "owner"]))
    assert all(len(owners) == 1 for owners in by_name.values()), by_name
    assert len(set().union(*by_name.values())) == len(by_name)


def test_leads_before_the_as_of_date_are_not_simulated(short) -> None:
    """As of day 40 the run meets only the leads arriving from then on, the same ones (ids,
    times, values) as the run from day 0."""
    plain = kamsim.simulate(short, seed=1).deals
    later = kamsim.simulate(short, seed=1, pipeline=OpenPipeline(START + dt.timedelta(40))).deals
    kept = plain[plain["arrived_at"] >= 40.0].reset_index(drop=True)
    same = ["deal_id", "grade", "value", "arrived_at"]
    pd.testing.assert_frame_equal(later[same], kept[same], check_exact=True)


def test_one_and_two_workers_give_identical_tables(short) -> None:
    pipeline = spread(dt.date(2027, 2, 10))
    runs = [
        experiment(
            {"b": short}, reps=3, seed=8, workers=w, deals=True, pipeline=pipeline, progress=False
        )
        for w in (1, 2)
    ]
    for name in ("kpis", "timeseries", "deals"):
        pd.testing.assert_frame_equal(getattr(runs[0], name), getattr(runs[1], name))
    assert (runs[0].deals["deal_id"] >= OPEN_BASE).sum() == 3 * len(pipeline)


def test_pipelines_that_do_not_fit_are_refused(short) -> None:
    with pytest.raises(ScenarioError, match="before the scenario's start"):
        kamsim.simulate(short, pipeline=OpenPipeline(dt.date(2026, 12, 31)))
    with pytest.raises(ScenarioError, match="horizon ends"):
        kamsim.simulate(short, pipeline=OpenPipeline(dt.date(2028, 1, 1)))
    one_grade = kamsim.Scenario()
    with pytest.raises(ScenarioError, match="no grade B"):
        kamsim.run(
            one_grade, pipeline=OpenPipeline(START, (OpenDeal("x", "tender", 1.0, grade="B"),))
        )
    with pytest.raises(ValueError, match="OpenPipeline"):
        kamsim.simulate(short, pipeline=[OpenDeal("x", "tender")])  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="already signed"):
        OpenDeal("x", "implementation")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError) as bad:
        OpenDeal("x", "proposal", age=-1.0, value=-5.0, grade="E")  # type: ignore[arg-type]
    assert [p.where for p in bad.value.problems] == [
        "deal 'x': age",
        "deal 'x': value",
        "deal 'x': grade",
    ]
    with pytest.raises(ScenarioError, match="also deals"):
        OpenPipeline(START, (OpenDeal("x", "tender"), OpenDeal("x", "proposal")))


@pytest.mark.slow  # 40 replications of an 18-month baseline, each forecast again from day 547
def test_a_forecast_from_a_snapshot_meets_the_world_it_was_taken_from() -> None:
    """End to end: run the baseline for 18 months, take the deals open at 12 months (stage,
    days in it, value, grade) as a pipeline, forecast six months from it, and count the
    wins of those deals against what the original world did with them. Account ties, which
    build up over years and which a pipeline does not carry, are off; every other mechanism
    is on. The paired mean difference agrees with 0 within 3 half-widths."""
    t = 12 * 365 / 12
    end = t + 6 * 365 / 12
    world = kamsim.load_scenario(
        BASELINE,
        [
            "calendar.horizon_months=18",
            "calendar.warmup_months=0",
            "relationship.account_ties=false",
        ],
    )
    ahead = world.with_overrides({"calendar.start": "2028-01-01", "calendar.horizon_months": 6})
    differences = []
    for r in range(40):
        res = kamsim.simulate(world, seed=1, replication=r)
        visits = res.events[res.events["pool"].isna()]
        visits = visits[
            (visits["queued_at"] <= t)
            & ~(visits["ended_at"] <= t)
            & (visits["stage"] != "implementation")
        ]
        deals = res.deals.set_index("deal_id")
        pipeline = OpenPipeline(
            dt.date(2028, 1, 1),
            tuple(
                OpenDeal(
                    str(v.deal_id),
                    v.stage,
                    t - v.queued_at,
                    float(deals.loc[v.deal_id, "value"]),
                    deals.loc[v.deal_id, "grade"],
                )
                for v in visits.itertuples()
            ),
        )
        signed = deals.loc[list(visits["deal_id"]), "signed_at"]
        truth = int(((signed > t) & (signed <= end)).sum())
        forecast = kamsim.simulate(ahead, seed=2, replication=r, pipeline=pipeline).deals
        mine = forecast[(forecast["deal_id"] >= OPEN_BASE) & (forecast["outcome"] == "won")]
        differences.append(len(mine) - truth)
    assert interval(differences).agrees_with(0.0), interval(differences)
