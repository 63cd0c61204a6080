"""``kamsim.intervals``: the t quantile, intervals that respect bounds, the minimum number of
replications, Bonferroni levels and the precision helper for adding replications.

Oracles: ``scipy.stats`` and the suite's one t interval (``helpers.interval``), never kamsim.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from constants import ROOT
from helpers import interval
from scipy import stats

from kamsim.intervals import (
    MIN_REPLICATIONS,
    TOO_FEW,
    Bounds,
    bonferroni,
    estimate,
    needed,
    t_quantile,
)

SRC = ROOT / "src"

# -- the t quantile -------------------------------------------------------------------------------


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 9, 19, 29, 99, 999, 10**6])
@pytest.mark.parametrize("probability", [0.75, 0.95, 0.975, 0.995, 1 - 0.025 / 20, 1 - 5e-7])
def test_the_t_quantile_is_scipys(df: int, probability: float) -> None:
    expected = float(stats.t.ppf(probability, df))
    assert t_quantile(probability, df) == pytest.approx(expected, rel=1e-12, abs=0)


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
        check=False,
        timeout=60,
    )


# kamsim's package __init__ imports kamsim.analytic (kamsim.check), which imports scipy.stats;
# this loads kamsim.analysis and what it imports without running the package's __init__.
WITHOUT_PACKAGE_INIT = f"""
import sys, types
package = types.ModuleType("kamsim")
package.__path__ = [{str(SRC / "kamsim")!r}]
sys.modules["kamsim"] = package
"""


def test_the_analysis_modules_import_no_scipy() -> None:
    done = python(
        WITHOUT_PACKAGE_INIT
        + """
