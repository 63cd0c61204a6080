"""A CRM export read into a clean, typed opportunity table, a stage history and a repair log.

Calibration starts from the data a company already has. :func:`read_crm` reads an export in
one of two shapes, as a mapping file says (:mod:`kamsim.crm_mapping`):

- ``opportunities``: one row per opportunity (id, owner, product, account, stage or outcome,
  create and close dates, value), with files beside it that add the account's sector, the
  product's series and price, the owner's team;
- ``history``: one row per (opportunity, stage entered, time).

What can be repaired is repaired and logged (:mod:`kamsim.crm_repair`); what cannot (missing
columns, unreadable dates, a close before its create date, one id with two contents, negative
values, a file that is not a table, a mapping that does not fit) raises
:class:`~kamsim.errors.ScenarioError` with one line per problem naming the file, the column
and the line.

``export.opportunities(as_of=DATE)`` keeps only what was known at the end of ``DATE``: deals
created later are left out, deals closed later are still open (no close date, outcome or
value), and undated deals are left out, since when they were created is unknown. Repairs
that compare rows with each other (a spelling used on more rows) see only those rows, so
nothing dated later changes the table.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kamsim.crm_csv import CsvFile, capped, read_csv
from kamsim.crm_mapping import CrmMapping, Join, load_mapping
from kamsim.crm_repair import Repair, format_repairs, repair_column
from kamsim.errors import Problem, ScenarioError
from kamsim.limits import MAX_MONEY
from kamsim.vocabulary import STAGES

if TYPE_CHECKING:
    from kamsim.pipeline import OpenPipeline

OPPORTUNITY_COLUMNS = (
    "id",
    "owner",
    "team",
    "manager",
    "account",
    "sector",
    "product",
    "series",
    "price",
    "stage",
    "outcome",
    "created",
    "closed",
    "value",
    "undated",
    "line",
)
"""The opportunity table's columns, always all present (empty where the export lacks them)."""
HISTORY_COLUMNS = ("id", "stage", "crm_stage", "entered", "line")
"""The stage history's columns: ``stage`` is a kamsim stage, ``won`` or ``lost``."""
OUTCOME_CATEGORIES = ("won", "lost", "open")
"""The categories of ``outcome``."""
TARGETS = (*STAGES, "won", "lost")
"""The categories of a history's ``stage``: a kamsim stage entered, or the close."""
FIRST_DATE = pd.Timestamp("1900-01-01")
END_DATE = pd.Timestamp("2200-01-01")
"""Dates outside [1900, 2200) are typing mistakes, not CRM history."""
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell texts read as empty."""
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_JOINS = (("accounts", "account"), ("products", "product"), ("owners", "owner"))
_ATTRIBUTES = {
    "accounts": ("sector",),
    "products": ("series", "price"),
    "owners": ("team", "manager"),
}
EXAMPLE = "crm_example"
"""The package folder of the small synthetic export (:mod:`kamsim.crm_synthetic`)."""


def example(name: str = "sales_pipeline.csv") -> Path:
    """A file of the synthetic export shipped with kamsim: ``sales_pipeline.csv`` (shape
    ``opportunities``, for the default mapping), ``stage_history.csv`` (for the bundled
    ``stage-history`` mapping), ``accounts.csv``, ``products.csv`` or ``sales_teams.csv``."""
    return Path(str(resources.files("kamsim"))) / EXAMPLE / name


# -- parsing cells ---------------------------------------------------------------------------


def _missing(text: str) -> bool:
    return text.casefold() in MISSING


def _dates(
    cells: Sequence[str], fmt: str | None, column: str, csv: CsvFile, lines: Sequence[int]
) -> tuple[pd.Series, list[Problem]]:
    """Cells parsed as timestamps (NaT where empty), and a problem per unreadable one."""
    texts = pd.Series([None if _missing(c) else c for c in cells], dtype=object)
    try:
        parsed = pd.to_datetime(texts, format=fmt or "ISO8601", errors="coerce", utc=True)
    except (ValueError, TypeError, OverflowError):
        parsed = pd.Series([_one_date(t, fmt) for t in texts], dtype="datetime64[us, UTC]")
    stamps = parsed.dt.tz_localize(None)
    implausible = stamps.notna() & ((stamps < FIRST_DATE) | (stamps >= END_DATE))
    stamps = stamps.mask(implausible)
    problems = []
    hint = f"dates as {fmt!r} (the mapping's date_format)" if fmt else "ISO 8601 dates"
    for i in np.flatnonzero(texts.notna().to_numpy() & stamps.isna().to_numpy()):
        why = (
            "is not a plausible date (before 1900 or after 2199)"
            if implausible.iloc[i]
            else f"is not a date (expected {hint}, e.g. 2017-03-01)"
        )
        problems.append(Problem(column, f"{cells[int(i)]!r} {why}", csv.name, lines[int(i)]))
    return stamps, capped(problems)


def _one_date(text: object, fmt: str | None) -> object:
    if not isinstance(text, str):
        return pd.NaT
    try:
        return pd.to_datetime(text, format=fmt or "ISO8601", utc=True)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _numbers(
    cells: Sequence[str], column: str, csv: CsvFile, lines: Sequence[int]
) -> tuple[list[float], list[Problem]]:
    """Cells parsed as non-negative amounts (NaN where empty), and a problem per bad one."""
    values: list[float] = []
    problems: list[Problem] = []
    for text, line in zip(cells, lines, strict=True):
        if _missing(text):
            values.append(math.nan)
            continue
        clean = text.replace(",", "") if _THOUSANDS.match(text) else text
        try:
            x = float(clean)
        except ValueError:
            problems.append(Problem(column, f"{text!r} is not a number", csv.name, line))
            values.append(math.nan)
            continue
        if not math.isfinite(x):
            problems.append(Problem(column, f"{text!r} is not a finite number", csv.name, line))
        elif x < 0:
            problems.append(Problem(column, f"negative value {text}", csv.name, line))
        elif x > MAX_MONEY:
            problems.append(
                Problem(column, f"{text} is above the limit of {MAX_MONEY:g}", csv.name, line)
            )
        values.append(x if math.isfinite(x) and 0 <= x <= MAX_MONEY else math.nan)
    return values, capped(problems)


def _cutoff(as_of: dt.date | str | None) -> pd.Timestamp | None:
    """The first moment not known on ``as_of``: the next midnight after a date, just after a
    date and time."""
    if as_of is None:
        return None
    if isinstance(as_of, str):
        text = as_of
        try:
            as_of = dt.date.fromisoformat(text)
        except ValueError:
            try:
                as_of = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"as_of: {text!r} is not a date (e.g. 2017-06-30)") from None
    if isinstance(as_of, dt.datetime):
        moment = pd.Timestamp(as_of)
        if moment.tzinfo is not None:
            moment = moment.tz_convert("UTC").tz_localize(None)
        return moment + pd.Timedelta(microseconds=1)
    if isinstance(as_of, dt.date):
        return pd.Timestamp(as_of) + pd.Timedelta(days=1)
    raise ValueError(f"as_of: expected a date, not {type(as_of).__name__}")


# -- the files beside the export -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Joined:
    """A joined file: its attributes by key, and the repairs made reading it."""

    kind: str
    file: str
    rows: dict[str, dict[str, Any]]
    """Key -> attribute -> value."""
    repairs: tuple[Repair, ...]


def _columns_present(
    csv: CsvFile, wanted: Sequence[tuple[str, str]], mapping: CrmMapping
) -> list[Problem]:
    """A problem per column the mapping names (as ``key``) that the file does not have."""
    have = ", ".join(h for h in csv.header if h) or "none"
    source = mapping.path.name if mapping.path else "the mapping"
    problems = []
    for key, column in wanted:
        if column in csv.header:
            continue
        line = mapping.line(key)
        at = f"{source}:{line}" if line else source
        problems.append(
            Problem(
                column,
                f"column missing: the mapping names it as {key} ({at}); the file has: {have}",
                csv.name,
                csv.header_line,
            )
        )
    return problems


def _exact_duplicates(csv: CsvFile) -> tuple[list[int], dict[int, int]]:
    """Indices of rows to keep, and each dropped row's line -> the line of its first copy."""
    first: dict[tuple[str, ...], int] = {}
    keep: list[int] = []
    dropped: dict[int, int] = {}
    for i, row in enumerate(csv.rows):
        j = first.setdefault(row, i)
        if j == i:
            keep.append(i)
        else:
            dropped[csv.lines[i]] = csv.lines[j]
    return keep, dropped


