"""CRM exports: what is repaired (and logged), what is refused (and where), and as-of discipline.

The misspellings are made here, from clean names (a letter swapped, dropped or doubled; spaces,
case and punctuation changed), never copied from the public sample. The public sample itself
(``../shared/data`` beside the checkout, as CI has it) must load, and its repair log must name
the problems its README lists; those tests are skipped where the sample is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from constants import CRM_SAMPLE, ROOT, STAGES
from helpers import needs_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamsim import crm_synthetic
from kamsim.crm import OPPORTUNITY_COLUMNS, example, read_crm
from kamsim.crm_mapping import bundled_mappings, load_mapping
from kamsim.crm_repair import RULES, Repair, spellings
from kamsim.errors import ScenarioError

HEADER = (
    "opportunity_id",
    "sales_agent",
    "product",
    "account",
    "deal_stage",
    "engage_date",
    "close_date",
    "close_value",
)
TEAMS = (
    ("Annabel Leeds", "Gina Park", "East"),
    ("Bartholomew Cole", "Gina Park", "East"),
    ("Cordelia Marsh", "Hugo Vance", "West"),
)
PRODUCTS = (("Alpha One", "Alpha", "1000"), ("Beta Series Two", "Beta", "5000"))
ACCOUNTS = (
    ("Acme Works", "retail"),
    ("Borealis Group", "finance"),
    ("Cobalt Laboratories", "retail"),
    ("Dunmore Holdings", "software"),
    ("Everest Partners", "retail"),
    ("Fairweather Trading", "retail"),
    ("Glenmore Freight", "finance"),
    ("Harbourside Media", "retail"),
)
START = dt.date(2020, 1, 1)
N = 48


def clean_rows() -> list[list[str]]:
    """A clean export: 48 dated deals (won, lost, open, won in turn), then two undated
    Prospecting leads. Row i is on file line i + 2."""
    rows = []
    for i in range(N):
        created = START + dt.timedelta(days=5 * i)
        stage, closed, value = "Won", created + dt.timedelta(days=30), str(900 + i)
        if i % 4 == 1:
            stage, closed, value = "Lost", created + dt.timedelta(days=20), "0"
        elif i % 4 == 2:
            stage, closed, value = "Engaging", None, ""
        rows.append(
            [
                f"OP{i:03d}",
                TEAMS[i % 3][0],
                PRODUCTS[i % 2][0],
                ACCOUNTS[i % len(ACCOUNTS)][0],
                stage,
                created.isoformat(),
                closed.isoformat() if closed else "",
                value,
            ]
        )
    rows.append(["OP900", TEAMS[0][0], PRODUCTS[0][0], "", "Prospecting", "", "", ""])
    rows.append(["OP901", TEAMS[1][0], PRODUCTS[1][0], "", "Prospecting", "", "", ""])
    return rows


def table_text(header: tuple[str, ...], rows: list[list[str]] | tuple[tuple[str, ...], ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_export(
    folder: Path,
    rows: list[list[str]] | None = None,
    header: tuple[str, ...] = HEADER,
    accounts: tuple[tuple[str, ...], ...] = ACCOUNTS,
    products: tuple[tuple[str, ...], ...] = PRODUCTS,
) -> Path:
    """The export's four files in ``folder``; returns the pipeline file."""
    (folder / "accounts.csv").write_text(table_text(("account", "sector"), accounts), "utf-8")
    (folder / "products.csv").write_text(
        table_text(("product", "series", "sales_price"), products), "utf-8"
    )
    (folder / "sales_teams.csv").write_text(
        table_text(("sales_agent", "manager", "regional_office"), TEAMS), "utf-8"
    )
    path = folder / "sales_pipeline.csv"
    path.write_text(table_text(header, clean_rows() if rows is None else rows), "utf-8")
    return path


def typo(word: str, kind: str) -> str:
    """``word`` with one typing mistake in its middle."""
    mid = len(word) // 2
    swap = next(i for i in [*range(mid, len(word)), *range(mid)] if word[i - 1] != word[i])
    wrong = {
        "swap": word[: swap - 1] + word[swap] + word[swap - 1] + word[swap + 1 :],
        "drop": word[:mid] + word[mid + 1 :],
        "double": word[:mid] + word[mid] + word[mid:],
    }[kind]
    assert wrong != word
    return wrong


