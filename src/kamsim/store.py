"""The run store: finished replications on disk, written so that a crash loses none of them.

An experiment with an output folder ``OUT`` works in the sibling ``OUT.partial``:

``manifest.json``
    written first: the command, every variant's label, folder and scenario hash, the seed and
    the replications asked for; a resumed run must match it.
``parts/<variant>/r<replication>/``
    one folder per finished replication holding every table as Parquet. It is written under a
    temporary name, flushed, then renamed, so it exists whole or not at all.
``parts/<variant>/r<replication>.error.json``
    a replication that raised: its seed, replication and error.

When every replication is done the parts are merged, one part at a time (memory stays flat),
into each variant's stable tables (``OUT.partial/<variant>/<table file>``, the files ``run``
writes), the run's own summary files are added, and ``OUT.partial`` replaces ``OUT`` in one
rename, so an earlier ``OUT`` stays whole until the new run has completed. With ``resume`` a
killed run continues in ``OUT.partial``: finished parts are read back, never recomputed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kamsim.errors import Problem, ScenarioError
from kamsim.io import write_json, write_table
from kamsim.tables import TABLES

PARTS = "parts"
MANIFEST = "manifest.json"


def folder_name(label: str) -> str:
    """A variant label as a folder name: letters, digits and ``.=,_-`` kept, the rest ``_``."""
    return re.sub(r"[^A-Za-z0-9.=,_-]", "_", label).strip(".") or "_"


class RunStore:
    """The folder of one experiment while it runs, and its replacement of ``out`` at the end."""

    def __init__(self, out: Path, plan: dict[str, Any], resume: bool) -> None:
        self.out = out
        self.work = out.with_name(out.name + ".partial")
        if self.work.exists() and not resume:
            shutil.rmtree(self.work)
        if self.work.exists():
            before = json.loads((self.work / MANIFEST).read_text(encoding="utf-8"))
            if before.get("plan") != plan:
                raise ScenarioError(
                    [
                        Problem(
                            "--resume",
                            f"{self.work} holds a run of other scenarios, seed or replications; "
                            "run without --resume to start afresh",
                        )
                    ]
                )
        else:
            (self.work / PARTS).mkdir(parents=True)
            write_json({"plan": plan, "status": "running"}, self.work / MANIFEST)

    def part(self, folder: str, replication: int) -> Path:
        return self.work / PARTS / folder / f"r{replication:06d}"

    def error_file(self, folder: str, replication: int) -> Path:
        return self.work / PARTS / folder / f"r{replication:06d}.error.json"

    def finished(self, folder: str, replication: int) -> bool:
        return self.part(folder, replication).is_dir()

    def read_arrow(self, folder: str, replication: int, table: str) -> pa.Table:
        return pq.read_table(self.part(folder, replication) / f"{table}.parquet")

    def write_error(self, folder: str, replication: int, record: dict[str, Any]) -> None:
        write_json(record, self.error_file(folder, replication))

    def merge(self, folder: str, replications: list[int]) -> None:
        """Each table of one variant from its parts, appended one part at a time."""
        for table in TABLES.values():
            target = self.work / folder / table.file
            target.parent.mkdir(parents=True, exist_ok=True)
            if table.format == "csv":
                _append_csv(
                    target, (self.part(folder, r) / f"{table.name}.parquet" for r in replications)
                )
                continue
            _append_parquet(
                target, (self.part(folder, r) / f"{table.name}.parquet" for r in replications)
            )

    def finish(
        self, manifest: dict[str, Any], files: dict[str, pd.DataFrame | dict[str, Any]]
    ) -> None:
        """Write the run's own files (tables as CSV, dicts as JSON) and the final manifest,
        then put the finished folder in place of ``out``."""
        for name, content in files.items():
            if isinstance(content, pd.DataFrame):
                write_table(content, self.work / name, "csv")
            else:
                write_json(content, self.work / name)
        write_json(manifest, self.work / MANIFEST)
        old = self.out.with_name(f".{self.out.name}.old-{uuid.uuid4().hex}")
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.work, self.out)
        shutil.rmtree(old, ignore_errors=True)


def write_part(part: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write one replication's tables as a part folder that appears whole or not at all."""
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.with_name(f".{part.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        for name, df in tables.items():
            path = tmp / f"{name}.parquet"
            df.to_parquet(path, index=False)
            with path.open("rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, part)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _append_csv(target: Path, parts: Iterator[Path]) -> None:
    """Concatenate Parquet files into the CSV ``target`` (atomically), one part at a time: the
    text is what one DataFrame of them all would write, without holding them all."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            first = True
            for path in parts:
                pq.read_table(path).to_pandas().to_csv(f, header=first, index=False)
                first = False
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _append_parquet(target: Path, parts: Iterator[Path]) -> None:
    """Concatenate Parquet files into ``target`` (atomically), holding one part at a time."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    writer: pq.ParquetWriter | None = None
    try:
        for path in parts:
            table = pq.read_table(path)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(
                table.cast(writer.schema) if table.schema != writer.schema else table
            )
        if writer is None:
            pq.write_table(pa.table({}), tmp)
        else:
            writer.close()
        os.replace(tmp, target)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
