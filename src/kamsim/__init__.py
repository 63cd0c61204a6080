"""kamsim: simulate key-account (B2B, tender-driven) sales and test policy changes.

The public API: ``load_scenario`` -> ``check`` (analytic) and ``simulate`` / ``run`` -> tables.
"""

from importlib import metadata

from kamsim.analytic import Check, check
from kamsim.errors import Problem, ScenarioError
from kamsim.flips import deal_flips
from kamsim.io import load_scenario
from kamsim.results import Result
from kamsim.scenario import Scenario
from kamsim.simulation import run, simulate

try:
    __version__ = metadata.version("kamsim")  # the one source: pyproject.toml's version
except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Check",
    "Problem",
    "Result",
    "Scenario",
    "ScenarioError",
    "__version__",
    "check",
    "deal_flips",
    "load_scenario",
    "run",
    "simulate",
]
