"""The fit folder ``kamsim calibrate --report FIT_DIR`` writes, and ``kamsim report`` reads.

``manifest.json``
    ``plan.command`` ``calibrate``; the input file's name and SHA-256, the mapping, the as-of
    date and the full months the arrival rate used; the notes of the fit (left-truncation,
    pass-through stages, ...), package versions and ``created_at``.
``estimates.csv``
    every estimate: name, value, low, high (95%), source (``data`` or ``assumption``), note.
``fit_arrivals.csv``, ``fit_survival.csv``, ``fit_win_rate.csv``, ``fit_calendar.csv``
    observed against fitted (:mod:`kamsim.fit_tables`).
``repairs.txt``
    the repair log: one line per data problem the reader repaired.
``scenario.toml``
    the calibrated scenario, as ``--out`` writes it.

The folder is written beside its destination under a temporary name and renamed into place,
so an earlier folder stays whole until the new one is complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kamsim.fit_tables import TABLE_FILES, fit_tables
from kamsim.io import manifest_versions, write_json, write_table, write_text

if TYPE_CHECKING:
    from kamsim.calibrate import Calibration
    from kamsim.crm import CrmExport

ESTIMATES = "estimates.csv"
REPAIRS = "repairs.txt"
SCENARIO = "scenario.toml"
MANIFEST = "manifest.json"
FIT_FILES = (MANIFEST, ESTIMATES, *TABLE_FILES.values(), REPAIRS, SCENARIO)
"""Every file of a fit folder."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fit_manifest(crm: CrmExport, cal: Calibration) -> dict[str, Any]:
    """What produced a fit: the input, mapping and as-of date, the notes and the versions."""
    start, end = cal.window
    return {
        "plan": {
            "command": "calibrate",
            "input": crm.path.name,
            "input_sha256": _sha256(crm.path),
            "mapping": crm.mapping.path.stem if crm.mapping.path else "(in Python)",
            "as_of": f"{cal.as_of:%Y-%m-%d}",
        },
        "status": "complete",
        "window": [f"{start:%Y-%m}", f"{end - dt.timedelta(days=1):%Y-%m}"],
        "timed_stage": cal.timed_stage,
        "pass_through": list(cal.pass_through),
        "untimed": list(cal.untimed),
        "notes": list(cal.notes),
        "versions": manifest_versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def write_fit(crm: CrmExport, cal: Calibration, out: Path) -> Path:
    """Write the fit folder of ``cal`` (fitted to ``crm``) at ``out``, whole or not at all."""
    work = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        work.mkdir(parents=True)
        write_table(cal.table(), work / ESTIMATES, "csv")
        for name, table in fit_tables(crm, cal).tables().items():
            write_table(table, work / TABLE_FILES[name], "csv")
        write_text("".join(f"{line}\n" for line in cal.repairs), work / REPAIRS)
        write_text(cal.toml(), work / SCENARIO)
        write_json(fit_manifest(crm, cal), work / MANIFEST)
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex}")
        if out.exists():
            os.replace(out, old)
        os.replace(work, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out