def find(repairs: list[Repair], rule: str, column: str | None = None) -> Repair:
    found = [r for r in repairs if r.rule == rule and (column is None or r.column == column)]
    assert len(found) == 1, (rule, column, [str(r) for r in repairs])
    return found[0]


def row(table: pd.DataFrame, opportunity: str) -> dict[str, Any]:
    rows = table[table["id"] == opportunity].to_dict("records")
    assert len(rows) == 1, opportunity
    return rows[0]


def refused(call: Callable[[], object]) -> list[str]:
    """The problems ``call`` raises, one line each."""
    with pytest.raises(ScenarioError) as info:
        call()
    lines = [str(p) for p in info.value.problems]
    assert lines and all("\n" not in line for line in lines)
    return lines


def named(lines: list[str], file: Path | str, column: str, line: int) -> str:
    """The problem naming ``file``, ``column`` and ``line``."""
    prefix = f"{file}:{line}: {column}: "
    found = [text for text in lines if text.startswith(prefix)]
    assert found, (prefix, lines)
    return found[0]


# -- a clean export ------------------------------------------------------------------------


def test_a_clean_export_reads_into_the_typed_table(tmp_path: Path) -> None:
    export = read_crm(write_export(tmp_path))
    table = export.opportunities()
    assert tuple(table.columns) == OPPORTUNITY_COLUMNS
    assert len(table) == N + 2
    assert table["outcome"].value_counts().to_dict() == {"won": 24, "lost": 12, "open": 14}
    won = row(table, "OP000")
    assert (
        won["owner"] == "Annabel Leeds" and won["team"] == "East" and won["manager"] == "Gina Park"
    )
    assert won["sector"] == "retail" and won["series"] == "Alpha" and won["price"] == 1000.0
    assert won["created"] == pd.Timestamp("2020-01-01")
    assert won["closed"] == pd.Timestamp("2020-01-31") and won["value"] == 900.0
    assert won["stage"] == "proposal"  # closed from the stage engage_date starts
    assert won["line"] == 2
    assert (
        row(table, "OP002")["stage"] == "proposal" and row(table, "OP900")["stage"] == "development"
    )
    assert str(table["outcome"].dtype) == "category" and str(table["owner"].dtype) == "string"
    assert {r.rule for r in export.repairs()} <= {
        "open-no-close",
        "zero-value-lost",
        "undated",
        "empty",
    }
    for repair in export.repairs():
        assert repair.rule in RULES


def test_the_default_mapping_records_two_stages_and_passes_through_the_rest() -> None:
    mapping = load_mapping()
    assert mapping.recorded == ("development", "proposal")
    assert mapping.pass_through == ("approval", "tender", "negotiation", "implementation")
    assert set(bundled_mappings()) >= {"maven", "stage-history"}
    assert load_mapping("stage-history").pass_through == ("implementation",)


# -- repaired ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["swap", "drop", "double"])
def test_a_misspelled_owner_takes_the_spelling_of_the_teams_file(tmp_path: Path, kind: str) -> None:
    rows = clean_rows()
    wrong = typo("Bartholomew Cole", kind)
    rows[4][1] = wrong
    export = read_crm(write_export(tmp_path, rows))
    assert row(export.opportunities(), "OP004")["owner"] == "Bartholomew Cole"
    assert row(export.opportunities(), "OP004")["team"] == "East"
    repair = find(export.repairs(), "misspelling", "sales_agent")
    assert (
        repair.lines == (6,) and repr(wrong) in repair.message and "sales_teams.csv" in str(repair)
    )


@pytest.mark.parametrize("kind", ["swap", "drop", "double"])
def test_a_misspelled_sector_takes_the_vocabularys_spelling(tmp_path: Path, kind: str) -> None:
    accounts = list(ACCOUNTS)
    accounts[1] = ("Borealis Group", typo("finance", kind))
    export = read_crm(write_export(tmp_path, accounts=tuple(accounts)))
    assert row(export.opportunities(), "OP001")["sector"] == "finance"
    repair = find(export.repairs(), "misspelling", "sector")
    assert repair.file == "accounts.csv" and repair.lines == (3,)


