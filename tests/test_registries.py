"""The KPI and table registries: what they promise, and that the library follows them.

The expected KPI names (in ``constants``) and table names (here) are the contract spelled out,
not taken from the code under test; the "follows" tests change a registry and check that the
printout or the files change with it.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import unicodedata
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

import pandas as pd
import pytest
from constants import KPI_COLUMNS, ROOT, RUN_FILES

import kamsim
import kamsim.io
import kamsim.kpis
from kamsim.analysis import format_kpi, summarise
from kamsim.cli import format_summary
from kamsim.kpis import KPIS, Kpi
from kamsim.results import Result, concat_results
from kamsim.tables import TABLES, Table

KEYS = ["replication", "seed"]
KPI_NAMES = [c for c in KPI_COLUMNS if c not in KEYS]
"""The kpis table's KPI columns, in order (the contract spelled out in ``constants``)."""

CURRENCY = ["bookings", "revenue", "cash", "gross_margin", "cost_of_sale", "contribution"]
SHARES = [
    "gross_margin_pct",
    "win_rate",
    "lead_conversion",
    "tender_win_rate",
    "approval_to_signed",
    "no_decision_share",
    "award_to_signature_30d",
    "q4_acceptance_share",
    *(k for k in KPI_NAMES if k.startswith("util_")),
]
COUNTS = ["deals_won", "deals_lost", "deals_open"]
DAYS = [
    "cycle_time_days",
    "dso_days",
    "executive_days_per_month",
    *(k for k in KPI_NAMES if k.startswith("wait_")),
]
TIME_BASED = [
    *CURRENCY,
    *COUNTS,
    "q4_acceptance_share",
    "dso_days",
    "executive_days_per_month",
    *(k for k in KPI_NAMES if k.startswith("util_")),
]
"""KPIs of the measurement window (the rest are of the cohort of deals arriving in it)."""

TABLE_NAMES = ["deals", "events", "timeseries", "kpis", "kpis_by_year"]

UNITS = {"currency", "share", "days", "deals"}
DIRECTIONS = {"higher", "lower", None}
BASES = {"time", "deal"}
FORMATS = {"money", "percent", "decimal", "plain"}


@pytest.fixture(scope="module")
def two_reps(baseline: kamsim.Scenario) -> list[kamsim.Result]:
    """Replications 0 and 1 of a six-month baseline, each on its own."""
    short = baseline.with_overrides(["calendar.horizon_months=6", "calendar.warmup_months=0"])
    return [kamsim.simulate(short, seed=5, replication=r) for r in (0, 1)]


def _with(entry: Kpi) -> MappingProxyType[str, Kpi]:
    """The registry with ``entry`` added, or replacing the entry of its name."""
    return MappingProxyType({**KPIS, entry.name: entry})


def _summary(rows: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"kpi": k, "n": 2, "mean": v, "half_width": 0.1, "low": v - 0.1, "high": v + 0.1}
            for k, v in rows.items()
        ]
    )


# -- the KPI registry ---------------------------------------------------------------------------


def test_the_kpi_registry_covers_exactly_the_kpi_table(two_reps: list[kamsim.Result]) -> None:
    assert list(KPIS) == KPI_NAMES
    assert KPI_COLUMNS[:2] == KEYS
    assert list(kamsim.kpis.kpi_columns()) == KPI_COLUMNS
    for result in two_reps:
        assert list(result.kpis.columns) == KPI_COLUMNS


def test_every_kpi_entry_is_complete() -> None:
    for name, entry in KPIS.items():
        assert isinstance(entry, Kpi), name
        assert entry.name == name
        assert entry.unit in UNITS, name
        definition = entry.definition.strip()
        assert definition and definition.endswith("."), name
        assert definition.count(". ") == 0, f"{name}: the definition is one sentence"
        assert entry.better in DIRECTIONS, name
        assert entry.basis in BASES, name
        assert entry.aggregate == "mean", name
        assert entry.format in FORMATS, name
        assert entry.label_zh.strip(), name
        assert any(unicodedata.name(c, "").startswith("CJK") for c in entry.label_zh), name


