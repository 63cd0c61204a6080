"""Deals already open in the pipeline: the starting state of a forecast.

An :class:`OpenPipeline` is what the company knows on its as-of date: each open deal
(:class:`OpenDeal`) with the stage it is in, the days it has spent there (its age), its value
or grade and, if known, its account and owner. ``kamsim.simulate``, ``kamsim.run`` and
``kamsim.experiment.experiment`` take it as ``pipeline=``; ``kamsim forecast`` reads it from a
CSV file (:func:`read_pipeline`).

How the engine starts from it (``docs/forecast.md`` has the full story):

- **When.** The deals are placed on the as-of date, day ``(as_of - calendar.start)`` of the run
  (0 when the scenario starts on the as-of date). ``kamsim forecast`` starts the calendar on the
  first of the as-of's month, so that month and quarter ends fall where the calendar has them.
  New leads arrive as usual from the as-of date on; those the arrival process would have
  brought before it are not simulated (if still open, they are in the pipeline).
- **Where.** Each deal resumes its stage at the stage's work, holding its pools (and, with
  named account managers, an account manager's slot); steps that open a stage (the tender's
  bid/no-bid check, an executive visit) are taken as done. A deal in or past the executive
  engagement stage has had its visit; a deal past the proposal has its criteria shaped or not
  by the usual chance.
- **How long.** The rest of its current stage is drawn from the stage's duration conditioned
  on the age, P(T > age + t | T > age) (:func:`kamsim.distributions.conditional_remaining`);
  later stages take their ordinary durations. The age counts toward the stall clock.
- **Luck.** Every random input of open deal i is row i of blocks drawn from streams of their
  own, ``open.<purpose>`` keyed by (seed, replication): a pipeline changes no other draw, gives
  the same results whatever the number of workers, and meets the same luck in every variant.
- **Ids.** Open deal i (its position in ``deals``) has the engine id
  ``OPEN_DEAL_ID_BASE + i`` (:data:`kamsim.limits.OPEN_DEAL_ID_BASE`, 1,000,000,000), above
  every new and follow-on lead's id; :meth:`OpenPipeline.deal_of` maps it back. Open deals
  bring no follow-on leads.
- **Unknowns.** A missing grade is drawn with the scenario's grade shares, a missing value
  from the grade's value distribution, a missing account uniformly among the grade's accounts;
  margins are always drawn.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, cast

from kamsim.errors import Problem, ScenarioError
from kamsim.limits import MAX_DAYS, MAX_MONEY, MAX_OPEN_DEALS, OPEN_DEAL_ID_BASE
from kamsim.vocabulary import GRADES, STAGES, GradeKey, StageKey

if TYPE_CHECKING:
    from kamsim.scenario import Scenario

OPEN_STAGES: Final[tuple[StageKey, ...]] = STAGES[:-1]
"""The stages an open deal can be in: those before signing. A deal in implementation is
already won (signed) and is not part of the open pipeline."""

REQUIRED_COLUMNS: Final = ("deal_id", "stage", "entered_stage_at", "value")
"""Columns a pipeline CSV file must have."""
OPTIONAL_COLUMNS: Final = ("grade", "account", "owner")
"""Columns it may have; any other column is ignored."""
MAX_PROBLEMS: Final = 100
"""Problems listed for one file; beyond them one line says how many more there were."""


def _check_deal(deal: OpenDeal) -> list[tuple[str, str]]:
    """``(field, message)`` for every field of ``deal`` that is not valid."""
    out: list[tuple[str, str]] = []
    if not isinstance(deal.deal_id, str) or not deal.deal_id.strip():
        out.append(("deal_id", "expected a non-empty text"))
    if deal.stage not in OPEN_STAGES:
        out.append(("stage", _stage_message(deal.stage)))
    age = deal.age
    if isinstance(age, bool) or not isinstance(age, int | float) or not 0 <= age <= MAX_DAYS:
        out.append(("age", f"expected days in the stage between 0 and {MAX_DAYS:,.0f}"))
    value = deal.value
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_MONEY
    ):
        out.append(("value", f"expected an amount between 0 and {MAX_MONEY:g}"))
    if deal.grade is not None and deal.grade not in GRADES:
        out.append(("grade", f"{deal.grade!r} is not a grade ({', '.join(GRADES)})"))
    for name in ("account", "owner"):
        text = getattr(deal, name)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            out.append((name, "expected a non-empty text or nothing"))
    return out


def _stage_message(stage: object) -> str:
    if stage == STAGES[-1]:
        return (
            "a deal in implementation is already signed, not open; the open stages are "
            + ", ".join(OPEN_STAGES)
        )
    return f"{stage!r} is not an open stage ({', '.join(OPEN_STAGES)})"


@dataclass(frozen=True, slots=True)
class OpenDeal:
    """One deal open on the as-of date.

    ``deal_id``: the CRM's id (text). ``stage``: the stage it is in, one of
    :data:`OPEN_STAGES`. ``age``: days it has spent in that stage by the as-of date (>= 0).
    ``value``: its expected contract value in the scenario currency (None: drawn from its
    grade's value distribution). ``grade``: A-D (None: drawn with the scenario's shares).
    ``account``, ``owner``: names, if known (see :class:`OpenPipeline` for how they are used).
    A field out of range raises :class:`~kamsim.errors.ScenarioError`, one problem per field.
    """

    deal_id: str
    stage: StageKey
    age: float = 0.0
    value: float | None = None
    grade: GradeKey | None = None
    account: str | None = None
    owner: str | None = None

    def __post_init__(self) -> None:
        problems = _check_deal(self)
        if problems:
            raise ScenarioError(
                [Problem(f"deal {self.deal_id!r}: {name}", msg) for name, msg in problems]
            )


@dataclass(frozen=True)
class OpenPipeline:
    """The deals open on ``as_of``, in the order given (open deal i gets the engine id
    ``OPEN_DEAL_ID_BASE + i``).

    Accounts named in the pipeline are numbered within their grade in order of first
    appearance (modulo the grade's ``accounts``); with named account managers
    (``resources.account_managers.ownership``), owners are numbered in order of first
    appearance (modulo the headcount) and a deal stays with its owner while they have a free
    slot. ``source`` names the file it was read from, if any (for messages).

    Ids must be unique and at most :data:`~kamsim.limits.MAX_OPEN_DEALS` deals are allowed;
    otherwise :class:`~kamsim.errors.ScenarioError`. Whether the pipeline fits a scenario (the
    as-of date inside its calendar, grades it has) is :meth:`check`'s business.
    """

    as_of: dt.date
    deals: tuple[OpenDeal, ...] = ()
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if type(self.as_of) is not dt.date:
            raise ScenarioError([Problem("as_of", "expected a date, e.g. 2027-01-01")])
        deals = tuple(self.deals)
        object.__setattr__(self, "deals", deals)
        problems = [
            Problem(f"deals[{i}]", f"expected an OpenDeal, not {type(d).__name__}")
            for i, d in enumerate(deals)
            if not isinstance(d, OpenDeal)
        ]
        if len(deals) > MAX_OPEN_DEALS:
            problems.append(Problem("deals", f"{len(deals):,} deals, more than {MAX_OPEN_DEALS:,}"))
        seen: dict[str, int] = {}
        for i, d in enumerate(deals):
            if isinstance(d, OpenDeal) and seen.setdefault(d.deal_id, i) != i:
                problems.append(
                    Problem(
                        f"deals[{i}]", f"deal id {d.deal_id!r} is also deals[{seen[d.deal_id]}]"
                    )
                )
        if problems:
            raise ScenarioError(problems)

    def __len__(self) -> int:
        return len(self.deals)

    def offset(self, scenario: Scenario) -> float:
        """Days from the scenario's ``calendar.start`` to the as-of date: when the deals are
        placed (day 0 when the scenario starts on the as-of date)."""
        return float((self.as_of - scenario.calendar.start).days)

    def problems(self, scenario: Scenario) -> list[Problem]:
        """What keeps this pipeline from starting a run of ``scenario``: an as-of date outside
        the calendar (before its start, or at or after its horizon) and grades the scenario
        does not have."""
        out: list[Problem] = []
        cal = scenario.calendar
        at = self.offset(scenario)
        if at < 0:
            out.append(
                Problem("as_of", f"{self.as_of} is before the scenario's start ({cal.start})")
            )
        elif at >= cal.horizon_days:
            end = cal.start + dt.timedelta(days=cal.horizon_days)
            out.append(
                Problem("as_of", f"{self.as_of} is not before the scenario's horizon ends ({end})")
            )
        grades = set(scenario.grades)
        for d in self.deals:
            if d.grade is not None and d.grade not in grades:
                out.append(
                    Problem(
                        f"deal {d.deal_id!r}: grade",
                        f"the scenario has no grade {d.grade} ({', '.join(sorted(grades))})",
                    )
                )
        return out

    def check(self, scenario: Scenario) -> float:
        """The as-of date's offset in ``scenario`` (:meth:`offset`), or
        :class:`~kamsim.errors.ScenarioError` listing :meth:`problems`."""
        problems = self.problems(scenario)
        if problems:
            raise ScenarioError(problems)
        return self.offset(scenario)

    def deal_of(self, deal_id: int) -> OpenDeal:
        """The open deal behind an engine deal id (``OPEN_DEAL_ID_BASE + i``)."""
        i = deal_id - OPEN_DEAL_ID_BASE
        if not 0 <= i < len(self.deals):
            raise ValueError(f"deal id {deal_id} is not one of this pipeline's deals")
        return self.deals[i]

    def digest(self) -> str:
        """A short hash of the pipeline's content (as-of date and every deal), for manifests."""
        h = hashlib.sha256(self.as_of.isoformat().encode())
        for d in self.deals:
            h.update(repr(tuple(getattr(d, f) for f in OpenDeal.__slots__)).encode())
        return h.hexdigest()[:16]


# -- reading a CSV file ----------------------------------------------------------------------


def _parse_date(text: str) -> dt.date | None:
    """An ISO date, or the date of an ISO date-time (``2017-03-15T10:00:00``)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _parse_value(text: str) -> tuple[float | None, str | None]:
    try:
        x = float(text.replace("_", "x"))  # no Python digit separators in a file
    except ValueError:
        return None, f"{text!r} is not a number"
    if not math.isfinite(x):
        return None, f"{text!r} is not a finite amount"
    if x < 0:
        return None, f"{text} is negative: a value is at least 0"
    if x > MAX_MONEY:
        return None, f"{text} is above the largest value, {MAX_MONEY:g}"
    return x, None


def read_pipeline(
    path: str | os.PathLike[str],
    as_of: dt.date,
    scenario: Scenario | None = None,
) -> OpenPipeline:
    """The open pipeline in a CSV file, as it stood on ``as_of``.

    Columns (a header row first, UTF-8, any order): ``deal_id``, ``stage`` (one of
    :data:`OPEN_STAGES`), ``entered_stage_at`` (the ISO date the deal entered its stage; the
    age is ``as_of`` minus it, in days) and ``value`` (empty: drawn from the grade's values);
    optionally ``grade`` (A-D; empty or absent: drawn), ``account`` and ``owner``. Other
    columns are ignored, blank lines skipped. A header without rows is an empty pipeline.

    Every problem is collected and raised as one :class:`~kamsim.errors.ScenarioError`, one
    :class:`~kamsim.errors.Problem` per cell or column naming the file, the column and the
    1-based line (the header is line 1): a missing file, an empty or binary file, missing
    or repeated columns, a row with too many or too few fields, an empty or repeated deal id,
    an unknown stage, an unparseable date or one after ``as_of``, a value that is not a
    number or is negative, a grade that is not A-D (or, given ``scenario``, not one of its
    grades), more than :data:`~kamsim.limits.MAX_OPEN_DEALS` deals. At most
    :data:`MAX_PROBLEMS` are listed.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "file not found", name)]) from None
    except OSError as err:
        raise ScenarioError([Problem("", f"cannot read: {err.strerror or err}", name)]) from None
    if b"\x00" in raw:
        raise ScenarioError([Problem("", "a binary file, not CSV text", name)])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            [Problem("", f"not UTF-8 text (byte {err.start + 1} of the file)", name)]
        ) from None
    if not text.strip():
        raise ScenarioError([Problem("", "the file is empty: expected a header and rows", name)])
    grades: set[str] | None = None if scenario is None else set(scenario.grades)
    reader = _Rows(name, as_of, grades)
    deals = reader.read(text)
    if reader.problems:
        raise ScenarioError(reader.capped())
    try:
        return OpenPipeline(as_of, tuple(deals), source=name)
    except ScenarioError as err:  # e.g. too many deals
        raise ScenarioError([Problem(p.where, p.message, name) for p in err.problems]) from None