def test_without_a_vocabulary_a_rare_spelling_takes_the_common_one(tmp_path: Path) -> None:
    text = bundled_mappings()["maven"].read_text(encoding="utf-8")
    (tmp_path / "plain.toml").write_text(text.split("[vocabulary]")[0], encoding="utf-8")
    accounts = list(ACCOUNTS)
    accounts[0] = ("Acme Works", "retial")  # 1 row against 4 of "retail"
    accounts[1] = ("Borealis Group", "Finance ")  # case and space only, against 2 rows
    accounts[3] = ("Dunmore Holdings", "finance")
    export = read_crm(write_export(tmp_path, accounts=tuple(accounts)), tmp_path / "plain.toml")
    table = export.opportunities()
    assert row(table, "OP000")["sector"] == "retail"
    assert row(table, "OP001")["sector"] == "finance"
    assert "'retial' -> 'retail' (the common spelling)" in str(
        find(export.repairs(), "misspelling")
    )
    assert find(export.repairs(), "same-name", "sector").lines == (3,)


def test_similar_names_used_about_equally_often_are_left_alone() -> None:
    names = ["Anna Snelling"] * 3 + ["Anna Snellings"] * 2
    assert spellings(names, [], 0.8) == {}
    assert spellings(["Anna Snelling"] * 3 + ["Anna Snellings"], [], 0.8) == {
        "Anna Snellings": ("Anna Snelling", "misspelling")
    }
    assert (
        spellings(["Grid Basic", "Grid Plus Basic"], ["Grid Basic", "Grid Plus Basic"], 0.8) == {}
    )


@pytest.mark.parametrize("spelling", ["AlphaOne", "alpha one", "Alpha-One", "ALPHA  ONE"])
def test_a_name_written_differently_in_another_file_takes_that_files_spelling(
    tmp_path: Path, spelling: str
) -> None:
    rows = clean_rows()
    for r in rows:
        if r[2] == "Alpha One":
            r[2] = spelling
    export = read_crm(write_export(tmp_path, rows))
    table = export.opportunities()
    assert set(table["product"].dropna()) == {"Alpha One", "Beta Series Two"}
    assert set(table.loc[table["product"] == "Alpha One", "series"]) == {"Alpha"}
    repair = find(export.repairs(), "same-name", "product")
    assert len(repair.lines) == 25 and f"{spelling!r} -> 'Alpha One'" in repair.message


@pytest.mark.parametrize(
    ("written", "kind"), [("Engagign", "misspelling"), ("engaging", "same-name")]
)
def test_a_misspelled_crm_stage_takes_the_mappings_spelling(
    tmp_path: Path, written: str, kind: str
) -> None:
    rows = clean_rows()
    rows[2][4] = written
    export = read_crm(write_export(tmp_path, rows))
    assert row(export.opportunities(), "OP002")["outcome"] == "open"
    assert find(export.repairs(), kind, "deal_stage").lines == (4,)