def _file_repairs(csv: CsvFile, dropped: dict[int, int]) -> list[Repair]:
    name = csv.path.name
    repairs = []
    if csv.blank:
        repairs.append(Repair("blank-rows", name, "", "blank row skipped", tuple(csv.blank)))
    if dropped:
        repairs.append(
            Repair(
                "duplicate-rows",
                name,
                "",
                "exact copy of an earlier row: dropped",
                tuple(dropped),
            )
        )
    return repairs


def _conflicts(
    csv: CsvFile, keep: Sequence[int], key: Sequence[tuple[str, ...]], column: str, what: str
) -> list[Problem]:
    """A problem per kept row whose ``key`` an earlier kept row has, with other content."""
    first: dict[tuple[str, ...], int] = {}
    problems = []
    for i, k in zip(keep, key, strict=True):
        j = first.setdefault(k, i)
        if j != i:
            differ = [
                h for h, a, b in zip(csv.header, csv.rows[i], csv.rows[j], strict=True) if a != b
            ]
            problems.append(
                Problem(
                    column,
                    f"{what} {k[0]!r} is also on line {csv.lines[j]}, with different "
                    f"content ({', '.join(differ)})",
                    csv.name,
                    csv.lines[i],
                )
            )
    return capped(problems)


def _read_joined(kind: str, spec: Join, folder: Path, mapping: CrmMapping) -> _Joined:
    path = folder / spec.file
    if not path.is_file():
        raise ScenarioError(
            [
                mapping.problem(
                    f"{kind}.file", f"{spec.file!r} not found beside the export in {folder}"
                )
            ]
        )
    csv = read_csv(path)
    attributes = {a: getattr(spec, a) for a in _ATTRIBUTES[kind] if getattr(spec, a) is not None}
    wanted = [(f"{kind}.key", spec.key), *((f"{kind}.{a}", c) for a, c in attributes.items())]
    problems = _columns_present(csv, wanted, mapping)
    if problems:
        raise ScenarioError(problems)
    keep, dropped = _exact_duplicates(csv)
    repairs = _file_repairs(csv, dropped)
    keys = csv.column(spec.key)
    no_key = [csv.lines[i] for i in keep if not keys[i]]
    if no_key:
        repairs.append(
            Repair("no-key", path.name, spec.key, "row without a key: skipped", tuple(no_key))
        )
    keep = [i for i in keep if keys[i]]
    problems = _conflicts(csv, keep, [(keys[i],) for i in keep], spec.key, "key")
    lines = [csv.lines[i] for i in keep]
    data: dict[str, Any] = {}
    for attribute, column in attributes.items():
        everything = csv.column(column)
        cells = [everything[i] for i in keep]
        if attribute == "price":
            data[attribute], bad = _numbers(cells, column, csv, lines)
            problems += bad
            continue
        cells = ["" if _missing(c) else c for c in cells]
        known = mapping.vocabulary.get(attribute, [])  # type: ignore[call-overload]
        cells, fixed = repair_column(
            cells,
            lines,
            known,
            mapping.repair.cutoff,
            path.name,
            column,
            "the mapping's vocabulary",
        )
        repairs += fixed
        data[attribute] = cells
    if problems:
        raise ScenarioError(problems)
    by_key = {
        keys[i]: {attribute: values[n] for attribute, values in data.items()}
        for n, i in enumerate(keep)
    }
    return _Joined(kind, path.name, by_key, tuple(repairs))


