"""``kamsim export-log``: a run's events as a process-mining log, in CSV and XES.

Every row of the events table comes out as its lifecycle events (counted here from the
table, not from the exporter), each case in time order, with timestamps that are the
scenario's start plus the event's days; the XES file is well-formed XES, and pm4py reads both
files where it is installed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE

from kamsim.cli import main
from kamsim.eventlog import LOG_COLUMNS
from kamsim.outputs import read_output

XES = "{http://www.xes-standard.org/}"
CASE, ACTIVITY, TIMESTAMP, LIFECYCLE, RESOURCE = (
    "case:concept:name",
    "concept:name",
    "time:timestamp",
    "lifecycle:transition",
    "org:resource",
)


def cli_run(argv: list[str]) -> tuple[int, str, str]:
    """The ``kamsim`` entry point in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as stop:
            assert isinstance(stop.code, int)
            return stop.code, out.getvalue(), err.getvalue()
    raise AssertionError("main returned without exiting")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-replication run and a two-variant comparison, 18 months each."""
    folder = tmp_path_factory.mktemp("runs")
    (folder / "short.toml").write_text(
        f'extends = "{BASELINE}"\nname = "short"\n[calendar]\nhorizon_months = 18\n'
        "warmup_months = 0\n",
        encoding="utf-8",
    )
    (folder / "early.toml").write_text(
        'extends = "short.toml"\nname = "early"\n[policy]\nexecutive_engagement = "proposal"\n',
        encoding="utf-8",
    )
    common = ["--reps", "2", "--workers", "1", "--quiet"]
    run = ["run", str(folder / "short.toml"), *common, "--out", str(folder / "run")]
    assert cli_run(run)[0] == 0
    compare = ["compare", str(folder / "short.toml"), str(folder / "early.toml"), *common]
    assert cli_run([*compare, "--out", str(folder / "compare")])[0] == 0
    return {"run": folder / "run", "compare": folder / "compare"}


def events_of(run: Path, label: str = "short") -> tuple[pd.DataFrame, dt.date]:
    output = read_output(run)
    return output.result(label).events, output.scenarios[label].calendar.start


def expected_counts(events: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(kind, lifecycle) -> count, from the events table's own rules: a stage visit starts
    and, if it ended, completes; a pool row waited when it started late or never, and was
    held when it started."""
    visit = events["pool"].isna()
    started = events["started_at"].notna()
    ended = events["ended_at"].notna()
    waited = ~visit & (~started | (events["started_at"] > events["queued_at"]))
    return {
        ("stage", "start"): int(visit.sum()),
        ("stage", "complete"): int((visit & ended).sum()),
        ("wait", "start"): int(waited.sum()),
        ("wait", "complete"): int((waited & (started | ended)).sum()),
        ("hold", "start"): int((~visit & started).sum()),
        ("hold", "complete"): int((~visit & started & ended).sum()),
    }


def kinds(activity: pd.Series) -> pd.Series:
    return np.where(
        activity.str.contains(": wait for "),
        "wait",
        np.where(activity.str.contains(": "), "hold", "stage"),
    )


def test_every_event_comes_out_in_the_csv_log(runs: dict[str, Path]) -> None:
    code, out, _ = cli_run(["export-log", str(runs["run"]), "--format", "csv"])
    assert code == 0
    path = runs["run"] / "short" / "eventlog.csv"
    assert f"wrote {path}" in out
    log = pd.read_csv(path)
    assert tuple(log.columns) == LOG_COLUMNS
    events, _ = events_of(runs["run"])
    counts = log.groupby([kinds(log[ACTIVITY]), log[LIFECYCLE]]).size().to_dict()
    assert counts == {k: v for k, v in expected_counts(events).items() if v}
    cases = events["replication"].astype(str) + "-" + events["deal_id"].astype(str)
    assert set(log[CASE]) == set(cases)
    assert set(log[RESOURCE].dropna()) == set(events["pool"].dropna().astype(str))
    assert set(log["result"].dropna()) <= set(events["result"].astype(str))
    assert (log.loc[log[LIFECYCLE] == "start", "result"].isna()).all()


def test_each_case_is_in_time_order_and_starts_before_it_completes(runs: dict[str, Path]) -> None:
    path = runs["run"] / "short" / "eventlog.csv"
    if not path.exists():
        assert cli_run(["export-log", str(runs["run"])])[0] == 0
    log = pd.read_csv(path, parse_dates=[TIMESTAMP])
    first_rows = log.drop_duplicates(CASE).index
    assert len(first_rows) == log[CASE].nunique()  # each case is one block
    assert log.groupby(CASE, sort=False)[TIMESTAMP].apply(lambda s: s.is_monotonic_increasing).all()
    for (case, activity), rows in log.groupby([CASE, ACTIVITY], sort=False):
        steps = rows[LIFECYCLE].tolist()
        # An activity can recur in a case (a stage visited again), but each instance starts
        # before it completes, and a case never completes more instances than it started.
        assert steps[0] == "start", (case, activity, steps)
        opened = np.cumsum([1 if s == "start" else -1 for s in steps])
        assert (opened >= 0).all() and opened[-1] in (0, 1), (case, activity, steps)