def test_open_deals_have_no_close_date_and_an_expected_one_is_cleared(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[2][6] = "2020-12-01"  # an expected close on an open deal
    export = read_crm(write_export(tmp_path, rows))
    table = export.opportunities()
    assert table.loc[table["outcome"] == "open", "closed"].isna().all()
    assert find(export.repairs(), "open-close-date").lines == (4,)
    open_lines = find(export.repairs(), "open-no-close").lines
    assert len(open_lines) == 13 and 4 not in open_lines


def test_zero_values_on_lost_deals_are_unknown_not_zero(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[0][7] = "0"  # a won deal at 0 stays 0
    export = read_crm(write_export(tmp_path, rows))
    table = export.opportunities()
    assert table.loc[table["outcome"] == "lost", "value"].isna().all()
    assert row(table, "OP000")["value"] == 0.0
    assert len(find(export.repairs(), "zero-value-lost").lines) == 12


def test_exact_duplicate_rows_are_dropped(tmp_path: Path) -> None:
    rows = clean_rows()
    rows.insert(6, list(rows[5]))
    export = read_crm(write_export(tmp_path, rows))
    assert len(export.opportunities()) == N + 2
    assert find(export.repairs(), "duplicate-rows").lines == (8,)


def test_rows_without_dates_are_kept_flagged_and_left_out_as_of_a_date(tmp_path: Path) -> None:
    export = read_crm(write_export(tmp_path))
    table = export.opportunities()
    assert table.loc[table["undated"], "id"].tolist() == ["OP900", "OP901"]
    repair = find(export.repairs(), "undated")
    assert repair.lines == (N + 2, N + 3) and "Prospecting: 2" in repair.message
    assert not export.opportunities(as_of="2021-01-01")["undated"].any()
    assert len(export.opportunities(as_of="2021-01-01")) == N


def test_blank_rows_unknown_names_and_empty_categories_are_logged(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[3][3] = "Zephyr Unknown Company"
    rows[2][3] = ""
    rows[0][7] = ""  # a won deal without its value
    path = write_export(tmp_path, rows)
    path.write_text(path.read_text(encoding="utf-8") + "\n,,,,,,,\n", encoding="utf-8")
    export = read_crm(path)
    table = export.opportunities()
    assert row(table, "OP003")["account"] == "Zephyr Unknown Company"
    assert pd.isna(row(table, "OP003")["sector"])
    assert pd.isna(row(table, "OP002")["account"]) and pd.isna(row(table, "OP000")["value"])
    assert find(export.repairs(), "not-in-file").lines == (5,)
    assert 4 in find(export.repairs(), "empty", "account").lines
    assert find(export.repairs(), "no-value").lines == (2,)
    assert find(export.repairs(), "blank-rows").lines == (N + 4, N + 5)


# -- refused -------------------------------------------------------------------------------


def test_a_missing_required_column_is_named(tmp_path: Path) -> None:
    rows = [r[:6] + r[7:] for r in clean_rows()]
    path = write_export(tmp_path, rows, header=HEADER[:6] + HEADER[7:])
    problem = named(refused(lambda: read_crm(path)), path, "close_date", 1)
    assert "columns.closed" in problem and "maven.toml" in problem


def test_a_mapping_naming_an_absent_column_is_named(tmp_path: Path) -> None:
    path = write_export(tmp_path)
    text = bundled_mappings()["maven"].read_text(encoding="utf-8")
    mapping = tmp_path / "mine.toml"
    mapping.write_text(text.replace('owner = "sales_agent"', 'owner = "agent"'), encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("owner ="))
    problem = named(refused(lambda: read_crm(path, mapping)), path, "agent", 1)
    assert f"columns.owner (mine.toml:{line})" in problem


@pytest.mark.parametrize("text", ["2020-02-30", "yesterday", "1850-01-01", "20200101x"])
def test_an_unreadable_date_is_named(tmp_path: Path, text: str) -> None:
    rows = clean_rows()
    rows[3][5] = text
    path = write_export(tmp_path, rows)
    assert repr(text) in named(refused(lambda: read_crm(path)), path, "engage_date", 5)


def test_a_closed_deal_without_its_close_date_is_refused(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[0][6] = ""
    path = write_export(tmp_path, rows)
    named(refused(lambda: read_crm(path)), path, "close_date", 2)


def test_a_close_before_its_create_date_is_refused(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[5][6] = "2019-12-31"
    path = write_export(tmp_path, rows)
    problem = named(refused(lambda: read_crm(path)), path, "close_date", 7)
    assert "before the create date" in problem


def test_one_id_with_two_contents_is_refused(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[7][0] = rows[6][0]
    path = write_export(tmp_path, rows)
    problem = named(refused(lambda: read_crm(path)), path, "opportunity_id", 9)
    assert "also on line 8" in problem


@pytest.mark.parametrize(
    ("text", "why"), [("-5", "negative"), ("abc", "not a number"), ("inf", "finite")]
)
def test_a_negative_or_unreadable_value_is_refused(tmp_path: Path, text: str, why: str) -> None:
    rows = clean_rows()
    rows[0][7] = text
    path = write_export(tmp_path, rows)
    assert why in named(refused(lambda: read_crm(path)), path, "close_value", 2)


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(256))],
    ids=["empty", "blank", "png", "bytes"],
)
def test_an_empty_or_binary_file_is_refused(tmp_path: Path, body: bytes) -> None:
    path = write_export(tmp_path)
    path.write_bytes(body)
    lines = refused(lambda: read_crm(path))
    assert lines[0].startswith(f"{path}") and ("empty" in lines[0] or "binary" in lines[0])


def test_a_header_without_rows_ragged_rows_and_other_encodings_are_refused(tmp_path: Path) -> None:
    path = write_export(tmp_path, [])
    assert "no rows" in refused(lambda: read_crm(path))[0]
    path = write_export(tmp_path, [[*clean_rows()[0], "extra"]])
    assert refused(lambda: read_crm(path))[0].startswith(f"{path}:2: 9 fields")
    path.write_bytes(
        table_text(HEADER, clean_rows()).replace("Annabel", "Ann\u00e9bel").encode("latin-1")
    )
    assert refused(lambda: read_crm(path))[0].startswith(f"{path}:2: not UTF-8")


def test_a_crm_stage_the_mapping_does_not_know_is_refused(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[6][4] = rows[10][4] = "Negotiating"
    path = write_export(tmp_path, rows)
    problem = named(refused(lambda: read_crm(path)), path, "deal_stage", 8)
    assert "'Negotiating' is not in the mapping's [stages]" in problem and "(2 rows)" in problem


def test_a_mapping_with_an_unknown_stage_or_key_is_refused(tmp_path: Path) -> None:
    text = bundled_mappings()["maven"].read_text(encoding="utf-8")
    lines = text.splitlines()
    won = next(i for i, t in enumerate(lines, 1) if t.startswith("Won ="))
    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace('Won = "won"', 'Won = "wonn"').replace("[columns]", "[columns]\nidd = 'x'"),
        "utf-8",
    )
    problems = refused(lambda: read_crm(write_export(tmp_path), bad))
    assert named(problems, bad, "stages.Won", won + 1)
    assert any(p.startswith(f"{bad}:") and "columns.idd: unknown key" in p for p in problems)
    bad.write_text(
        'shape = "history"\n[columns]\nid = "a"\nstage = "b"\n[stages]\nX = "won"\n', "utf-8"
    )
    assert "columns.entered: required" in refused(lambda: load_mapping(bad))[0]
    bad.write_text("shape = \n", "utf-8")
    assert refused(lambda: load_mapping(bad))[0].startswith(f"{bad}:1: TOML syntax error")
    assert "no bundled mapping" in refused(lambda: load_mapping("no-such-mapping"))[0]


def test_a_joined_file_that_is_missing_is_named(tmp_path: Path) -> None:
    path = write_export(tmp_path)
    (tmp_path / "products.csv").unlink()
    problem = refused(lambda: read_crm(path))[0]
    assert "products.file" in problem and "'products.csv' not found" in problem


# -- as of a date ----------------------------------------------------------------------------


def test_as_of_a_date_later_deals_are_left_out_and_later_closes_are_open(tmp_path: Path) -> None:
    export = read_crm(write_export(tmp_path))
    as_of = dt.date(2020, 3, 1)  # OP012 is created on it; OP008 (won) closes on 2020-03-11
    table = export.opportunities(as_of=as_of)
    assert table["created"].max() == pd.Timestamp(as_of)
    assert sorted(table["id"]) == [f"OP{i:03d}" for i in range(13)]
    reopened = row(table, "OP008")
    assert (
        reopened["outcome"] == "open" and pd.isna(reopened["closed"]) and pd.isna(reopened["value"])
    )
    assert reopened["stage"] == "proposal"
    assert (table["closed"].dropna() <= pd.Timestamp(as_of)).all()
    history = export.history(as_of=as_of)
    assert (history["entered"] <= pd.Timestamp(as_of)).all()
    assert "closed after 2020-03-01: still open" in str(
        find(export.repairs(as_of), "as-of", "close_date")
    )
    with pytest.raises(ValueError, match="as_of"):
        export.opportunities(as_of="March")


def _pipeline_rows() -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(example().read_text(encoding="utf-8"))))[1:]
    unique = []
    for r in rows:  # the shipped export has a row exported twice: keep one
        if r not in unique:
            unique.append(r)
    return unique


AS_OF = dt.date(2024, 6, 30)
LATER = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)