# -- the export itself -----------------------------------------------------------------------


def _main_rows(
    csv: CsvFile, mapping: CrmMapping
) -> tuple[pd.DataFrame, list[Repair], dict[int, int]]:
    """The export's rows, typed: every fatal check runs here, over the whole file."""
    cols = mapping.columns
    if not csv.rows:
        raise ScenarioError([Problem("", "no rows below the header", csv.name, csv.header_line)])
    keep, dropped = _exact_duplicates(csv)
    repairs = _file_repairs(csv, dropped)
    lines = [csv.lines[i] for i in keep]

    def cells(name: str) -> list[str]:
        column = getattr(cols, name)
        if column is None:
            return [""] * len(keep)
        values = csv.column(column)
        return [values[i] for i in keep]

    problems: list[Problem] = []
    ids = cells("id")
    assert cols.id is not None and cols.stage is not None
    problems += capped(
        [
            Problem(cols.id, "empty id", csv.name, line)
            for v, line in zip(ids, lines, strict=True)
            if not v
        ]
    )
    stages, fixed = repair_column(
        cells("stage"),
        lines,
        list(mapping.stages),
        mapping.repair.cutoff,
        csv.path.name,
        cols.stage,
        "the mapping's [stages]",
    )
    repairs += fixed
    unknown: dict[str, list[int]] = defaultdict(list)
    for value, line in zip(stages, lines, strict=True):
        if value not in mapping.stages:
            unknown[value].append(line)
    known = ", ".join(repr(k) for k in mapping.stages)
    problems += capped(
        [
            Problem(
                cols.stage,
                f"{f'CRM stage {value!r}' if value else 'an empty stage'} is not in the "
                f"mapping's [stages] ({known})"
                + (f" ({len(where)} rows)" if len(where) > 1 else ""),
                csv.name,
                where[0],
            )
            for value, where in unknown.items()
        ]
    )
    data: dict[str, Any] = {
        "line": np.asarray(lines, dtype=np.int64),
        "id": ids,
        "crm_stage": stages,
        "target": [mapping.stages.get(s, "") for s in stages],
    }
    for name in ("created", "closed", "entered"):
        column = getattr(cols, name)
        if column is not None:
            data[name], bad = _dates(cells(name), mapping.date_format, column, csv, lines)
            problems += bad
        else:
            data[name] = pd.Series(pd.NaT, index=range(len(keep)), dtype="datetime64[us]")
    if cols.value is not None:
        data["value"], bad = _numbers(cells("value"), cols.value, csv, lines)
        problems += bad
    else:
        data["value"] = [math.nan] * len(keep)
    for name in ("owner", "account", "product"):
        data[name] = ["" if _missing(c) else c for c in cells(name)]
    raw = pd.DataFrame(
        {k: v.to_numpy() if isinstance(v, pd.Series) else v for k, v in data.items()}
    )
    if mapping.shape == "opportunities":
        problems += _conflicts(csv, keep, [(i,) for i in ids], cols.id, "id")
        problems += _opportunity_checks(raw, csv, mapping)
    else:
        key = [(i, s, e) for i, s, e in zip(ids, cells("stage"), cells("entered"), strict=True)]
        problems += _conflicts(csv, keep, key, cols.id, "stage entry of")
        problems += _history_checks(raw, csv, mapping)
    if problems:
        raise ScenarioError(problems)
    return raw, repairs, dropped


