"""Shared test helpers: tiny scenario files, the statistical acceptance rule, CLI checks.

Oracles in the suite never come from kamsim itself; these helpers only carry the plumbing
every tier shares, so each rule is written once. The constants (paths, the model month, the
domain's keys and names) live in ``constants.py``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from constants import BASELINE, CRM_SAMPLE, DAYS_PER_MONTH, KPI_COLUMNS, POOLS, ROOT, STAGES
from scipy import stats
from typer.testing import Result as CliResult

import kamsim

__all__ = [  # the constants are re-exported for modules that still import them from here
    "BASELINE",
    "DAYS_PER_MONTH",
    "KPI_COLUMNS",
    "POOLS",
    "ROOT",
    "STAGES",
    "Interval",
    "assert_estimates",
    "assert_user_error",
    "cpu_count",
    "erlang_c",
    "interval",
    "load_toml",
    "mmc_mean_wait",
    "needs_sample",
    "write_toml",
]

needs_sample = pytest.mark.skipif(
    not CRM_SAMPLE.is_file(), reason="the public CRM sample is absent"
)
"""Marks a test that reads the public CRM data set (:data:`constants.CRM_SAMPLE`)."""

CONFIDENCE = 0.95
"""Confidence level of the intervals the rule builds."""
TOLERANCE_HALF_WIDTHS = 3.0
"""The rule accepts an estimate within 3 half-widths of its target."""
PRECISION = 0.02
"""By default an interval's half-width may be at most 2% of the target..."""
CONTROL_OFFSET = 0.10
"""...and the same check against targets 10% lower and higher must fail (negative control)."""


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
    """A Student-t confidence interval of a mean over independent observations."""

    mean: float
    half_width: float
    n: int

    def agrees_with(self, target: float) -> bool:
        """The rule's acceptance: ``target`` lies within 3 half-widths of the mean."""
        return abs(self.mean - target) <= TOLERANCE_HALF_WIDTHS * self.half_width

    def __str__(self) -> str:
        return f"{self.mean:.6g} +/- {self.half_width:.3g} (n={self.n})"


def interval(values: Iterable[float] | np.ndarray, level: float = CONFIDENCE) -> Interval:
    """Student-t interval (95% unless ``level`` says otherwise) of the mean of independent values.

    The suite's only half-width: t(level, n - 1) x sample standard deviation / sqrt(n).
    """
    x = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    assert x.ndim == 1
    assert len(x) >= 2, "a confidence interval needs at least two observations"
    assert np.isfinite(x).all(), f"non-finite observations: {x}"
    t = float(stats.t.ppf(0.5 + level / 2, len(x) - 1))
    return Interval(float(x.mean()), t * float(x.std(ddof=1)) / math.sqrt(len(x)), len(x))


def assert_estimates(
    values: Iterable[float] | np.ndarray,
    target: float,
    what: str,
    *,
    scale: float | None = None,
    precision: float = PRECISION,
    offset: float = CONTROL_OFFSET,
    reason: str = "",
) -> Interval:
    """The suite's one statistical acceptance rule, with its mandatory negative control.

    The 95% Student-t interval of the mean of ``values`` must be precise (half-width at most
    ``precision`` x ``scale``), the mean must lie within 3 half-widths of ``target``, and the
    same check against ``target`` -/+ ``offset`` x ``scale`` must fail, so the check has the
    power to catch an error of that size. Returns the interval.

    Args:
        values: independent observations whose mean estimates ``target``: one figure per
            replication, or one per deal where each deal's figure is its own independent
            draw (a pass draw, say); never figures of one run that move together, such as
            successive waits in one queue.
        target: the closed form (the oracle), computed by the test.
        what: names the figure in failure messages.
        scale: the size ``precision`` and ``offset`` are relative to: ``abs(target)``, or,
            only when the target is zero (e.g. the difference of two models' estimates), the
            size of the figures compared.
        precision: the largest half-width allowed, relative to ``scale``; 2% unless a
            ``reason`` says why a test cannot afford that.
        offset: the shift of the negative-control targets, relative to ``scale``; 10% unless
            a ``reason`` says why another size is the right control.
        reason: why ``precision`` or ``offset`` departs from its default; required then.
    """
    if (precision, offset) != (PRECISION, CONTROL_OFFSET):
        assert reason.strip(), f"{what}: a non-default precision or offset needs a reason"
    assert scale is None or target == 0, f"{what}: a scale is only for a target of zero"
    size = abs(target) if scale is None else abs(scale)
    assert size > 0, f"{what}: the target is zero; give the scale of the figures compared"
    ci = interval(values)
    assert ci.half_width <= precision * size, (
        f"{what}: too imprecise to test: {ci}; need half-width <= {precision:.1%} of {size:.6g}"
    )
    assert ci.agrees_with(target), f"{what}: {ci} disagrees with the expected {target:.6g}"
    for shifted in (target - offset * size, target + offset * size):
        assert not ci.agrees_with(shifted), (
            f"{what}: negative control failed: {ci} also agrees with {shifted:.6g}, "
            f"{offset:.0%} off the expected {target:.6g}"
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


def jsonable(value: Any) -> Any:
    """Parsed TOML as JSON data (dates as ISO text), for validating with the JSON Schema."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
