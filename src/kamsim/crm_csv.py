"""A CRM export's CSV file read as text cells, with the file line of every row.

CRM exports come from many tools: commas, semicolons or tabs, a byte-order mark, quoted
fields spanning lines. Reading with the standard library's ``csv`` keeps each row's first file
line, so every later problem can name it. A file that is not a table (missing, empty, binary,
not UTF-8, rows with more or fewer fields than the header) raises
:class:`~kamsim.errors.ScenarioError`, never a traceback.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from kamsim.errors import Problem, ScenarioError

MAX_PROBLEMS = 20
"""Problems of one kind reported one by one; beyond this, one line counts the rest."""

_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class CsvFile:
    """A CSV file's header and rows (cells with surrounding spaces stripped)."""

    path: Path
    header: tuple[str, ...]
    header_line: int
    rows: list[tuple[str, ...]]
    lines: list[int]
    """The 1-based file line on which each row starts."""
    blank: list[int]
    """Lines of blank rows, skipped."""

    @property
    def name(self) -> str:
        return str(self.path)

    def column(self, name: str) -> list[str]:
        """Every row's cell in column ``name``."""
        i = self.header.index(name)
        return [row[i] for row in self.rows]


def capped(problems: list[Problem]) -> list[Problem]:
    """At most :data:`MAX_PROBLEMS` problems, and one line saying how many more there were."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    last = problems[MAX_PROBLEMS - 1]
    more = Problem(last.where, f"... and {len(problems) - MAX_PROBLEMS} more like this", last.file)
    return [*problems[:MAX_PROBLEMS], more]


def _decode(path: Path) -> str:
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "file not found", file)]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem("", "is a folder, not a CSV file", file)]) from None
    except OSError as err:
        raise ScenarioError([Problem("", f"cannot read: {err.strerror or err}", file)]) from None
    if not raw.strip():
        raise ScenarioError([Problem("", "file is empty", file)])
    head = raw[:4096]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if b"\x00" in head or controls > len(head) // 20:
        raise ScenarioError([Problem("", "binary file, not a CSV text file", file)])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ScenarioError(
            [Problem("", "not UTF-8 text (save the export as UTF-8 CSV)", file, line)]
        ) from None


def _delimiter(text: str) -> str:
    first = text.lstrip("\r\n").split("\n", 1)[0]
    return max(_DELIMITERS, key=first.count)


def read_csv(path: Path) -> CsvFile:
    """Read ``path`` as a CSV table; :class:`~kamsim.errors.ScenarioError` when it is not one."""
    file = str(path)
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    header: tuple[str, ...] | None = None
    header_line = 0
    rows: list[tuple[str, ...]] = []
    lines: list[int] = []
    blank: list[int] = []
    ragged: list[Problem] = []
    previous = 0
    try:
        for record in reader:
            line, previous = previous + 1, reader.line_num
            cells = tuple(cell.strip() for cell in record)
            if not any(cells):
                if header is not None:
                    blank.append(line)
                continue
            if header is None:
                header, header_line = cells, line
                continue
            if len(cells) != len(header):
                ragged.append(
                    Problem(
                        "",
                        f"{len(cells)} fields, but the header (line {header_line}) "
                        f"has {len(header)}",
                        file,
                        line,
                    )
                )
                continue
            rows.append(cells)
            lines.append(line)
    except csv.Error as err:
        problem = Problem("", f"not a readable CSV file: {err}", file, previous + 1)
        raise ScenarioError([problem]) from None
    if header is None:
        raise ScenarioError([Problem("", "file is empty", file)])
    problems = capped(ragged)
    for name in sorted({h for h in header if h and header.count(h) > 1}):
        problems.append(
            Problem(name, "column appears more than once in the header", file, header_line)
        )
    if problems:
        raise ScenarioError(problems)
    return CsvFile(path, header, header_line, rows, lines, blank)