def _day(stamp: Any) -> str:
    """A timestamp as its date, or date and time when it has one."""
    ts = pd.Timestamp(stamp)
    return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else ts.isoformat()


def _problems(rows: pd.DataFrame, column: str, message: Any, csv: CsvFile) -> list[Problem]:
    """A problem per row (``message(row)``), at the row's line, capped."""
    return capped(
        [
            Problem(column, message(row), csv.name, int(row["line"]))
            for row in rows.to_dict("records")
        ]
    )


def _opportunity_checks(raw: pd.DataFrame, csv: CsvFile, mapping: CrmMapping) -> list[Problem]:
    cols = mapping.columns
    assert cols.closed is not None and cols.created is not None
    closed = raw["target"].isin(("won", "lost"))
    no_close = raw[closed & raw["closed"].isna()]
    early = raw[raw["closed"] < raw["created"]]
    return _problems(
        no_close,
        cols.closed,
        lambda r: f"empty on a {r['target']} deal: a closed deal needs its close date",
        csv,
    ) + _problems(
        early,
        cols.closed,
        lambda r: (
            f"{_day(r['closed'])} is before the create date {_day(r['created'])} ({cols.created})"
        ),
        csv,
    )


def _history_checks(raw: pd.DataFrame, csv: CsvFile, mapping: CrmMapping) -> list[Problem]:
    cols = mapping.columns
    if cols.created is None:
        return []
    stamps = raw.dropna(subset=["created"])
    first = stamps.groupby("id")["created"].transform("first")
    created = raw.groupby("id")["created"].transform("min")
    return _problems(
        stamps[stamps["created"] != first],
        cols.created,
        lambda r: f"opportunity {r['id']!r} has another create date on an earlier row",
        csv,
    ) + _problems(
        raw[raw["entered"] < created].assign(created=created),
        str(cols.entered),
        lambda r: (
            f"{_day(r['entered'])} is before the create date {_day(r['created'])} ({cols.created})"
        ),
        csv,
    )


@dataclass(frozen=True, eq=False)
class _View:
    opportunities: pd.DataFrame
    history: pd.DataFrame
    repairs: tuple[Repair, ...]