import kamsim.analysis, kamsim.intervals
assert "scipy" not in sys.modules, sorted(m for m in sys.modules if m.startswith("scipy"))
# Negative control: the check sees scipy once an interval needs it, and only scipy.special.
kamsim.intervals.t_half_width([1.0, 2.0, 4.0])
assert "scipy.special" in sys.modules
assert "scipy.stats" not in sys.modules
print("ok")
"""
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_importing_kamsim_analysis_imports_no_scipy() -> None:
    """scipy costs about a second to import: it is loaded where it is used, not on import."""
    done = python("import kamsim.analysis, sys; assert 'scipy' not in sys.modules")
    assert done.returncode == 0, done.stderr
    done = python("import kamsim, sys; assert 'scipy' not in sys.modules")
    assert done.returncode == 0, done.stderr


# -- intervals ----------------------------------------------------------------------------------


def test_an_estimate_is_the_t_interval_with_the_spread() -> None:
    x = np.array([3.0, 7.5, 4.25, 9.0, 5.5, 6.0])
    est = estimate(x)
    ci = interval(x)
    assert est.n == 6
    assert est.mean == pytest.approx(ci.mean, rel=1e-12)
    assert est.half_width == pytest.approx(ci.half_width, rel=1e-12)
    assert (est.low, est.high) == pytest.approx((ci.mean - ci.half_width, ci.mean + ci.half_width))
    assert est.sd == pytest.approx(float(np.std(x, ddof=1)), rel=1e-12)
    sorted_x = np.sort(x)  # linear between order statistics: rank q x (n - 1)
    assert est.p50 == pytest.approx((sorted_x[2] + sorted_x[3]) / 2)
    assert est.p10 == pytest.approx(sorted_x[0] + 0.5 * (sorted_x[1] - sorted_x[0]))
    assert est.p90 == pytest.approx(sorted_x[4] + 0.5 * (sorted_x[5] - sorted_x[4]))
    assert est.note == "" and not (est.clipped_low or est.clipped_high)


def test_missing_values_are_left_out() -> None:
    est = estimate([1.0, math.nan, 2.0, 4.0])
    assert est.n == 3
    assert est.half_width == pytest.approx(interval([1.0, 2.0, 4.0]).half_width, rel=1e-12)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_no_interval_from_too_few_values(n: int) -> None:
    est = estimate([0.2, 0.95][:n], bounds=Bounds(0.0, 1.0))
    assert est.n == n
    assert math.isnan(est.half_width) and math.isnan(est.low) and math.isnan(est.high)
    assert est.note == (TOO_FEW if n else "no values")
    if n:
        assert est.mean == pytest.approx(np.mean([0.2, 0.95][:n]))


def test_the_threshold_is_three() -> None:
    assert MIN_REPLICATIONS == 3
    est = estimate([0.2, 0.95, 0.5], bounds=Bounds(0.0, 1.0))  # negative control: 3 suffice
    assert not math.isnan(est.half_width) and est.note == ""


def test_an_interval_is_clipped_to_the_bounds_and_says_so() -> None:
    x = [0.97, 0.99, 0.999]
    ci = interval(x)
    assert ci.mean + ci.half_width > 1  # the plain t interval goes past 100%
    est = estimate(x, bounds=Bounds(0.0, 1.0))
    assert est.high == 1.0 and est.clipped_high and not est.clipped_low
    assert est.low == pytest.approx(ci.mean - ci.half_width, rel=1e-12)
    assert est.half_width == pytest.approx(ci.half_width, rel=1e-12)  # the error, unclipped
    unbounded = estimate(x)  # negative control: no bounds, no clipping
    assert unbounded.high == pytest.approx(ci.mean + ci.half_width) and not unbounded.clipped_high


def test_a_non_negative_amount_is_clipped_at_zero() -> None:
    x = [1.0e4, 2.0e4, 9.0e5]
    est = estimate(x, bounds=Bounds(0.0, math.inf))
    assert est.low == 0.0 and est.clipped_low and not est.clipped_high
    assert est.high == pytest.approx(interval(x).mean + interval(x).half_width)


def test_values_outside_the_bounds_are_not_clipped() -> None:
    est = estimate([1.2, 0.9, 0.95], bounds=Bounds(0.0, 1.0))
    assert est.outside_bounds and not est.clipped_high
    assert est.high > 1.0


def test_equal_values_give_an_interval_of_no_width_with_a_note() -> None:
    est = estimate([5.0, 5.0, 5.0])
    assert (est.low, est.mean, est.high, est.half_width) == (5.0, 5.0, 5.0, 0.0)
    assert "no width" in est.note


def test_the_range_of_a_difference() -> None:
    assert Bounds(0.0, 1.0).difference() == Bounds(-1.0, 1.0)
    assert Bounds(0.0, math.inf).difference() == Bounds(-math.inf, math.inf)
    with pytest.raises(ValueError, match="below"):
        Bounds(1.0, 0.0)


def test_clipping_keeps_the_coverage_of_the_t_interval() -> None:
    """Shares of 20 Bernoulli(0.03) trials in 5 replications: the mean 0.03 is close to 0, so
    the t interval often reaches below 0. Clipped, it covers exactly as often and never
    leaves [0, 1]."""
    rng = np.random.default_rng(20240601)
    p, trials = 0.03, 2000
    shares = rng.binomial(20, p, size=(trials, 5)) / 20
    clipped = plain = went_below = 0
    for x in shares:
        est = estimate(x, bounds=Bounds(0.0, 1.0))
        if math.isnan(est.low):
            continue
        assert 0.0 <= est.low <= est.high <= 1.0
        went_below += est.clipped_low
        clipped += est.low <= p <= est.high
        plain += est.mean - est.half_width <= p <= est.mean + est.half_width
    assert went_below > trials / 4  # the bound matters here (not vacuous)
    assert clipped == plain


# -- Bonferroni -----------------------------------------------------------------------------------


def test_bonferroni_levels() -> None:
    assert bonferroni(0.95, 1) == pytest.approx(0.95)
    assert bonferroni(0.95, 5) == pytest.approx(0.99)
    assert bonferroni(0.9, 4) == pytest.approx(0.975)


@pytest.mark.parametrize("comparisons", [0, -2, 1.5, True, "3", None])
def test_bonferroni_refuses_what_is_not_a_count(comparisons: object) -> None:
    with pytest.raises(ValueError, match="comparisons"):
        bonferroni(0.95, comparisons)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, 95, math.nan, True, "0.95"])
def test_levels_outside_zero_to_one_are_refused(level: object) -> None:
    with pytest.raises(ValueError, match="level"):
        estimate([1.0, 2.0, 3.0], level=level)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        needed([1.0, 2.0, 3.0], 0.05, level=level)  # type: ignore[arg-type]


# -- precision ----------------------------------------------------------------------------------


def smallest_n(mean: float, sd: float, target: float, level: float = 0.95) -> int:
    """Brute force: the first N with t(N - 1) sd / sqrt(N) <= target |mean|."""
    n = np.arange(2, 200_001)
    hw = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    return int(n[np.argmax(hw <= target * abs(mean))])


@pytest.mark.parametrize(
    ("values", "target"),
    [
        ([10.0, 12.0, 9.0, 11.5, 10.5], 0.05),
        ([10.0, 12.0, 9.0, 11.5, 10.5], 0.01),
        ([0.2, 0.5, 0.1, 0.9], 0.02),
        ([-3.0, -5.0, -4.0], 0.10),
    ],
)
def test_needed_estimates_the_replications_for_a_target(values: list[float], target: float) -> None:
    precision = needed(values, target)
    ci = interval(values)
    assert precision.n == len(values)
    assert precision.half_width == pytest.approx(ci.half_width, rel=1e-12)
    assert precision.relative_half_width == pytest.approx(ci.half_width / abs(ci.mean))
    assert not precision.met
    total = smallest_n(ci.mean, float(np.std(values, ddof=1)), target)
    assert precision.total == total and precision.additional == total - len(values)


def test_needed_says_when_the_target_is_met() -> None:
    values = [100.0, 101.0, 99.0, 100.5, 99.5]
    ci = interval(values)
    relative = ci.half_width / ci.mean
    met = needed(values, relative * 1.01)
    assert met.met and met.total == 5 and met.additional == 0
    assert not needed(values, relative * 0.99).met  # negative control: just short of it


def test_needed_asks_for_a_pilot_first() -> None:
    for values in ([], [1.0], [1.0, 2.0]):
        precision = needed(values, 0.05)
        assert not precision.met
        assert precision.total == MIN_REPLICATIONS
        assert precision.additional == MIN_REPLICATIONS - len(values)
        assert precision.note == TOO_FEW


def test_needed_without_spread_or_with_a_zero_mean() -> None:
    assert needed([4.0, 4.0, 4.0], 0.05).met
    zero = needed([-1.0, 1.0, 0.0], 0.05)
    assert not zero.met and zero.total is None and zero.additional is None
    assert zero.relative_half_width == math.inf and "undefined" in zero.note


@pytest.mark.parametrize("target", [0, 1, 1.5, -0.05, math.nan, True, "5%"])
def test_needed_refuses_a_target_that_is_not_a_fraction(target: object) -> None:
    with pytest.raises(ValueError, match="target_relative_half_width"):
        needed([1.0, 2.0, 3.0], target)  # type: ignore[arg-type]


def test_adding_batches_until_needed_says_stop_reaches_the_target() -> None:
    """The CLI's loop (``--precision``): add replications in batches until the target is met
    or a cap is reached. On normal values with mean 50 and sd 10 a 2% relative half-width
    needs about (1.96 x 10 / (0.02 x 50))^2 = 384 replications."""
    rng = np.random.default_rng(7)
    target, batch, cap = 0.02, 10, 2000
    values = list(rng.normal(50.0, 10.0, size=batch))
    precision = needed(values, target)
    rounds = 0
    while not precision.met and len(values) < cap:
        assert precision.additional is not None and precision.additional > 0
        more = min(cap - len(values), max(batch, precision.additional))
        values += list(rng.normal(50.0, 10.0, size=more))
        precision = needed(values, target)
        rounds += 1
    assert precision.met and len(values) < cap
    assert interval(values).half_width <= target * abs(float(np.mean(values)))
    assert 300 <= len(values) <= 480, len(values)
    assert rounds <= 6