def _later_date(draw: st.DrawFn, after: dt.date) -> str:
    return (after + dt.timedelta(days=draw(st.integers(1, 400)))).isoformat()


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_changing_records_dated_after_the_as_of_date_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    rows = _pipeline_rows()
    folder = tmp_path_factory.mktemp("before")
    for name in ("accounts.csv", "products.csv", "sales_teams.csv"):
        (folder / name).write_text(example(name).read_text(encoding="utf-8"), "utf-8")
    path = folder / "sales_pipeline.csv"
    path.write_text(table_text(HEADER, rows), "utf-8")
    before = read_crm(path)
    created_later = [i for i, r in enumerate(rows) if r[5] and r[5] > AS_OF.isoformat()]
    closed_later = [i for i, r in enumerate(rows) if r[5] and r[5] <= AS_OF.isoformat() < r[6]]
    names = [t[0] for t in crm_synthetic.TEAMS] + [p[0] for p in crm_synthetic.PRODUCTS]
    for _ in range(data.draw(st.integers(1, 12))):
        i = data.draw(st.sampled_from(created_later + closed_later))
        r = rows[i]
        if i in created_later:
            field = data.draw(st.sampled_from([1, 2, 3, 4, 5, 7]))
            if field in (1, 2, 3):
                r[field] = data.draw(
                    st.sampled_from([*names, typo(r[field] or "Tarcorp", "swap"), ""])
                )
            elif field == 4:
                r[4] = data.draw(st.sampled_from(["Won", "Lost", "Engaging"]))
                r[6] = (
                    ""
                    if r[4] == "Engaging"
                    else _later_date(data.draw, dt.date.fromisoformat(r[5]))
                )
            elif field == 5:
                r[5] = _later_date(data.draw, AS_OF)
                r[6] = _later_date(data.draw, dt.date.fromisoformat(r[5])) if r[6] else ""
            else:
                r[7] = str(data.draw(st.integers(0, 10**6)))
        else:
            r[4] = data.draw(st.sampled_from(["Won", "Lost", "Engaging"]))
            r[6] = "" if r[4] == "Engaging" else _later_date(data.draw, AS_OF)
            r[7] = str(data.draw(st.integers(0, 10**6)))
    path.write_text(table_text(HEADER, rows), "utf-8")
    after = read_crm(path)
    pd.testing.assert_frame_equal(before.opportunities(AS_OF), after.opportunities(AS_OF))
    pd.testing.assert_frame_equal(before.history(AS_OF), after.history(AS_OF))