@dataclass(frozen=True, eq=False)
class CrmExport:
    """A CRM export read and checked: tables as of any date, with their repair logs."""

    path: Path
    mapping: CrmMapping
    rows: int
    """Data rows in the export file."""
    _raw: pd.DataFrame = field(repr=False)
    _joined: tuple[_Joined, ...] = field(repr=False)
    _file_repairs: tuple[Repair, ...] = field(repr=False)
    _origin: dict[int, int] = field(repr=False)
    _views: dict[pd.Timestamp | None, _View] = field(default_factory=dict, repr=False)

    def opportunities(self, as_of: dt.date | str | None = None) -> pd.DataFrame:
        """One row per opportunity (:data:`OPPORTUNITY_COLUMNS`), as known at the end of
        ``as_of`` (None: everything in the export)."""
        return self._view(as_of).opportunities.copy()

    def history(self, as_of: dt.date | str | None = None) -> pd.DataFrame:
        """One row per stage entered (:data:`HISTORY_COLUMNS`), as known at ``as_of``. Shape
        ``opportunities`` gives each dated deal its create date (entering the mapping's
        ``created_stage``) and its close."""
        return self._view(as_of).history.copy()

    def open_pipeline(self, as_of: dt.date) -> OpenPipeline:
        """The deals open at the end of ``as_of`` as the export knew them, ready to forecast
        from (:mod:`kamsim.pipeline`): stage from the mapping (a stage kamsim has no open stage
        for counts as the first), age in days from the day it entered that stage (a history's
        last entry, else the create date), value and grade left to the scenario."""
        from kamsim.pipeline import OPEN_STAGES, OpenDeal, OpenPipeline

        table = self.opportunities(as_of)
        table = table[table["outcome"] == "open"]
        entered = table["created"]
        if self.mapping.shape == "history":
            last = self.history(as_of).groupby("id")["entered"].max()
            entered = table["id"].map(last).fillna(entered)
        ages = ((pd.Timestamp(as_of) - entered).dt.days.clip(lower=0)).to_numpy(float)
        deals = []
        for deal_id, crm_stage, age in zip(table["id"], table["stage"], ages, strict=True):
            stage = str(crm_stage)
            if stage not in OPEN_STAGES:
                stage = OPEN_STAGES[0]
            deals.append(OpenDeal(str(deal_id), stage, float(age)))
        return OpenPipeline(as_of, tuple(deals), source=self.path.name)

    def repairs(self, as_of: dt.date | str | None = None) -> list[Repair]:
        """The repairs behind :meth:`opportunities` at ``as_of``, one per rule and value."""
        return list(self._view(as_of).repairs)

    def report(self, as_of: dt.date | str | None = None) -> str:
        """What was read, as text: counts, date ranges, recorded and pass-through stages, then
        the repair log."""
        table = self.opportunities(as_of)
        outcomes = table["outcome"].value_counts()
        counts = ", ".join(f"{k} {int(outcomes.get(k, 0))}" for k in OUTCOME_CATEGORIES)
        name = self.mapping.path.stem if self.mapping.path else "(in Python)"
        lines = [
            f"{self.path.name}: {self.rows} rows, mapping {name} (shape {self.mapping.shape})"
            + (f", as of {as_of}" if as_of is not None else ""),
            f"  opportunities: {len(table)} ({counts}), undated {int(table['undated'].sum())}",
        ]
        for column in ("created", "closed"):
            stamps = table[column].dropna()
            if len(stamps):
                lines.append(f"  {column}: {stamps.min():%Y-%m-%d} .. {stamps.max():%Y-%m-%d}")
        lines.append(
            f"  stages recorded: {', '.join(self.mapping.recorded) or 'none'}; "
            f"pass-through: {', '.join(self.mapping.pass_through) or 'none'}"
        )
        return "\n".join([*lines, format_repairs(self.repairs(as_of))])

    def _view(self, as_of: dt.date | str | None) -> _View:
        cutoff = _cutoff(as_of)
        if cutoff not in self._views:
            self._views[cutoff] = _build_view(self, cutoff, as_of)
        return self._views[cutoff]


def read_crm(
    path: str | os.PathLike[str], mapping: str | os.PathLike[str] | CrmMapping | None = None
) -> CrmExport:
    """Read a CRM export with ``mapping`` (a :class:`~kamsim.crm_mapping.CrmMapping`, a file,
    a bundled mapping's name, or None for the default ``maven``).

    Every fatal problem of the export, its joined files and the mapping is raised at once as
    one :class:`~kamsim.errors.ScenarioError`; repairs are logged, never raised."""
    if not isinstance(path, str | os.PathLike):
        raise ValueError(f"path: expected a file path, not {type(path).__name__}")
    spec = mapping if isinstance(mapping, CrmMapping) else load_mapping(mapping)
    file = Path(path)
    csv = read_csv(file)
    cols = spec.columns
    wanted = [(f"columns.{k}", c) for k, c in cols.model_dump().items() if c is not None]
    problems = _columns_present(csv, wanted, spec)
    joined: list[_Joined] = []
    for kind, _ in _JOINS:
        join = getattr(spec, kind)
        if join is None:
            continue
        try:
            joined.append(_read_joined(kind, join, file.parent, spec))
        except ScenarioError as err:
            problems += err.problems
    if problems:
        raise ScenarioError(problems)
    raw, repairs, dropped = _main_rows(csv, spec)
    origin = {int(line): int(line) for line in raw["line"]} | dropped
    return CrmExport(file, spec, len(csv.rows), raw, tuple(joined), tuple(repairs), origin)


