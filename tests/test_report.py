"""``kamsim report``: one self-contained HTML file per output folder.

The report of each command's folder is parsed, and every section, table and figure the
command calls for must be there, each figure an embedded PNG, with nothing fetched from the
network. Small runs keep it quick: the baseline over 15 months, 3 replications.
"""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from constants import BASELINE
from typer.testing import CliRunner

from kamsim.cli import app
from kamsim.labels import label

SHORT = ["--set", "calendar.horizon_months=15", "--set", "calendar.warmup_months=3"]
COMMON = ["--reps", "3", "--seed", "5", "--workers", "1", "--quiet"]
PNG = b"\x89PNG\r\n\x1a\n"


class Parsed(HTMLParser):
    """Ids of sections, tables and figures, the images' sources and every URL attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.images: list[str] = []
        self.urls: list[str] = []
        self.rows: dict[str, int] = {}
        self._table: str | None = None
        self._th = False
        self.heads: dict[str, list[str]] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids[str(a["id"])] = tag
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr" and self._table:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1
        if tag == "th":
            self._th = True
        if tag == "img":
            self.images.append(str(a.get("src")))
        for key in ("src", "href"):
            if a.get(key):
                self.urls.append(str(a[key]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        if tag == "th":
            self._th = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._th and self._table:
            self.heads.setdefault(self._table, []).append(data)


def _report(folder: Path, *extra: str) -> Parsed:
    result = CliRunner().invoke(app, ["report", str(folder), *extra])
    assert result.exit_code == 0, result.output
    out = Path(result.stdout.strip().removeprefix("wrote "))
    parsed = Parsed()
    parsed.feed(out.read_text(encoding="utf-8"))
    return parsed


def _self_contained(parsed: Parsed) -> None:
    assert parsed.urls, "no images at all"
    for url in parsed.urls:
        assert url.startswith("data:image/png;base64,"), url
    for src in parsed.images:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)


def _run(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / args[0]
    result = CliRunner().invoke(app, [*args, *COMMON, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"kamsim report {out}" in result.stdout
    return out


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short run's output folder, shared by the tests that only read it."""
    return _run(tmp_path_factory.mktemp("report"), "run", str(BASELINE), *SHORT)


SECTIONS = ["section-scenario", "section-check", "section-kpis", "section-plots"]


def test_a_run_report_holds_every_section_table_and_figure(run_out: Path) -> None:
    out = run_out
    parsed = _report(out)
    for key in [*SECTIONS, "section-provenance", "table-kpis", "table-provenance"]:
        assert key in parsed.ids, key
    assert {"table-check-summary-0", "table-check-pools-0", "table-scenario-0"} <= set(parsed.ids)
    figures = {k for k, tag in parsed.ids.items() if tag == "figure"}
    assert figures == {
        f"figure-{f}" for f in ("funnel", "fan-bookings", "fan-cash", "wip", "capacity", "times")
    }
    assert len(parsed.images) == len(figures)
    _self_contained(parsed)
    # One KPI row per KPI of the summary, and the provenance names the seed and scenario hash.
    summary = pd.read_csv(out / "summary.csv")
    assert parsed.rows["table-kpis"] == 1 + summary["kpi"].nunique()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    text = " ".join(parsed.text)
    assert manifest["plan"]["variants"][0]["scenario_hash"] in text
    assert manifest["versions"]["kamsim"] in text


def test_reports_of_compare_sweep_and_sensitivity(tmp_path: Path) -> None:
    short = tmp_path / "short.toml"
    short.write_text(
        f'extends = "{BASELINE.as_posix()}"\nname = "short"\n'
        "[calendar]\nhorizon_months = 15\nwarmup_months = 3\n",
        encoding="utf-8",
    )
    hire = tmp_path / "hire.toml"
    hire.write_text(
        'extends = "short.toml"\nname = "hire"\n[resources.presales]\nheadcount = 10\n',
        encoding="utf-8",
    )
    cases = {
        "compare": (
            ["compare", str(short), str(hire)],
            {"table-comparison"},
            {"figure-forest", "figure-flips", "figure-fan"},
        ),
        "sweep": (
            [
                *("sweep", str(short), "--grid", "resources.presales.headcount=8,10"),
                *("--grid", "resources.delivery.headcount=8,10"),
            ],
            {"table-sweep", "table-returns"},
            {"figure-heatmap-bookings", "figure-heatmap-contribution"},
        ),
        "sensitivity": (
            ["sensitivity", str(short), "--param", "resources.presales.deals_per_person=6,8"],
            {"table-sensitivity"},
            {"figure-tornado-bookings", "figure-tornado-contribution"},
        ),
    }
    for command, (args, tables, figures) in cases.items():
        parsed = _report(_run(tmp_path, *args))
        assert set(SECTIONS) <= set(parsed.ids), command
        section = "comparison" if command == "compare" else command
        assert f"section-{section}" in parsed.ids, command
        assert tables <= set(parsed.ids), command
        assert {k for k, tag in parsed.ids.items() if tag == "figure"} == figures, command
        _self_contained(parsed)
        for table_id in tables:  # every row and column of the command's own table
            name = table_id.removeprefix("table-")
            written = pd.read_csv(tmp_path / command / f"{name}.csv")
            if name in ("comparison", "returns"):  # the others show their headline KPIs
                assert parsed.rows[table_id] == 1 + len(written), table_id
            assert set(parsed.heads[table_id]) <= set(written.columns), table_id
        if command == "compare":
            assert {"base", "variant_mean", "difference"} <= set(parsed.heads["table-comparison"])


def test_a_chinese_report_labels_in_chinese(run_out: Path, tmp_path: Path) -> None:
    parsed = _report(run_out, "--lang", "zh", "--out", str(tmp_path / "zh.html"))
    text = " ".join(parsed.text)
    for key in ("report.check", "report.kpis", "bookings", "presales"):
        assert label(key, "zh") in text, key
    _self_contained(parsed)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p, "holds no manifest.json"),
        (lambda p: p / "nothing", "is not a folder"),
    ],
)
def test_a_folder_that_is_not_an_output_is_refused(tmp_path: Path, make, fragment) -> None:
    result = CliRunner().invoke(app, ["report", str(make(tmp_path))])
    assert result.exit_code == 2
    assert fragment in result.stderr and "Traceback" not in result.output


def test_a_damaged_output_names_what_is_missing(tmp_path: Path) -> None:
    out = _run(tmp_path, "run", str(BASELINE), *SHORT)
    (out / "baseline" / "deals.parquet").unlink()
    (out / "summary.csv").unlink()
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert any("summary.csv" in line and "is missing" in line for line in lines)
    assert any("deals.parquet" in line and "is missing" in line for line in lines)
    bad = CliRunner().invoke(app, ["report", str(out), "--lang", "fr"])
    assert bad.exit_code == 2 and "--lang" in bad.stderr
