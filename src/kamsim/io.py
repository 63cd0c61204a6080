"""The only module that reads and writes files.

Reading: a scenario file is TOML; ``extends = "other.toml"`` (relative to the extending file)
names a parent whose tables are merged under this file's (deeply; arrays and scalars replace).
Overrides (``--set key=value``) apply after inheritance. Every problem is collected and raised
as one :class:`~kamsim.errors.ScenarioError` naming the field and, where it can be found, the
file line that set it.

Writing: result tables go to the files the table registry (:data:`kamsim.tables.TABLES`)
names, in its formats (Parquet/CSV), plus a ``manifest.json``; each file is written to a
temporary name and renamed into place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import tomllib
import uuid
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pandas as pd

from kamsim.errors import Problem, ScenarioError, check_depth
from kamsim.overrides import Overrides, apply_overrides, deep_merge, override_items
from kamsim.results import Result
from kamsim.scenario import Scenario
from kamsim.tables import TABLES, TableFormat

_LINE_COL = re.compile(r"\(at line (\d+), column \d+\)")


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem("", "file not found", file=str(path))]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError([Problem("", f"cannot read: {err}", file=str(path))]) from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ScenarioError([Problem("", "tables nested too deeply", str(path))]) from None
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        m = _LINE_COL.search(msg)
        line = int(m.group(1)) if m else None
        if line is None and "end of document" in msg:
            line = max(1, len(text.splitlines()))
        msg = _LINE_COL.sub("", msg).replace("(at end of document)", "at end of file").strip()
        raise ScenarioError([Problem("", f"TOML syntax error: {msg}", str(path), line)]) from None
    if not data:
        raise ScenarioError([Problem("", "scenario is empty", str(path))])
    check_depth(data)
    return data, text


def _resolve(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], list[tuple[Path, str]]]:
    """Merged table of ``path`` and its ancestors, plus (file, text) from child to root."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError([Problem("extends", f"cyclic extends: {cycle}", str(chain[-1]))])
    data, text = _read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data, [(path, text)]
    if not isinstance(parent, str) or not parent:
        raise ScenarioError([Problem("extends", "must be a file name", str(path))])
    parent_path = path.parent / parent
    if not parent_path.is_file():
        raise ScenarioError(
            [
                Problem(
                    "extends",
                    f"parent file {parent!r} not found",
                    str(path),
                    _find_line(text, "extends"),
                )
            ]
        )
    base, texts = _resolve(parent_path, (*chain, path))
    return deep_merge(base, data), [(path, text), *texts]


def _find_line(text: str, dotted: str) -> int | None:
    """Best-effort line of the key ``dotted`` in a TOML text (table headers and dotted keys)."""
    parts = dotted.split(".")
    table: list[str] = []
    best: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        header = re.match(r"^\[+\s*([^\]]+?)\s*\]+$", line)
        if header:
            table = [p.strip().strip('"') for p in header.group(1).split(".")]
            if table == parts[: len(table)] and len(table) == len(parts):
                best = number
            continue
        m = re.match(r"^([A-Za-z0-9_\-\.\" ]+?)\s*=", line)
        if not m:
            continue
        key = table + [p.strip().strip('"') for p in m.group(1).split(".")]
        if key == parts[: len(key)]:
            best = number  # the deepest assignment covering the path
    return best


def _locate(problems: list[Problem], texts: list[tuple[Path, str]]) -> list[Problem]:
    located: list[Problem] = []
    for p in problems:
        for path, text in texts:
            line = _find_line(text, p.where) if p.where else None
            if line is not None:
                located.append(Problem(p.where, p.message, str(path), line))
                break
        else:
            located.append(Problem(p.where, p.message, str(texts[0][0])))
    return located