# -- tables as of a date ---------------------------------------------------------------------


def _build_view(export: CrmExport, cutoff: pd.Timestamp | None, as_of: object) -> _View:
    mapping = export.mapping
    name = export.path.name
    if mapping.shape == "opportunities":
        table, history, repairs = _opportunities_view(export._raw, mapping, name, cutoff, as_of)
    else:
        table, history, repairs = _history_view(export._raw, mapping, name, cutoff, as_of)
    used = set(history["line"].tolist()) | set(table["line"].tolist())
    allowed = {line for line, first in export._origin.items() if first in used}
    kept = [r if r.rule == "blank-rows" else r.within(allowed) for r in export._file_repairs]
    table, joined = _categories(table, export)
    log = [r for r in kept if r is not None]
    for j in export._joined:
        log += j.repairs
    return _View(table, history, (*log, *joined, *repairs))


def _lines(frame: pd.DataFrame, mask: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in frame.loc[mask, "line"])


def _opportunities_view(
    raw: pd.DataFrame, mapping: CrmMapping, file: str, cutoff: pd.Timestamp | None, as_of: object
) -> tuple[pd.DataFrame, pd.DataFrame, list[Repair]]:
    cols = mapping.columns
    assert cols.closed is not None and cols.created is not None
    at_creation = mapping.stage_at_creation
    t = raw.copy()
    repairs: list[Repair] = []
    is_open = ~t["target"].isin(("won", "lost"))
    t["expected"] = is_open & t["closed"].notna()
    t.loc[is_open, "closed"] = pd.NaT
    t["outcome"] = t["target"].where(~is_open, "open")
    t["stage"] = t["target"].where(is_open, at_creation)
    t["undated"] = t["created"].isna()
    if cutoff is not None:
        later = t["created"] >= cutoff
        dropped, undated = int(later.sum()), int(t["undated"].sum())
        t = t[~t["undated"] & ~later].copy()
        if dropped or undated:
            message = f"{dropped} deals created after {as_of} and {undated} undated deals left out"
            repairs.append(Repair("as-of", file, cols.created, message))
    opens = t["outcome"] == "open"
    for rule, mask, message in (
        ("open-close-date", opens & t["expected"], "date on an open deal: cleared"),
        ("open-no-close", opens & ~t["expected"], "empty on an open deal (expected)"),
    ):
        if mask.any():
            repairs.append(Repair(rule, file, cols.closed, message, _lines(t, mask)))
    if cutoff is not None:
        reopened = t["closed"] >= cutoff
        if reopened.any():
            message = f"closed after {as_of}: still open"
            repairs.append(Repair("as-of", file, cols.closed, message, _lines(t, reopened)))
        t.loc[reopened, "outcome"] = "open"
        t.loc[reopened, "closed"] = pd.NaT
        opens = t["outcome"] == "open"
        # The export holds today's stage and value of an open deal, not those at the date.
        t.loc[opens, "stage"] = at_creation
        t.loc[opens, "value"] = math.nan
    repairs += _value_repairs(t, mapping, file)
    if cutoff is None and t["undated"].any():
        undated_rows = t[t["undated"]]
        by_stage = undated_rows["crm_stage"].value_counts()
        which = ", ".join(f"{k}: {v}" for k, v in by_stage.items())
        repairs.append(
            Repair(
                "undated",
                file,
                cols.created,
                f"empty ({which}): kept, flagged undated, left out of as-of tables",
                _lines(t, t["undated"]),
            )
        )
    history = _derived_history(t, mapping)
    return t, history, repairs


