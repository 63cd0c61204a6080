"""Shared test helpers: tiny scenario files, the statistical acceptance rule, CLI checks.

Oracles in the suite never come from kamsim itself; these helpers only carry the plumbing
every tier shares, so each rule is written once.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from typer.testing import Result as CliResult

import kamsim

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"

DAYS_PER_MONTH = 365 / 12
"""The model month by definition (README: "per month" means per 365/12 days)."""

STAGES = ("development", "approval", "proposal", "tender", "negotiation", "implementation")
POOLS = ("account_managers", "presales", "delivery", "approvers", "executives")
"""The domain's keys in their documented order (DOMAIN.md, README), written out here so the
tests do not take them from the code under test."""

PRECISION = 0.02
"""Statistical checks need a 95% half-width of at most 2% of the target..."""
TOLERANCE_HALF_WIDTHS = 3.0
"""...and accept an estimate within 3 half-widths of it."""
CONTROL_OFFSETS = (0.9, 1.1)
"""Negative controls: the same check against a target 10% off must fail."""


def cpu_count() -> int:
    """The CPUs this process may run on, on every platform (at least 1).

    ``os.sched_getaffinity`` exists only on some platforms (not macOS or Windows);
    elsewhere this falls back to the machine's count.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def write_toml(directory: Path, text: str, name: str = "scenario.toml") -> Path:
    """Write a (dedented) TOML scenario into ``directory`` and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load_toml(
    directory: Path, text: str, overrides: Iterable[str] = (), name: str = "scenario.toml"
) -> kamsim.Scenario:
    """Write a TOML scenario and read it back through ``kamsim.load_scenario``."""
    return kamsim.load_scenario(write_toml(directory, text, name), list(overrides))


@dataclass(frozen=True)
class Interval:
    """A Student-t 95% confidence interval of a mean over independent replications."""

    mean: float
    half_width: float
    n: int

    def agrees_with(self, target: float) -> bool:
        return abs(self.mean - target) <= TOLERANCE_HALF_WIDTHS * self.half_width

    def __str__(self) -> str:
        return f"{self.mean:.6g} +/- {self.half_width:.3g} (n={self.n})"


def interval(values: Iterable[float]) -> Interval:
    """95% t interval of the mean of independent replication values."""
    x = np.asarray(list(values), dtype=float)
    assert x.ndim == 1
    assert len(x) >= 2, "a confidence interval needs at least two replications"
    assert np.isfinite(x).all(), f"non-finite replication values: {x}"
    t = float(stats.t.ppf(0.975, len(x) - 1))
    return Interval(float(x.mean()), t * float(x.std(ddof=1)) / math.sqrt(len(x)), len(x))


def assert_estimates(values: Iterable[float], target: float, what: str) -> Interval:
    """The suite's statistical rule, with its negative controls.

    The replication values must pin the mean down to a half-width of at most 2% of the
    target, the mean must lie within 3 half-widths of the target, and the same check against
    targets 10% lower and higher must fail (so the check has the power to catch a 10% error).
    """
    ci = interval(values)
    assert ci.half_width <= PRECISION * abs(target), (
        f"{what}: too imprecise to test: {ci}; need half-width <= {PRECISION:.0%} of {target:.6g}"
    )
    assert ci.agrees_with(target), f"{what}: {ci} disagrees with the expected {target:.6g}"
    for factor in CONTROL_OFFSETS:
        assert not ci.agrees_with(factor * target), (
            f"{what}: negative control failed: {ci} also agrees with {factor} x {target:.6g}"
        )
    return ci


def erlang_c(servers: int, offered: float) -> float:
    """Erlang C: probability that an arrival waits in M/M/c with offered load a = lambda/mu."""
    assert offered < servers
    top = offered**servers / math.factorial(servers) * servers / (servers - offered)
    below = sum(offered**k / math.factorial(k) for k in range(servers))
    return top / (below + top)


def mmc_mean_wait(servers: int, utilisation: float) -> float:
    """Mean queueing time of M/M/c in mean service times: C(c, a) / (c - a), a = c * rho."""
    offered = servers * utilisation
    return erlang_c(servers, offered) / (servers - offered)


def assert_user_error(result: CliResult, *fragments: str) -> str:
    """A CLI run that failed on bad input: exit 2, readable lines, no traceback.

    Returns stderr; every fragment must appear in it (case-sensitive).
    """
    err = result.stderr
    everything = result.output + err
    assert result.exit_code == 2, (
        f"exit {result.exit_code}, expected 2\nstdout: {result.stdout}\nstderr: {err}"
    )
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in everything, everything
    assert err.strip(), "nothing printed on stderr"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not named in stderr:\n{err}"
    return err


KPI_COLUMNS = [
    "replication",
    "seed",
    "bookings",
    "revenue",
    "cash",
    "gross_margin",
    "gross_margin_pct",
    "win_rate",
    "cycle_time_days",
    "deals_won",
    "deals_lost",
    "deals_open",
    "cost_of_sale",
    "util_account_managers",
    "util_presales",
    "util_delivery",
    "util_approvers",
    "util_executives",
]
"""The kpis columns promised by the foundation, spelled out (the contract, not the code)."""