def test_kpi_entries_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        KPIS["bookings"].unit = "days"
    with pytest.raises(TypeError):
        KPIS["fake"] = KPIS["bookings"]


def test_kpi_units_and_formats() -> None:
    for name in CURRENCY:
        assert (KPIS[name].unit, KPIS[name].format) == ("currency", "money"), name
    for name in SHARES:
        assert (KPIS[name].unit, KPIS[name].format) == ("share", "percent"), name
    for name in COUNTS:
        assert (KPIS[name].unit, KPIS[name].format) == ("deals", "decimal"), name
    for name in DAYS:
        assert (KPIS[name].unit, KPIS[name].format) == ("days", "decimal"), name
    assert sorted(CURRENCY + SHARES + COUNTS + DAYS) == sorted(KPI_NAMES)
    for name in KPI_NAMES:
        assert KPIS[name].basis == ("time" if name in TIME_BASED else "deal"), name
    assert KPIS["bookings"].better == "higher"
    assert KPIS["cycle_time_days"].better == "lower"
    assert KPIS["cost_of_sale"].better == "lower"
    assert KPIS["util_presales"].better is None
    assert KPIS["wait_presales"].better == "lower"
    assert KPIS["no_decision_share"].better == "lower"
    assert KPIS["contribution"].better == "higher"


def test_utilisation_labels_name_their_pool() -> None:
    labels = {KPIS[k].label_zh for k in KPI_NAMES if k.startswith("util_")}
    assert len(labels) == 5
    assert all("利用率" in label for label in labels)


def test_labels_are_distinct() -> None:
    labels = [entry.label_zh for entry in KPIS.values()]
    assert len(set(labels)) == len(labels)


def test_count_kpis_are_whole_numbers_in_the_table(two_reps: list[kamsim.Result]) -> None:
    kpis = two_reps[0].kpis
    for name in KEYS + COUNTS:
        assert pd.api.types.is_integer_dtype(kpis[name]), name
    for name in KPI_NAMES:
        if name not in COUNTS:
            assert kpis[name].dtype == "float64", name


# -- formatting follows the KPI registry --------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text"),
    [("money", "12"), ("percent", "1,234.5%"), ("decimal", "12.3"), ("plain", "12.35")],
)
def test_format_kpi_takes_the_registered_format(
    monkeypatch: pytest.MonkeyPatch, kind: str, text: str
) -> None:
    assert format_kpi("fake_kpi", 12.345) == "12.35"  # not a KPI: a few significant digits
    fake = dataclasses.replace(KPIS["bookings"], name="fake_kpi", format=kind)
    monkeypatch.setattr(kamsim.kpis, "KPIS", _with(fake))
    assert format_kpi("fake_kpi", 12.345) == text
    assert format_kpi("fake_kpi", math.nan) == "-"


def test_changing_a_kpis_format_changes_its_printout(monkeypatch: pytest.MonkeyPatch) -> None:
    assert format_kpi("win_rate", 0.25) == "25.0%"
    monkeypatch.setattr(
        kamsim.kpis, "KPIS", _with(dataclasses.replace(KPIS["win_rate"], format="decimal"))
    )
    assert format_kpi("win_rate", 0.25) == "0.2"


def test_prefixes_do_not_make_a_kpi() -> None:
    assert format_kpi("util_canteen", 0.5) == "0.500"
    assert format_kpi("deals_pending", 0.25) == "0.250"


def test_the_command_labels_currency_by_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    summary = _summary({"bookings": 1000.0, "fake_cost": 2000.0, "win_rate": 0.5})

    def rows() -> dict[str, str]:
        lines = format_summary(summary, "EUR").splitlines()[1:]
        return {line.split()[0]: line for line in lines}

    before = rows()
    assert "(EUR)" in before["bookings"]
    assert "(EUR)" not in before["fake_cost"] and "(EUR)" not in before["win_rate"]
    monkeypatch.setattr(
        kamsim.kpis,
        "KPIS",
        MappingProxyType(
            {
                **KPIS,
                "fake_cost": dataclasses.replace(KPIS["cost_of_sale"], name="fake_cost"),
                "bookings": dataclasses.replace(KPIS["bookings"], unit="deals", format="decimal"),
            }
        ),
    )
    after = rows()
    assert "(EUR)" in after["fake_cost"] and "2,000" in after["fake_cost"]
    assert "(EUR)" not in after["bookings"] and "1,000.0" in after["bookings"]


