"""kamsim: simulate key-account (B2B, tender-driven) sales and test policy changes.

The public API: ``load_scenario`` -> ``simulate`` / ``run`` -> tables.
"""

from importlib import metadata

from kamsim.errors import Problem, ScenarioError
from kamsim.io import load_scenario
from kamsim.results import Result
from kamsim.scenario import Scenario
from kamsim.simulation import run, simulate

try:
    __version__ = metadata.version("kamsim")  # the one source: pyproject.toml's version
except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Problem",
    "Result",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "run",
    "simulate",
]
