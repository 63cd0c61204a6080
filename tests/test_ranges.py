"""Ranges follow from the distributions themselves.

Each distribution declares its support (the values it can draw, ends open or closed); each
scenario field declares its range; a distribution is accepted only where its support fits the
field's range. The expected supports and ranges are written out here from the documentation
(README, issue text), not read from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from constants import BASELINE
from hypothesis import given, settings
from hypothesis import strategies as st

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
)

INF = math.inf


@pytest.mark.parametrize(
    ("dist", "expected"),
    [
        (Fixed(value=3.0), (3.0, 3.0, False, False)),
        (Empirical(values=[2.0, -1.0, 5.0]), (-1.0, 5.0, False, False)),
        (Uniform(low=1.0, high=2.0), (1.0, 2.0, False, False)),
        (Triangular(low=0.0, mode=1.0, high=4.0), (0.0, 4.0, False, False)),
        (Pert(low=0.5, mode=1.0, high=4.0), (0.5, 4.0, False, False)),
        (Lognormal(mean=2.0, cv=0.5), (0.0, INF, True, True)),
        (Gamma(shape=2.0, scale=3.0), (0.0, INF, True, True)),
        (Exponential(mean=2.0), (0.0, INF, False, True)),
    ],
)
def test_each_distribution_declares_its_support(dist: object, expected: tuple) -> None:
    s = dist.support  # type: ignore[attr-defined]
    assert (s.low, s.high, s.low_open, s.high_open) == expected


finite = st.floats(-1e6, 1e6, allow_nan=False)
positive = st.floats(1e-3, 1e6)


@st.composite
def distributions(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["fixed", "empirical", "uniform", "triangular", "pert"]))
    if kind == "fixed":
        return Fixed(value=draw(finite))
    if kind == "empirical":
        return Empirical(values=draw(st.lists(finite, min_size=1, max_size=5)))
    a, b, c = sorted(draw(st.lists(finite, min_size=3, max_size=3)))
    if kind == "uniform":
        return Uniform(low=a, high=c)
    cls = Triangular if kind == "triangular" else Pert
    return cls(low=a, mode=b, high=c)


@st.composite
def unbounded(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["lognormal", "gamma", "exponential"]))
    if kind == "lognormal":
        return Lognormal(mean=draw(positive), cv=draw(st.floats(1e-3, 3.0)))
    if kind == "gamma":
        return Gamma(shape=draw(st.floats(0.05, 50.0)), scale=draw(positive))
    return Exponential(mean=draw(positive))


@settings(max_examples=200, deadline=None)
@given(dist=st.one_of(distributions(), unbounded()), seed=st.integers(0, 2**32 - 1))
def test_draws_stay_inside_the_declared_support(dist: object, seed: int) -> None:
    s = dist.support  # type: ignore[attr-defined]
    x = dist.sample(np.random.default_rng(seed), 2000)  # type: ignore[attr-defined]
    assert np.isfinite(x).all()
    assert (x >= s.low).all() and (x <= s.high).all()
    if s.low_open:
        # Underflow can give exactly 0 for a tiny draw; the open end is about the law.
        assert (x > s.low).mean() > 0.99


DURATIONS = [
    "grades.A.value",
    "stages.tender.duration",
    "stages.proposal.patience",
    "payments.lag_days",
    "relationship.executive_visit_days",
    "competition.competitors",
    "contract.approval_days",
    "implementation.acceptance_delay_days",
    "repeat.delay_days",
]
"""Fields that can never be negative: durations, delays, lags, values, counts."""


def _problems(*overrides: str) -> list[kamsim.Problem]:
    with pytest.raises(kamsim.ScenarioError) as err:
        kamsim.load_scenario(BASELINE, list(overrides))
    return err.value.problems


@pytest.mark.parametrize("field", DURATIONS)
def test_a_support_reaching_below_zero_is_rejected(field: str) -> None:
    problems = _problems(f'{field}={{dist="uniform", low=-1.0, high=2.0}}')
    assert [p.where for p in problems] == [field]
    assert "[-1, 2]" in problems[0].message and "[0, " in problems[0].message


@pytest.mark.parametrize(
    ("override", "field", "needs"),
    [
        ('competition.price_fight_discount={dist="empirical", values=[1.2]}', None, "[0, 1)"),
        ('competition.price_fight_discount={dist="lognormal", mean=0.1, cv=0.2}', None, "[0, 1)"),
        ('competition.price_fight_discount={dist="uniform", low=0.0, high=1.0}', None, "[0, 1)"),
        ('stages.tender.odds.shaped={dist="uniform", low=-1.0, high=2.0}', None, "(0, inf)"),
        ('stages.tender.odds.shaped={dist="fixed", value=0.0}', None, "(0, inf)"),
        ("stages.tender.odds.shaped=0.0", None, "greater than 0"),
        ('grades.A.margin={dist="fixed", value=5.0}', None, "[-1, 1)"),
        ('grades.A.margin={dist="uniform", low=0.5, high=1.0}', None, "[-1, 1)"),
        ('competition.competitors={dist="lognormal", mean=2.0, cv=0.5}', None, "[0, 100]"),
        ("period_end.quarter.discount=1.0", None, "less than 1"),
    ],
)
def test_a_support_outside_the_field_range_is_rejected(
    override: str, field: str | None, needs: str
) -> None:
    problems = _problems(override)
    expected = field or override.partition("=")[0]
    assert [p.where for p in problems] == [expected]
    assert needs in problems[0].message


@pytest.mark.parametrize(
    "override",
    [
        'stages.tender.odds.shaped={dist="lognormal", mean=2.0, cv=0.5}',
        'stages.tender.odds.shaped={dist="gamma", shape=4.0, scale=0.5}',
        'stages.tender.odds.shaped={dist="uniform", low=0.5, high=2.0}',
        'competition.price_fight_discount={dist="uniform", low=0.0, high=0.999}',
        'competition.price_fight_discount={dist="fixed", value=0.0}',
        'grades.D.margin={dist="uniform", low=-0.1, high=0.2}',
        'grades.D.margin={dist="empirical", values=[-1.0, 0.99]}',
        'stages.tender.duration={dist="exponential", mean=30.0}',
        'stages.tender.duration={dist="fixed", value=0.0}',
    ],
)
def test_a_support_inside_the_field_range_is_accepted(override: str) -> None:
    kamsim.load_scenario(BASELINE, [override])


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ('grades.A.value={dist="fixed", value=1e308}', "grades.A.value.value"),
        ('grades.A.value={dist="lognormal", mean=1e13, cv=0.5}', "grades.A.value"),
        ('grades.A.value={dist="lognormal", mean=1e6, cv=1e200}', "grades.A.value.cv"),
        (
            'grades.A.value={dist="empirical", values=[1.0, 2.0], weights=[1e308, 1e308]}',
            "grades.A.value.weights",
        ),
        ('stages.tender.duration={dist="fixed", value=1e9}', "stages.tender.duration"),
        ('stages.tender.duration={dist="gamma", shape=1e-9, scale=1.0}', "shape"),
        ('competition.competitors={dist="empirical", values=[1e6]}', "competitors"),
        ('competition.competitors={dist="fixed", value=1e6}', "competition.competitors"),
        ("grades.A.accounts=100000000000000000000", "grades.A.accounts"),
        ("arrivals.rate_per_month=1e20", "arrivals.rate_per_month"),
        ("calendar.start=9999-06-01", "calendar.start"),
        ("policy.pipeline_review.every_days=1e-300", "policy.pipeline_review.every_days"),
        ("resources.presales.monthly_cost=1e300", "resources.presales.monthly_cost"),
    ],
)
def test_magnitudes_beyond_the_limits_are_rejected(override: str, fragment: str) -> None:
    problems = _problems(override)
    assert problems
    assert all(fragment in p.where for p in problems), problems
