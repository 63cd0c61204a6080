"""A run's simulated events as a process-mining event log, in CSV or XES.

Process-mining tools (pm4py, ProM, Disco, Celonis) read a log of lifecycle events: a case id,
an activity, a timestamp, a lifecycle transition and a resource. Writing kamsim's
``events`` table in that convention lets an analyst mine the simulated process with the
same tools, and set it beside the mined process of the real CRM.

Each case is one deal of one replication (case id ``"<replication>-<deal_id>"``). A stage
visit is the activity ``<stage>`` from entering the stage to leaving it; a pool the deal held
is the activity ``<stage>: <pool>`` (its resource is the pool), and a wait for a pool, when
there was one, the activity ``<stage>: wait for <pool>``. Each activity has a ``start`` and,
once it ended within the run, a ``complete`` event that carries the row's ``result``.
Timestamps are ``calendar.start`` plus the event's days, to the millisecond; XES writes them
with a zero UTC offset. Columns and attribute keys follow the XES standard
(``case:concept:name``, ``concept:name``, ``time:timestamp``, ``lifecycle:transition``,
``org:resource``), so ``pm4py.format_dataframe`` reads the CSV with its defaults and
``pm4py.read_xes`` the XES.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

import numpy as np
import pandas as pd

from kamsim.errors import Problem, ScenarioError
from kamsim.io import _atomic
from kamsim.outputs import read_output

CASE = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
LIFECYCLE = "lifecycle:transition"
RESOURCE = "org:resource"
LOG_COLUMNS = (
    CASE,
    ACTIVITY,
    TIMESTAMP,
    LIFECYCLE,
    RESOURCE,
    "replication",
    "deal_id",
    "stage",
    "result",
)
"""The event log's columns: the XES standard's five, then where each event came from."""
EVENT_COLUMNS = (
    "replication",
    "deal_id",
    "stage",
    "pool",
    "queued_at",
    "started_at",
    "ended_at",
    "result",
)
"""The columns of kamsim's ``events`` table the log is made from."""
Format = Literal["csv", "xes"]

_XES_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)

_XES_LOG = {
    "xes.version": "1849-2016",
    "xes.features": "nested-attributes",
    "xmlns": "http://www.xes-standard.org/",
}
_EMPTY: AttributesImpl[str] = AttributesImpl({})
_XES_GLOBALS = (
    ("trace", ((ACTIVITY, "__INVALID__"),)),
    ("event", ((ACTIVITY, "__INVALID__"), (LIFECYCLE, "complete"))),
)
"""Attributes every trace and every event has, with their defaults."""


def _part(
    rows: pd.DataFrame,
    mask: Any,
    time: str,
    activity: pd.Series,
    lifecycle: str,
    order: int,
    resource: bool,
    result: bool,
) -> pd.DataFrame:
    """One kind of lifecycle event for the rows where ``mask`` holds."""
    chosen = rows[mask]
    return pd.DataFrame(
        {
            "replication": chosen["replication"].to_numpy(),
            "deal_id": chosen["deal_id"].to_numpy(),
            ACTIVITY: activity[mask].to_numpy(),
            "days": chosen[time].to_numpy(dtype=float),
            LIFECYCLE: lifecycle,
            RESOURCE: chosen["pool"].to_numpy() if resource else None,
            "stage": chosen["stage"].to_numpy(),
            "result": chosen["result"].to_numpy() if result else None,
            "row": chosen.index.to_numpy(),
            "order": order,
        }
    )


def event_log(events: pd.DataFrame, start: dt.date) -> pd.DataFrame:
    """kamsim's ``events`` table as lifecycle events (:data:`LOG_COLUMNS`), ordered by case
    and, within a case, by time (ties keep the order the deal lived them)."""
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events: missing columns {', '.join(missing)}")
    rows = events.reset_index(drop=True)
    rows = rows.assign(
        stage=rows["stage"].astype(object).astype(str),
        pool=rows["pool"].astype(object).where(rows["pool"].notna(), None),
        result=rows["result"].astype(object).where(rows["result"].notna(), None),
    )
    visit = rows["pool"].isna()
    hold = ~visit
    started = rows["started_at"].notna()
    ended = rows["ended_at"].notna()
    waited = hold & (~started | (rows["started_at"] > rows["queued_at"]))
    stage = rows["stage"]
    pool = rows["pool"].fillna("")
    held = stage + ": " + pool
    wait = stage + ": wait for " + pool
    parts = [
        _part(rows, visit, "queued_at", stage, "start", 0, False, False),
        _part(rows, waited, "queued_at", wait, "start", 0, True, False),
        _part(rows, waited & started, "started_at", wait, "complete", 1, True, False),
        _part(rows, waited & ~started & ended, "ended_at", wait, "complete", 1, True, True),
        _part(rows, hold & started, "started_at", held, "start", 2, True, False),
        _part(rows, hold & started & ended, "ended_at", held, "complete", 3, True, True),
        _part(rows, visit & ended, "ended_at", stage, "complete", 3, False, True),
    ]
    log = pd.concat(parts, ignore_index=True)
    log = log[np.isfinite(log["days"].to_numpy())]
    log = log.sort_values(["replication", "deal_id", "days", "row", "order"], kind="stable")
    stamps = pd.Timestamp(start) + pd.to_timedelta(log["days"].to_numpy(), unit="D")
    log[TIMESTAMP] = stamps.round("ms")
    log[CASE] = log["replication"].astype(str) + "-" + log["deal_id"].astype(str)
    out: pd.DataFrame = log[list(LOG_COLUMNS)].reset_index(drop=True)
    return out


def _iso(stamps: pd.Series) -> pd.Series:
    text: pd.Series = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3]
    return text