def _value_repairs(t: pd.DataFrame, mapping: CrmMapping, file: str) -> list[Repair]:
    column = mapping.columns.value
    if column is None:
        return []
    repairs = []
    zero = (t["outcome"] == "lost") & (t["value"] == 0)
    if zero.any():
        repairs.append(
            Repair(
                "zero-value-lost", file, column, "0 on a lost deal: unknown (NaN)", _lines(t, zero)
            )
        )
        t.loc[zero, "value"] = math.nan
    none = t["outcome"].isin(("won", "lost")) & t["value"].isna() & ~zero
    if none.any():
        repairs.append(
            Repair(
                "no-value", file, column, "empty on a closed deal: unknown (NaN)", _lines(t, none)
            )
        )
    return repairs


def _derived_history(t: pd.DataFrame, mapping: CrmMapping) -> pd.DataFrame:
    """Shape ``opportunities``: each dated deal enters ``created_stage`` when created, and
    ``won``/``lost`` when closed."""
    dated = t[t["created"].notna()]
    start = pd.DataFrame(
        {
            "id": dated["id"],
            "stage": mapping.stage_at_creation,
            "crm_stage": None,
            "entered": dated["created"],
            "line": dated["line"],
        }
    )
    done = t[t["closed"].notna()]
    end = pd.DataFrame(
        {
            "id": done["id"],
            "stage": done["outcome"],
            "crm_stage": done["crm_stage"],
            "entered": done["closed"],
            "line": done["line"],
        }
    )
    both = pd.concat([start, end], ignore_index=True)
    return _typed_history(both.sort_values(["entered", "line"], kind="stable"))


def _history_view(
    raw: pd.DataFrame, mapping: CrmMapping, file: str, cutoff: pd.Timestamp | None, as_of: object
) -> tuple[pd.DataFrame, pd.DataFrame, list[Repair]]:
    cols = mapping.columns
    assert cols.entered is not None
    repairs: list[Repair] = []
    r = raw.copy()
    created = r.groupby("id")["created"].transform("min")
    dated_row = r["entered"].notna()
    has_dated = dated_row.groupby(r["id"]).transform("any")
    if cutoff is not None:
        known = dated_row & (r["entered"] < cutoff)
        exists = (created < cutoff) | known.groupby(r["id"]).transform("any")
        later = int(r.loc[~exists, "id"].nunique())
        if later:
            repairs.append(
                Repair(
                    "as-of",
                    file,
                    cols.entered,
                    f"{later} deals created after {as_of} or undated left out",
                )
            )
        rows = r[known]
        ids = r.loc[exists, "id"].drop_duplicates()
    else:
        loose = ~dated_row & has_dated
        if loose.any():
            repairs.append(
                Repair(
                    "undated-history", file, cols.entered, "empty: entry dropped", _lines(r, loose)
                )
            )
        rows = r[dated_row | ~has_dated]
        ids = r["id"].drop_duplicates()
    rows = rows.sort_values(["id", "entered", "line"], na_position="last", kind="stable")
    t = _aggregate(rows, r, ids)
    if cutoff is not None:
        is_open = t["outcome"] == "open"
        reopened_ids = set(r.loc[r["entered"] >= cutoff, "id"]) & set(t.loc[is_open, "id"])
        if reopened_ids:
            mask = t["id"].isin(reopened_ids)
            repairs.append(
                Repair(
                    "as-of", file, cols.entered, f"entries after {as_of} ignored", _lines(t, mask)
                )
            )
    repairs += _value_repairs(t, mapping, file)
    if cutoff is None and t["undated"].any():
        repairs.append(
            Repair(
                "undated",
                file,
                cols.entered,
                "no time on any entry: kept, flagged undated, left out of as-of tables",
                _lines(r, r["id"].isin(set(t.loc[t["undated"], "id"]))),
            )
        )
    dated = rows[rows["entered"].notna()]
    history = dated.rename(columns={"target": "stage"})[list(HISTORY_COLUMNS)]
    return t, _typed_history(history.sort_values(["entered", "line"], kind="stable")), repairs