class _Rows:
    """Reads the rows of one pipeline file, collecting problems."""

    def __init__(self, name: str, as_of: dt.date, grades: set[str] | None) -> None:
        self.name = name
        self.as_of = as_of
        self.grades = grades
        self.problems: list[Problem] = []

    def problem(self, column: str, message: str, line: int) -> None:
        self.problems.append(Problem(column, message, self.name, line))

    def capped(self) -> list[Problem]:
        if len(self.problems) <= MAX_PROBLEMS:
            return self.problems
        more = len(self.problems) - MAX_PROBLEMS
        return [
            *self.problems[:MAX_PROBLEMS],
            Problem("", f"... and {more:,} more problems", self.name),
        ]

    def read(self, text: str) -> list[OpenDeal]:
        reader = csv.reader(text.splitlines(keepends=True))
        line = 1
        try:
            header = next(reader)
            while not any(cell.strip() for cell in header):
                line = reader.line_num + 1
                header = next(reader)
        except StopIteration:
            self.problem("", "the file is empty: expected a header and rows", 1)
            return []
        except csv.Error as err:
            self.problem("", f"not readable as CSV: {err}", reader.line_num)
            return []
        columns = self.columns([c.strip() for c in header], line)
        if columns is None:
            return []
        deals: list[OpenDeal] = []
        first: dict[str, int] = {}
        start = reader.line_num + 1
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(deals) >= MAX_OPEN_DEALS:
                    self.problem("", f"more than {MAX_OPEN_DEALS:,} deals", line)
                    return deals
                if len(row) != len(header):
                    self.problem(
                        "",
                        f"{len(row)} field(s), but the header has {len(header)}",
                        line,
                    )
                    continue
                deal = self.deal(row, columns, line, first)
                if deal is not None:
                    deals.append(deal)
        except csv.Error as err:
            self.problem("", f"not readable as CSV: {err}", reader.line_num)
        return deals

    def columns(self, header: list[str], line: int) -> dict[str, int] | None:
        """Each known column's position, or None (after noting the problems)."""
        where: dict[str, int] = {}
        ok = True
        for i, name in enumerate(header):
            if name in where and name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
                self.problem(name, "the column appears twice", line)
                ok = False
            where.setdefault(name, i)
        for name in REQUIRED_COLUMNS:
            if name not in where:
                has = ", ".join(h for h in header if h) or "no named columns"
                self.problem(name, f"missing column (the header has: {has})", line)
                ok = False
        return where if ok else None

    def deal(
        self, row: Sequence[str], columns: dict[str, int], line: int, first: dict[str, int]
    ) -> OpenDeal | None:
        before = len(self.problems)

        def cell(name: str) -> str:
            i = columns.get(name)
            return "" if i is None else row[i].strip()

        deal_id = cell("deal_id")
        if not deal_id:
            self.problem("deal_id", "empty: every deal needs an id", line)
        elif deal_id in first:
            self.problem("deal_id", f"{deal_id!r} is also on line {first[deal_id]}", line)
        else:
            first[deal_id] = line
        stage = cell("stage")
        if stage not in OPEN_STAGES:
            self.problem("stage", _stage_message(stage) if stage else "empty", line)
        entered_text = cell("entered_stage_at")
        entered = _parse_date(entered_text) if entered_text else None
        age = 0.0
        if not entered_text:
            self.problem("entered_stage_at", "empty: expected a date, e.g. 2017-03-01", line)
        elif entered is None:
            self.problem("entered_stage_at", f"{entered_text!r} is not a date (YYYY-MM-DD)", line)
        elif entered > self.as_of:
            self.problem(
                "entered_stage_at", f"{entered} is after the as-of date {self.as_of}", line
            )
        else:
            age = float((self.as_of - entered).days)
            if age > MAX_DAYS:
                self.problem(
                    "entered_stage_at", f"{entered} is more than {MAX_DAYS:,.0f} days ago", line
                )
        value_text = cell("value")
        value, message = _parse_value(value_text) if value_text else (None, None)
        if message is not None:
            self.problem("value", message, line)
        grade = cell("grade") or None
        if grade is not None:
            if grade not in GRADES:
                self.problem("grade", f"{grade!r} is not a grade ({', '.join(GRADES)})", line)
            elif self.grades is not None and grade not in self.grades:
                has = ", ".join(sorted(self.grades))
                self.problem("grade", f"the scenario has no grade {grade} ({has})", line)
        if len(self.problems) > before:
            return None
        return OpenDeal(
            deal_id=deal_id,
            stage=cast(StageKey, stage),
            age=age,
            value=value,
            grade=cast(GradeKey | None, grade),
            account=cell("account") or None,
            owner=cell("owner") or None,
        )