def write_csv(log: pd.DataFrame, path: Path) -> None:
    """Write an :func:`event_log` as CSV (ISO 8601 timestamps to the millisecond)."""
    table = log.assign(**{TIMESTAMP: _iso(log[TIMESTAMP])})
    _atomic(path, lambda tmp: table.to_csv(tmp, index=False))


def _traces(log: pd.DataFrame) -> Iterator[tuple[str, int, int, list[tuple[Any, ...]]]]:
    """(case, replication, deal id, events) per case, in the log's order."""
    stamps = (_iso(log[TIMESTAMP]) + "+00:00").to_numpy()
    columns = [
        log[c].to_numpy()
        for c in (CASE, "replication", "deal_id", ACTIVITY, LIFECYCLE, RESOURCE, "stage", "result")
    ]
    case = None
    events: list[tuple[Any, ...]] = []
    head: tuple[str, int, int] = ("", 0, 0)
    for i in range(len(log)):
        if columns[0][i] != case:
            if case is not None:
                yield (*head, events)
            case = columns[0][i]
            head = (str(case), int(columns[1][i]), int(columns[2][i]))
            events = []
        events.append(
            (columns[3][i], columns[4][i], stamps[i], columns[5][i], columns[6][i], columns[7][i])
        )
    if case is not None:
        yield (*head, events)


def write_xes(log: pd.DataFrame, path: Path, name: str) -> None:
    """Write an :func:`event_log` as an XES file (IEEE 1849) named ``name``."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            xml = XMLGenerator(handle, encoding="utf-8", short_empty_elements=True)

            def element(tag: str, attrs: dict[str, str], depth: int) -> None:
                xml.ignorableWhitespace("\n" + "  " * depth)
                xml.startElement(tag, AttributesImpl(attrs))
                xml.endElement(tag)

            def string(key: str, value: str, depth: int) -> None:
                element("string", {"key": key, "value": value}, depth)

            xml.startDocument()
            xml.startElement("log", AttributesImpl(_XES_LOG))
            for ext_name, prefix, uri in _XES_EXTENSIONS:
                element("extension", {"name": ext_name, "prefix": prefix, "uri": uri}, 1)
            for scope, defaults in _XES_GLOBALS:
                xml.ignorableWhitespace("\n  ")
                xml.startElement("global", AttributesImpl({"scope": scope}))
                for key, value in defaults:
                    string(key, value, 2)
                xml.ignorableWhitespace("\n  ")
                xml.endElement("global")
            element("classifier", {"name": "Activity", "keys": ACTIVITY}, 1)
            element(
                "classifier",
                {"name": "Activity and lifecycle", "keys": f"{ACTIVITY} {LIFECYCLE}"},
                1,
            )
            string(ACTIVITY, name, 1)
            for case, replication, deal_id, events in _traces(log):
                xml.ignorableWhitespace("\n  ")
                xml.startElement("trace", _EMPTY)
                string(ACTIVITY, case, 2)
                element("int", {"key": "replication", "value": str(replication)}, 2)
                element("int", {"key": "deal_id", "value": str(deal_id)}, 2)
                for activity, lifecycle, stamp, resource, stage, result in events:
                    xml.ignorableWhitespace("\n    ")
                    xml.startElement("event", _EMPTY)
                    string(ACTIVITY, str(activity), 3)
                    string(LIFECYCLE, str(lifecycle), 3)
                    element("date", {"key": TIMESTAMP, "value": str(stamp)}, 3)
                    if resource is not None:
                        string(RESOURCE, str(resource), 3)
                    string("stage", str(stage), 3)
                    if result is not None:
                        string("result", str(result), 3)
                    xml.ignorableWhitespace("\n    ")
                    xml.endElement("event")
                xml.ignorableWhitespace("\n  ")
                xml.endElement("trace")
            xml.ignorableWhitespace("\n")
            xml.endElement("log")
            xml.endDocument()
            handle.write("\n")

    _atomic(path, write)


def export_log(
    run_dir: str | Path, fmt: Format = "csv", out: Path | None = None, variant: str | None = None
) -> Path:
    """Write the events of one variant of an output folder (``kamsim run`` or ``compare``)
    as an event log; returns the file written (default: ``eventlog.<fmt>`` in the variant's
    folder). :class:`~kamsim.errors.ScenarioError` on a folder, variant or file that does
    not fit."""
    if fmt not in ("csv", "xes"):
        raise ScenarioError([Problem("--format", f"{fmt!r}: use csv or xes")])
    output = read_output(run_dir)
    folders = {v["label"]: v["folder"] for v in output.manifest["plan"]["variants"]}
    if variant is None:
        if len(folders) != 1:
            labels = ", ".join(folders)
            raise ScenarioError(
                [Problem("--variant", f"{run_dir} holds several variants ({labels}): name one")]
            )
        variant = next(iter(folders))
    if variant not in folders:
        labels = ", ".join(folders)
        raise ScenarioError(
            [Problem("--variant", f"{variant!r} is not a variant of {run_dir} ({labels})")]
        )
    source = output.folder / folders[variant] / "events.parquet"
    try:
        events = pd.read_parquet(source)
        start = output.scenarios[variant].calendar.start
        log = event_log(events, start)
    except (OSError, ValueError, KeyError, TypeError, ScenarioError) as err:
        raise ScenarioError([Problem("", f"cannot read the events: {err}", str(source))]) from None
    target = out if out is not None else source.with_name(f"eventlog.{fmt}")
    if target.is_dir():
        raise ScenarioError([Problem("--out", f"{target} is a folder; name a file")])
    if fmt == "csv":
        write_csv(log, target)
    else:
        write_xes(log, target, f"kamsim {output.command}: {variant}, seed {output.seed}")
    return target