def _aggregate(rows: pd.DataFrame, raw: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """One row per opportunity in ``ids`` from its stage entries ``rows`` (sorted): the last
    entry decides its outcome, the last stage entered is its stage, and value, owner, account
    and product are the last ones given. Created: the create date column, else the first
    entry."""
    index = pd.Index(ids.to_numpy(), name="id")
    g = rows.groupby("id", sort=False)
    last = g.tail(1).set_index("id")
    target = last["target"].reindex(index)
    closing = target.isin(("won", "lost"))
    in_stage = rows[rows["target"].isin(STAGES)].groupby("id", sort=False)["target"].last()
    text = rows[["id", "owner", "account", "product"]].replace("", None)
    named = text.groupby("id", sort=False).last()
    given = raw.groupby("id", sort=False)["created"].min().reindex(index)
    out = pd.DataFrame(index=index)
    out["id"] = index
    out["stage"] = in_stage.reindex(index)
    out["outcome"] = target.where(closing, "open")
    out["closed"] = last["entered"].reindex(index).where(closing)
    out["created"] = given.combine_first(g["entered"].min().reindex(index))
    out["undated"] = out["created"].isna()
    out["value"] = g["value"].last().reindex(index)
    for column in ("owner", "account", "product"):
        out[column] = named[column].reindex(index).fillna("")
    out["crm_stage"] = last["crm_stage"].reindex(index)
    first_line = raw.groupby("id", sort=False)["line"].min().reindex(index)
    out["line"] = last["line"].reindex(index).combine_first(first_line).astype(np.int64)
    return out.reset_index(drop=True)


def _typed_history(history: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": history["id"].astype("string").to_numpy(),
            "stage": pd.Categorical(history["stage"], categories=TARGETS),
            "crm_stage": history["crm_stage"].astype("string").to_numpy(),
            "entered": history["entered"].to_numpy(),
            "line": history["line"].to_numpy(dtype=np.int64),
        }
    ).reset_index(drop=True)


# -- categories and joins --------------------------------------------------------------------


def _categories(t: pd.DataFrame, export: CrmExport) -> tuple[pd.DataFrame, list[Repair]]:
    """Owner, account and product repaired against the joined files and the vocabulary, the
    joined attributes added, and the table typed."""
    mapping = export.mapping
    file = export.path.name
    lines = t["line"].tolist()
    repairs: list[Repair] = []
    joined = {j.kind: j for j in export._joined}
    out: dict[str, Any] = {"id": t["id"].astype("string").to_numpy()}
    attributes: dict[str, Any] = {}
    for kind, name in _JOINS:
        column = getattr(mapping.columns, name)
        values = ["" if pd.isna(v) else str(v) for v in t[name]]
        join = joined.get(kind)
        if column is not None:
            keys = list(join.rows) if join else []
            known = keys + list(mapping.vocabulary.get(name, []))  # type: ignore[call-overload]
            against = join.file if join else "the mapping's vocabulary"
            values, fixed = repair_column(
                values, lines, known, mapping.repair.cutoff, file, column, against
            )
            repairs += fixed
            empty = [line for v, line in zip(values, lines, strict=True) if not v]
            if empty:
                repairs.append(Repair("empty", file, column, "empty: left unknown", tuple(empty)))
        for attribute in _ATTRIBUTES[kind]:
            attributes[attribute] = [None] * len(values)
        if join is not None and column is not None:
            missing: dict[str, list[int]] = defaultdict(list)
            for i, v in enumerate(values):
                if not v:
                    continue
                found = join.rows.get(v)
                if found is None:
                    missing[v].append(lines[i])
                    continue
                for attribute, x in found.items():
                    attributes[attribute][i] = x
            if missing:
                some = ", ".join(repr(v) for v in list(missing)[:5]) + (
                    ", ..." if len(missing) > 5 else ""
                )
                where = tuple(sorted(x for ls in missing.values() for x in ls))
                repairs.append(
                    Repair(
                        "not-in-file",
                        file,
                        column,
                        f"{len(missing)} names not in {join.file} ({some}): joined columns empty",
                        where,
                    )
                )
        out[name] = pd.array([v or None for v in values], dtype="string")
    for attribute in ("team", "manager", "sector", "series"):
        out[attribute] = pd.array(attributes[attribute], dtype="string")
    out["price"] = pd.array(
        [math.nan if x is None else float(x) for x in attributes["price"]], dtype="float64"
    )
    out["stage"] = pd.Categorical(t["stage"].where(t["stage"].isin(STAGES)), categories=STAGES)
    out["outcome"] = pd.Categorical(t["outcome"], categories=OUTCOME_CATEGORIES)
    out["created"] = t["created"].to_numpy()
    out["closed"] = t["closed"].to_numpy()
    out["value"] = t["value"].to_numpy(dtype=float)
    out["undated"] = (
        t["undated"].to_numpy(dtype=bool) if "undated" in t else t["created"].isna().to_numpy()
    )
    out["line"] = t["line"].to_numpy(dtype=np.int64)
    table = pd.DataFrame(out)[list(OPPORTUNITY_COLUMNS)]
    return table, repairs
