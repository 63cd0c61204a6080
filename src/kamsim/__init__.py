"""kamsim: simulate key-account (B2B, tender-driven) sales and test policy changes.

The public API: ``load_scenario`` -> ``check`` (analytic) and ``simulate`` / ``run`` -> tables,
from an empty pipeline or from the deals open today (``OpenPipeline``, ``read_pipeline``);
``kamsim.plots`` draws them, ``label`` names keys in English or Chinese.

Its names are loaded on first use (module ``__getattr__``), so ``import kamsim`` and the
``kamsim`` command's start pull in neither numpy, pandas, scipy nor SimPy until a name that
needs them is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kamsim import plots
    from kamsim.analytic import Check, check
    from kamsim.errors import Problem, ScenarioError
    from kamsim.flips import deal_flips
    from kamsim.io import load_scenario
    from kamsim.labels import LANGS, label
    from kamsim.pipeline import OpenDeal, OpenPipeline, read_pipeline
    from kamsim.results import Result
    from kamsim.scenario import Scenario
    from kamsim.simulation import run, simulate

    __version__: str

_HOMES = {
    "Check": "kamsim.analytic",
    "check": "kamsim.analytic",
    "Problem": "kamsim.errors",
    "ScenarioError": "kamsim.errors",
    "deal_flips": "kamsim.flips",
    "LANGS": "kamsim.labels",
    "label": "kamsim.labels",
    "load_scenario": "kamsim.io",
    "OpenDeal": "kamsim.pipeline",
    "OpenPipeline": "kamsim.pipeline",
    "read_pipeline": "kamsim.pipeline",
    "Result": "kamsim.results",
    "Scenario": "kamsim.scenario",
    "run": "kamsim.simulation",
    "simulate": "kamsim.simulation",
}
"""Each public name and the module that defines it."""

__all__ = [
    "LANGS",
    "Check",
    "OpenDeal",
    "OpenPipeline",
    "Problem",
    "Result",
    "Scenario",
    "ScenarioError",
    "__version__",
    "check",
    "deal_flips",
    "label",
    "load_scenario",
    "plots",
    "read_pipeline",
    "run",
    "simulate",
]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("kamsim")  # the one source: pyproject.toml's version
    except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
        return "0+unknown"


if not TYPE_CHECKING:  # for type checkers the names above are plain imports

    def __getattr__(name: str) -> Any:
        if name == "__version__":
            value = _version()
        elif name in _HOMES:
            value = getattr(import_module(_HOMES[name]), name)
        else:  # a submodule (kamsim.kpis, kamsim.experiment, ...) not imported yet
            try:
                value = import_module(f"kamsim.{name}")
            except ModuleNotFoundError:
                raise AttributeError(f"module 'kamsim' has no attribute {name!r}") from None
        globals()[name] = value  # loaded once
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