# -- the stage history shape ---------------------------------------------------------------


def test_the_stage_history_gives_the_same_deals_as_the_pipeline() -> None:
    pipeline = read_crm(example()).opportunities().set_index("id")
    history = read_crm(example("stage_history.csv"), "stage-history")
    deals = history.opportunities().set_index("id")
    assert sorted(deals.index) == sorted(pipeline.index)
    assert (deals["outcome"] == pipeline.loc[deals.index, "outcome"]).all()
    closed = deals["outcome"] != "open"
    assert (deals.loc[closed, "closed"] == pipeline.loc[deals.index[closed], "closed"]).all()
    dated = ~pipeline.loc[deals.index, "undated"]
    assert (deals.loc[dated, "created"] == pipeline.loc[deals.index[dated], "created"]).all()
    entries = history.history()
    assert set(entries["stage"].astype(str)) == {*STAGES[:5], "won", "lost"}
    assert entries.groupby("id")["entered"].apply(lambda s: s.is_monotonic_increasing).all()
    assert find(history.repairs(), "misspelling", "stage").message.startswith(
        "'Propsoe' -> 'Propose'"
    )


def test_as_of_a_date_a_history_keeps_the_stage_each_deal_was_in(tmp_path: Path) -> None:
    lines = [
        "opportunity_id,stage,entered_at,amount",
        "A,Qualify,2024-01-05,100",
        "A,Approve,2024-02-01,120",
        "A,Propose,2024-03-10,130",
        "A,Closed Won,2024-05-01,150",
        "B,Qualify,2024-04-01,",
        "B,Closed Lost,2024-04-20,0",
        "C,Qualify,,",
    ]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = tmp_path / "h.toml"
    mapping.write_text(
        'shape = "history"\n[columns]\nid = "opportunity_id"\nstage = "stage"\n'
        'entered = "entered_at"\nvalue = "amount"\n[stages]\nQualify = "development"\n'
        'Approve = "approval"\nPropose = "proposal"\n"Closed Won" = "won"\n'
        '"Closed Lost" = "lost"\n',
        encoding="utf-8",
    )
    export = read_crm(path, mapping)
    everything = export.opportunities().set_index("id")
    assert everything.loc["A", "outcome"] == "won" and everything.loc["A", "value"] == 150
    assert everything.loc["A", "stage"] == "proposal"
    assert pd.isna(everything.loc["B", "value"])  # 0 on a lost deal
    assert everything.loc["C", "undated"]
    march = export.opportunities(as_of="2024-03-15").set_index("id")
    assert list(march.index) == ["A"]
    assert march.loc["A", "stage"] == "proposal" and march.loc["A", "outcome"] == "open"
    assert march.loc["A", "value"] == 130 and pd.isna(march.loc["A", "closed"])
    assert march.loc["A", "created"] == pd.Timestamp("2024-01-05")
    assert list(export.history("2024-03-15")["stage"].astype(str)) == [
        "development",
        "approval",
        "proposal",
    ]
    conflict = path.read_text(encoding="utf-8") + "A,Approve,2024-02-01,999\n"
    path.write_text(conflict, encoding="utf-8")
    assert "also on line 3" in named(
        refused(lambda: read_crm(path, mapping)), path, "opportunity_id", 9
    )