def bundled_scenarios() -> dict[str, Path]:
    """The scenarios shipped with kamsim, by name (``"baseline"``, ``"exec-early"``, ...).

    They live once, in the repository's ``scenarios/`` folder, which the build installs as the
    package ``kamsim.scenarios``; from a source tree that is not installed, that folder itself.
    """
    try:
        folder = Path(str(resources.files("kamsim.scenarios")))
    except ModuleNotFoundError:  # a source tree on sys.path, not installed
        folder = Path(__file__).resolve().parents[2] / "scenarios"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def scenario_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A scenario file: the path itself when it exists, else the bundled scenario of that name
    (``"baseline"`` or ``"baseline.toml"``); unknown names raise :class:`ScenarioError`."""
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    bundled = bundled_scenarios()
    stem = path.stem if path.suffix == ".toml" else path.name
    if stem in bundled:
        return bundled[stem]
    raise ScenarioError(
        [
            Problem(
                str(name_or_path),
                "file not found, and no bundled scenario of that name (bundled: "
                + ", ".join(bundled)
                + ")",
            )
        ]
    )


def load_scenario(path: str | os.PathLike[str], overrides: Overrides = ()) -> Scenario:
    """Read, inherit, override and validate a scenario file, or a bundled scenario by name
    (``load_scenario("baseline")``, from any working directory).

    ``overrides``: ``"key=value"`` strings (TOML literals, as with ``--set``), a mapping from
    dotted key to value, or one ``"key=value"`` string; a wrong shape is a ``ValueError``.
    Raises :class:`ScenarioError` listing every problem (one line each).
    """
    if not isinstance(path, str | os.PathLike):
        raise ValueError(f"path: expected a file path, not {type(path).__name__}")
    set_paths = [key for key, _ in override_items(overrides)]
    data, texts = _resolve(scenario_path(path), ())
    data = apply_overrides(data, overrides)
    try:
        return Scenario.model_validate(data)
    except ScenarioError as err:
        from_file: list[Problem] = []
        from_set: list[Problem] = []
        for p in err.problems:
            if any(p.where == s or p.where.startswith(s + ".") for s in set_paths):
                from_set.append(Problem(p.where, f"{p.message} (from --set)"))
            else:
                from_file.append(p)
        raise ScenarioError(_locate(from_file, texts) + from_set) from None


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files, for editors and external validators."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kamsim scenario"
    schema.setdefault("properties", {})["extends"] = {
        "type": "string",
        "description": "Parent scenario file, relative to this one; tables merge deeply.",
    }
    return schema


def check_output_folder(out: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be written: an existing file, a
    path under a file, or a folder without write permission."""
    if out.exists() and not out.is_dir():
        raise ScenarioError([Problem(option, f"{out} exists and is not a folder")])
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ScenarioError([Problem(option, f"cannot create {out}: {existing} is a file")])
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ScenarioError([Problem(option, f"cannot write in {existing}: permission denied")])


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary name in the same folder, then rename into place. The writer
    creates the file itself, so it gets the user's usual permissions (umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: Path, file_format: TableFormat | None = None) -> None:
    """Write a table atomically, as Parquet or CSV: ``file_format``, or else by the suffix."""
    as_csv = file_format == "csv" if file_format else path.suffix == ".csv"

    def write(tmp: Path) -> None:
        if as_csv:
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)

    _atomic(path, write)


def write_text(text: str, path: Path) -> None:
    """Write UTF-8 text atomically."""
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(obj: Any, path: Path) -> None:
    """Write JSON atomically, pretty-printed and key-sorted for stable diffs."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario's canonical JSON: equal hashes, equal worlds."""
    text = json.dumps(scenario.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_versions() -> dict[str, str]:
    """The versions of Python and of the packages that shape results."""
    versions = {}
    for pkg in ("kamsim", "simpy", "numpy", "pandas", "pydantic", "pyarrow", "scipy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "unknown"
    versions["python"] = platform.python_version()
    return versions


def manifest(result: Result, reps: int) -> dict[str, Any]:
    """What produced a run: the resolved scenario, its hash, the seed and package versions."""
    versions = manifest_versions()
    return {
        "scenario": result.scenario.model_dump(mode="json", by_alias=True),
        "scenario_hash": scenario_hash(result.scenario),
        "seed": result.seed,
        "replications": reps,
        "versions": versions,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


MANIFEST_FILE = "manifest.json"
"""The file, beside the tables, that records what produced a run."""

RUN_FILES: tuple[str, ...] = (*(t.file for t in TABLES.values()), MANIFEST_FILE)
"""The files of a written run: every registered table's, then the manifest."""


def write_run(result: Result, out: Path, reps: int) -> list[Path]:
    """Write every registered table and the manifest into ``out`` (each file atomically)."""
    tables = result.tables()
    paths = []
    for table in TABLES.values():
        path = out / table.file
        write_table(tables[table.name], path, table.format)
        paths.append(path)
    path = out / MANIFEST_FILE
    write_json(manifest(result, reps), path)
    paths.append(path)
    return paths
