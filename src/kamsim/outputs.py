"""An experiment's output folder read back: what ``kamsim report`` and notebooks load.

The folder is the one layout every experiment command writes (``docs/experiments.md``):
``manifest.json`` (the command, the variants with their folders and scenario hashes, the seed,
the resolved scenarios, package versions), ``summary.csv``, ``check.json``, the command's own
table (``comparison.csv``, ``sweep.csv``, ``sensitivity.csv``, ``returns.csv``) and one folder
of tables per variant. Reading checks that the folder is complete (a finished run, every
variant's tables present) and says what is missing otherwise, as a :class:`ScenarioError`
naming the file. :func:`read_fit` reads the fit folder of ``kamsim calibrate --report``
(:mod:`kamsim.fit_folder`) the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from kamsim.errors import Problem, ScenarioError
from kamsim.fit_folder import ESTIMATES, FIT_FILES, REPAIRS, SCENARIO
from kamsim.fit_tables import TABLE_FILES
from kamsim.results import Result
from kamsim.scenario import Scenario
from kamsim.tables import TABLES

MANIFEST = "manifest.json"
SUMMARY = "summary.csv"
CHECK = "check.json"
COMMAND_TABLES = ("comparison.csv", "sweep.csv", "returns.csv", "sensitivity.csv")
"""The tables a command adds to the layout, when it made them."""


@dataclass(frozen=True)
class Output:
    """A finished experiment's folder: its manifest, summary, checks and, on demand, each
    variant's tables as a :class:`kamsim.Result`."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def command(self) -> str:
        return str(self.manifest["plan"]["command"])

    @property
    def seed(self) -> int:
        return int(self.manifest["plan"]["seed"])

    @property
    def labels(self) -> list[str]:
        return [v["label"] for v in self.manifest["plan"]["variants"]]

    @cached_property
    def scenarios(self) -> dict[str, Scenario]:
        """Each variant's resolved scenario, by label."""
        return {
            label: Scenario.model_validate(data)
            for label, data in self.manifest["scenarios"].items()
        }

    @property
    def hashes(self) -> dict[str, str]:
        return {v["label"]: v["scenario_hash"] for v in self.manifest["plan"]["variants"]}

    @cached_property
    def summary(self) -> pd.DataFrame:
        return pd.read_csv(self.folder / SUMMARY, keep_default_na=False, na_values=[""])

    @cached_property
    def checks(self) -> dict[str, Any]:
        """The analytic check by scenario name, as saved (``Check.to_dict``)."""
        data: dict[str, Any] = json.loads((self.folder / CHECK).read_text(encoding="utf-8"))
        return data

    def table(self, name: str) -> pd.DataFrame | None:
        """A command's own table (``"comparison.csv"``, ...), or None when it has none."""
        path = self.folder / name
        return pd.read_csv(path) if path.is_file() else None

    def result(self, label: str) -> Result:
        """One variant's tables, read from its folder."""
        if label not in self.labels:
            raise ValueError(f"{label!r} is not a variant; the variants are {self.labels}")
        folder = self.folder / self._folders[label]
        tables = {}
        for table in TABLES.values():
            path = folder / table.file
            if table.format == "csv":
                tables[table.name] = pd.read_csv(path)
            else:
                tables[table.name] = pd.read_parquet(path)
        return Result(scenario=self.scenarios[label], seed=self.seed, **tables)

    @property
    def _folders(self) -> dict[str, str]:
        return {v["label"]: v["folder"] for v in self.manifest["plan"]["variants"]}


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of an output folder (any command's); :class:`ScenarioError` when the
    folder holds none or it is not a kamsim manifest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError([Problem(str(folder), "is not a folder")])
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        str(manifest["plan"]["command"])
    except FileNotFoundError:
        raise ScenarioError(
            [Problem(str(folder), "holds no manifest.json: not the output of a kamsim command")]
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ScenarioError([Problem(str(path), f"is not a kamsim manifest ({err})")]) from None
    return manifest


def read_output(folder: str | Path) -> Output:
    """The output folder of ``kamsim run``, ``compare``, ``sweep`` or ``sensitivity``;
    :class:`ScenarioError` naming what is missing when it is not one (or not finished)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    path = folder / MANIFEST
    try:
        variants = manifest["plan"]["variants"]
        manifest["plan"]["seed"], manifest["scenarios"]
    except (KeyError, TypeError) as err:
        raise ScenarioError([Problem(str(path), f"is not a kamsim manifest ({err})")]) from None
    problems = []
    if manifest.get("status") not in ("complete", "failed"):
        problems.append(Problem(str(path), "the run has not finished"))
    for name in (SUMMARY, CHECK):
        if not (folder / name).is_file():
            problems.append(Problem(str(folder / name), "is missing"))
    for variant in variants:
        for table in TABLES.values():
            file = folder / variant["folder"] / table.file
            if not file.is_file():
                problems.append(Problem(str(file), "is missing"))
    if problems:
        raise ScenarioError(problems)
    return Output(folder, manifest)


@dataclass(frozen=True)
class FitOutput:
    """A fit folder (:mod:`kamsim.fit_folder`): its manifest, estimates, observed-against-fitted
    tables, repair log and scenario."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def command(self) -> str:
        return str(self.manifest["plan"]["command"])

    @cached_property
    def estimates(self) -> pd.DataFrame:
        return pd.read_csv(self.folder / ESTIMATES, keep_default_na=False, na_values=[""])

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The observed-against-fitted tables by name (``arrivals``, ``survival``, ...)."""
        return {
            name: pd.read_csv(self.folder / file, keep_default_na=False, na_values=[""])
            for name, file in TABLE_FILES.items()
        }

    @property
    def repairs(self) -> list[str]:
        return (self.folder / REPAIRS).read_text(encoding="utf-8").splitlines()

    @property
    def scenario_toml(self) -> str:
        return (self.folder / SCENARIO).read_text(encoding="utf-8")


def read_fit(folder: str | Path) -> FitOutput:
    """The fit folder ``kamsim calibrate --report`` writes; :class:`ScenarioError` naming
    each missing file, or saying the folder is another command's."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest["plan"]["command"] != "calibrate":
        problem = f"is the output of kamsim {manifest['plan']['command']}, not calibrate"
        raise ScenarioError([Problem(str(folder), problem)])
    missing = [f for f in FIT_FILES if not (folder / f).is_file()]
    if missing:
        raise ScenarioError([Problem(str(folder / f), "is missing") for f in missing])
    return FitOutput(folder, manifest)