def test_the_command_prints_every_kpi_in_its_format(two_reps: list[kamsim.Result]) -> None:
    summary = summarise(concat_results(two_reps).kpis)
    lines = format_summary(summary, "CNY").splitlines()
    assert [line.split()[0] for line in lines[1:]] == KPI_NAMES
    for line, row in zip(lines[1:], summary.to_dict("records"), strict=True):
        assert format_kpi(str(row["kpi"]), float(row["mean"])) in line
        assert ("(CNY)" in line) == (row["kpi"] in CURRENCY), line


# -- the table registry -------------------------------------------------------------------------


def test_the_table_registry_lists_the_run_tables() -> None:
    assert list(TABLES) == TABLE_NAMES
    assert [t.file for t in TABLES.values()] == RUN_FILES[:-1]
    assert list(kamsim.io.RUN_FILES) == RUN_FILES
    for name, table in TABLES.items():
        assert table.name == name
        assert table.format in ("parquet", "csv")
        assert table.description.strip() and "\n" not in table.description, name


def test_result_has_one_attribute_per_table(two_reps: list[kamsim.Result]) -> None:
    names = [f.name for f in dataclasses.fields(Result)]
    assert names == ["scenario", "seed", *TABLE_NAMES]
    result = two_reps[0]
    assert list(result.tables()) == TABLE_NAMES
    for name, table in result.tables().items():
        assert table is getattr(result, name)
    assert result.seed == 5


def test_stacking_keeps_every_table(two_reps: list[kamsim.Result]) -> None:
    stacked = concat_results(two_reps)
    assert list(stacked.tables()) == TABLE_NAMES
    assert stacked.scenario is two_reps[0].scenario and stacked.seed == 5
    for name in TABLE_NAMES:
        parts = [getattr(r, name) for r in two_reps]
        table = getattr(stacked, name)
        assert len(table) == sum(len(p) for p in parts), name
        assert list(table.columns) == list(parts[0].columns), name
        assert table.index.equals(pd.RangeIndex(len(table))), name
        assert set(table["replication"]) == {0, 1}, name
    with pytest.raises(ValueError, match="no results"):
        concat_results([])


def _written(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def test_write_run_writes_exactly_the_registrys_files(
    two_reps: list[kamsim.Result], tmp_path: Path
) -> None:
    result = concat_results(two_reps)
    paths = kamsim.io.write_run(result, tmp_path, 2)
    assert [p.name for p in paths] == RUN_FILES
    assert _written(tmp_path) == sorted(RUN_FILES)
    for name in ("deals", "events"):
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, getattr(result, name), check_categorical=False)
    for name in ("kpis", "kpis_by_year"):
        back = pd.read_csv(tmp_path / f"{name}.csv")
        pd.testing.assert_frame_equal(back, getattr(result, name), check_dtype=False)


def test_write_run_follows_the_table_registry(
    two_reps: list[kamsim.Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = {
        **TABLES,
        "kpis": Table(name="kpis", format="parquet", description="KPIs, one row per replication."),
    }
    without_events = {name: t for name, t in changed.items() if name != "events"}
    monkeypatch.setattr(kamsim.io, "TABLES", MappingProxyType(without_events))
    result = concat_results(two_reps)
    paths = kamsim.io.write_run(result, tmp_path, 2)
    files = [
        "deals.parquet",
        "timeseries.parquet",
        "kpis.parquet",
        "kpis_by_year.csv",
        "manifest.json",
    ]
    assert [p.name for p in paths] == files
    assert _written(tmp_path) == sorted(files)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "kpis.parquet"), result.kpis)


# -- one version number -------------------------------------------------------------------------


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert kamsim.__version__ == metadata.version("kamsim") == project["version"]
    init = (ROOT / "src" / "kamsim" / "__init__.py").read_text(encoding="utf-8")
    assert project["version"] not in init