def test_timestamps_are_the_start_plus_the_days(runs: dict[str, Path]) -> None:
    path = runs["run"] / "short" / "eventlog.csv"
    if not path.exists():
        assert cli_run(["export-log", str(runs["run"])])[0] == 0
    log = pd.read_csv(path, parse_dates=[TIMESTAMP])
    events, start = events_of(runs["run"])
    visits = events[events["pool"].isna()]
    expected = pd.Timestamp(start) + pd.to_timedelta(visits["queued_at"], unit="D")
    expected.index = visits["replication"].astype(str) + "-" + visits["deal_id"].astype(str)
    starts = log[(log[LIFECYCLE] == "start") & ~log[ACTIVITY].str.contains(": ")]
    got = starts.set_index(CASE)[TIMESTAMP]
    for case in list(dict.fromkeys(got.index))[:200]:
        a = np.sort(got.loc[[case]].to_numpy())
        b = np.sort(expected.loc[[case]].to_numpy())
        assert len(a) == len(b)
        assert (np.abs(a - b) <= np.timedelta64(1, "ms")).all(), case
    assert got.min() >= pd.Timestamp(start)


def _value(element: ET.Element, key: str) -> str | None:
    for child in element:
        if child.get("key") == key:
            return child.get("value")
    return None


def test_the_xes_log_is_xes_with_the_same_events(runs: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "log.xes"
    code, _, _ = cli_run(["export-log", str(runs["run"]), "--format", "xes", "--out", str(target)])
    assert code == 0
    root = ET.parse(target).getroot()
    assert root.tag == f"{XES}log" and root.get("xes.version")
    prefixes = {e.get("prefix") for e in root.findall(f"{XES}extension")}
    assert prefixes == {"concept", "time", "lifecycle", "org"}
    traces = root.findall(f"{XES}trace")
    events, start = events_of(runs["run"])
    assert len(traces) == len(events.groupby(["replication", "deal_id"]))
    total = sum(expected_counts(events).values())
    found = 0
    for trace in traces:
        stamps = []
        for event in trace.findall(f"{XES}event"):
            found += 1
            assert _value(event, ACTIVITY) and _value(event, LIFECYCLE) in ("start", "complete")
            stamp = _value(event, TIMESTAMP)
            assert stamp is not None
            stamps.append(dt.datetime.fromisoformat(stamp))
        assert stamps == sorted(stamps)
        assert stamps[0] >= dt.datetime.combine(start, dt.time(), dt.UTC)
    assert found == total


def test_pm4py_reads_both_logs(runs: dict[str, Path], tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm4py: Any = pytest.importorskip("pm4py")
    xes, table = tmp_path / "log.xes", tmp_path / "log.csv"
    assert cli_run(["export-log", str(runs["run"]), "--format", "xes", "--out", str(xes)])[0] == 0
    assert cli_run(["export-log", str(runs["run"]), "--out", str(table)])[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_xes = pm4py.read_xes(str(xes), show_progress_bar=False)
        from_csv = pm4py.format_dataframe(pd.read_csv(table))
    assert len(from_xes) == len(from_csv) == len(pd.read_csv(table))
    assert from_xes[CASE].nunique() == from_csv[CASE].nunique()
    assert set(from_xes[ACTIVITY]) == set(from_csv[ACTIVITY])


def test_a_comparison_exports_the_variant_it_is_asked_for(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    code, _, err = cli_run(["export-log", str(runs["compare"])])
    assert code == 2 and err.startswith("error: --variant:") and "short, early" in err
    target = tmp_path / "early.csv"
    args = ["export-log", str(runs["compare"]), "--variant", "early", "--out", str(target)]
    assert cli_run(args)[0] == 0
    events, _ = events_of(runs["compare"], "early")
    assert len(pd.read_csv(target)) == sum(expected_counts(events).values())


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["NOWHERE"], "is not a folder"),
        (["EMPTY"], "holds no manifest.json"),
        (["RUN", "--variant", "nope"], "--variant: 'nope' is not a variant"),
        (["RUN", "--format", "pdf"], "--format"),
        (["RUN", "--out", "EMPTY"], "--out:"),
        (["RUN", "--out", "FILE/x.csv"], "--out: cannot write"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    runs: dict[str, Path], tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "FILE").write_text("keep\n", encoding="utf-8")
    places = {"RUN": str(runs["run"]), "NOWHERE": str(tmp_path / "nowhere")}
    argv = ["export-log"] + [
        places.get(a, str(tmp_path / a) if a.isupper() or "/" in a else a) for a in args
    ]
    code, out, err = cli_run(argv)
    assert code == 2 and "Traceback" not in out + err
    assert err.startswith("error: ") and says in err, err
    assert (tmp_path / "FILE").read_text(encoding="utf-8") == "keep\n"