# -- the shipped synthetic export and the public sample ------------------------------------


def test_the_shipped_synthetic_export_is_what_its_generator_makes() -> None:
    for name, text in crm_synthetic.generate().items():
        assert example(name).read_bytes() == text.encode("utf-8"), name
    assert 200 <= len(example().read_text(encoding="utf-8").splitlines()) <= 500


@needs_sample
def test_the_public_sample_loads_and_its_repair_log_names_its_problems() -> None:
    export = read_crm(CRM_SAMPLE)
    table = export.opportunities()
    assert len(table) == 8800
    assert table["outcome"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "open": 2089}
    log = export.report()
    assert "'GTXPro' -> 'GTX Pro'" in str(find(export.repairs(), "same-name", "product"))
    assert "'technolgy' -> 'technology'" in str(find(export.repairs(), "misspelling", "sector"))
    assert len(find(export.repairs(), "zero-value-lost").lines) == 2473
    undated = find(export.repairs(), "undated")
    assert len(undated.lines) == 500 and "Prospecting: 500" in undated.message
    assert table["sector"].notna().sum() == table["account"].notna().sum()
    assert set(table["product"].dropna()) <= {
        "GTX Basic",
        "GTX Pro",
        "MG Special",
        "MG Advanced",
        "GTX Plus Pro",
        "GTX Plus Basic",
        "GTK 500",
    }
    for line in log.splitlines()[5:]:
        assert line.startswith("repaired: ")
    as_of = export.opportunities(as_of="2017-06-30")
    assert (as_of["created"] <= pd.Timestamp("2017-06-30")).all()
    assert (as_of["closed"].dropna() <= pd.Timestamp("2017-06-30")).all()


def test_the_docs_list_every_repair_rule_and_the_build_ships_the_crm_files() -> None:
    page = (ROOT / "docs" / "crm.md").read_text(encoding="utf-8")
    assert [rule for rule in RULES if f"| `{rule}` |" not in page] == []
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = config["tool"]["setuptools"]["package-data"]["kamsim"]
    assert {"crm_maps/*.toml", "crm_example/*.csv"} <= set(shipped)
    assert sorted(p.name for p in example().parent.glob("*.csv")) == sorted(
        crm_synthetic.generate()
    )
