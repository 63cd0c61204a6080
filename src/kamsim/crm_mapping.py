"""The mapping file of a CRM export: which columns hold what, and which CRM stage is which.

A CRM names its columns and stages its own way; kamsim needs ids, dates, outcomes, values and
its six stage keys. A mapping is a small TOML file (``docs/crm.md`` lists every key) that says
how one export's shape translates. Two are bundled (:func:`bundled_mappings`): ``maven``, the
default, for the public Maven Analytics sample's one-row-per-opportunity shape, and
``stage-history`` for a stage history as CRMs export it.

A kamsim stage that no CRM stage maps to is *pass-through* (:attr:`CrmMapping.pass_through`):
the CRM does not record it, so a calibration gives it zero duration and pass probability 1
rather than the handbook's durations. Mistakes in a mapping (an unknown key, an unknown stage,
a column a shape needs left out) raise :class:`~kamsim.errors.ScenarioError` naming the key
and its line in the mapping file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from kamsim.errors import Problem, ScenarioError, check_depth, problems_from_validation
from kamsim.vocabulary import STAGES, StageKey

DEFAULT_MAPPING = "maven"
"""The bundled mapping used when none is named."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Target = Literal[  # a kamsim stage (an open deal in it), or the deal closed: won or lost
    "development", "approval", "proposal", "tender", "negotiation", "implementation", "won", "lost"
]


class _Table(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True
    )


class Columns(_Table):
    """The export's column for each thing kamsim reads (absent: not in this export)."""

    id: Name | None = None
    """The opportunity id (required)."""
    stage: Name | None = None
    """The CRM stage (required): an open deal's current stage or its outcome (shape
    ``opportunities``), the stage entered (shape ``history``)."""
    created: Name | None = None
    """The date the opportunity was created or engaged (required for ``opportunities``)."""
    closed: Name | None = None
    """The date it was won or lost (required for ``opportunities``)."""
    entered: Name | None = None
    """The time the stage was entered (required for ``history``)."""
    value: Name | None = None
    """The deal's value."""
    owner: Name | None = None
    """The account manager owning the deal."""
    account: Name | None = None
    """The customer account."""
    product: Name | None = None
    """The product or segment."""


class Join(_Table):
    """A file beside the export that adds columns by a key (read relative to the export)."""

    file: Name
    """The file name, in the export's folder."""
    key: Name
    """Its column matched against the export's column of the same kind."""


class Accounts(Join):
    """Accounts: adds the account's sector."""

    sector: Name | None = None


class Products(Join):
    """Products: adds the product's series and list price."""

    series: Name | None = None
    price: Name | None = None


class Owners(Join):
    """Account managers: adds the owner's team and manager."""

    team: Name | None = None
    manager: Name | None = None


class Repairs(_Table):
    """How far repairs may go."""

    cutoff: Annotated[float, Field(ge=0.5, le=1.0)] = 0.8
    """Least similarity (difflib's ratio, ignoring spaces, case and punctuation) at which a
    category value is taken as a misspelling of a known one."""


REQUIRED: dict[str, tuple[str, ...]] = {
    "opportunities": ("id", "stage", "created", "closed"),
    "history": ("id", "stage", "entered"),
}
"""The columns each shape needs."""
UNUSED: dict[str, tuple[str, ...]] = {"opportunities": ("entered",), "history": ("closed",)}
"""Columns a shape has no use for: naming one is a mistake."""


def normalise(text: str) -> str:
    """A name without spaces, case or punctuation: ``"GTX Pro"`` and ``"GTXPro"`` agree."""
    return "".join(c for c in text.casefold() if c.isalnum())


class CrmMapping(_Table):
    """One export's shape: its columns, its stages, the files it joins and its vocabulary."""

    shape: Literal["opportunities", "history"] = "opportunities"
    """``opportunities``: one row per opportunity; ``history``: one row per stage entered."""
    date_format: Name | None = None
    """A ``strftime`` format such as ``%m/%d/%Y`` (absent: ISO 8601 dates and times)."""
    created_stage: StageKey | None = None
    """Shape ``opportunities``: the kamsim stage a deal is in from its create date until it
    closes (absent: the latest stage a CRM stage maps to)."""
    columns: Columns
    stages: Annotated[dict[Name, Target], Field(min_length=1, max_length=1000)]
    """CRM stage -> kamsim stage (an open deal in it) or ``won``/``lost``."""
    accounts: Accounts | None = None
    products: Products | None = None
    owners: Owners | None = None
    vocabulary: dict[
        Literal["owner", "account", "product", "sector", "series", "team", "manager"],
        Annotated[list[Name], Field(max_length=10_000)],
    ] = Field(default_factory=dict)
    """Known spellings of a category column; values close to one are repaired to it."""
    repair: Repairs = Repairs()

    _path: Path | None = PrivateAttr(default=None)
    _text: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        for name in REQUIRED[self.shape]:
            if getattr(self.columns, name) is None:
                problems.append(f"columns.{name}: required for shape {self.shape!r}")
        for name in UNUSED[self.shape]:
            if getattr(self.columns, name) is not None:
                problems.append(f"columns.{name}: not used by shape {self.shape!r}; remove it")
        for join, column in (("accounts", "account"), ("products", "product"), ("owners", "owner")):
            if getattr(self, join) is not None and getattr(self.columns, column) is None:
                problems.append(f"{join}: needs columns.{column} to join on")
        seen: dict[str, str] = {}
        for key in self.stages:
            other = seen.setdefault(normalise(key), key)
            if other != key:
                problems.append(f"stages: {other!r} and {key!r} differ only in spaces or case")
        if self.date_format is not None and not _valid_format(self.date_format):
            problems.append(f"date_format: {self.date_format!r} is not a strftime date format")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def recorded(self) -> tuple[StageKey, ...]:
        """The kamsim stages some CRM stage maps to, in stage order."""
        targets = set(self.stages.values())
        return tuple(s for s in STAGES if s in targets)

    @property
    def pass_through(self) -> tuple[StageKey, ...]:
        """The kamsim stages the CRM does not record: zero duration and pass probability 1."""
        return tuple(s for s in STAGES if s not in self.recorded)

    @property
    def stage_at_creation(self) -> StageKey | None:
        """The stage a deal of shape ``opportunities`` is in from creation until it closes."""
        if self.created_stage is not None:
            return self.created_stage
        return self.recorded[-1] if self.recorded else None

    @property
    def path(self) -> Path | None:
        """The file the mapping was read from (None when built in Python)."""
        return self._path

    def line(self, where: str) -> int | None:
        """The line of the mapping file that sets the dotted key ``where``, if found."""
        return find_key_line(self._text, where)

    def problem(self, where: str, message: str) -> Problem:
        """A problem with the mapping's key ``where``, placed at its file line."""
        file = str(self._path) if self._path is not None else "mapping"
        return Problem(where, message, file, self.line(where))

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate parsed TOML; problems raise :class:`~kamsim.errors.ScenarioError`."""
        check_depth(obj)
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as err:
            raise ScenarioError(problems_from_validation(err)) from None


def _valid_format(fmt: str) -> bool:
    """Whether ``fmt`` holds a date directive and formats a date."""
    if not re.search(r"%[dmyYbBj]", fmt):
        return False
    try:
        dt.date(2001, 2, 3).strftime(fmt)
    except ValueError:
        return False
    return True


def _bare(text: str) -> str:
    return "".join(p.strip().strip("\"'") for p in text.split("."))


def find_key_line(text: str, where: str) -> int | None:
    """Best-effort line of the dotted key ``where`` in TOML ``text``: the key under its table
    header, else the header itself."""
    if not where:
        return None
    target = _bare(where)
    table = ""
    header_line = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.match(r"^\[+([^\]]+)\]+\s*(#.*)?$", line)
        if header:
            table = _bare(header.group(1))
            if table == target and header_line is None:
                header_line = number
            continue
        key = re.match(r'^("[^"]*"|\'[^\']*\'|[^=]+?)\s*=', line)
        if key and _bare(table + "." + key.group(1) if table else key.group(1)) == target:
            return number
    return header_line


def bundled_mappings() -> dict[str, Path]:
    """The mappings shipped with kamsim, by name (``"maven"``, ``"stage-history"``)."""
    folder = Path(str(resources.files("kamsim"))) / "crm_maps"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def mapping_path(name_or_path: str | os.PathLike[str] | None) -> Path:
    """A mapping file: the path itself when it exists, else the bundled mapping of that name
    (None: the default, ``maven``)."""
    if name_or_path is None:
        return bundled_mappings()[DEFAULT_MAPPING]
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    bundled = bundled_mappings()
    stem = path.stem if path.suffix == ".toml" else path.name
    if stem in bundled:
        return bundled[stem]
    known = ", ".join(bundled)
    raise ScenarioError(
        [Problem("", f"file not found, and no bundled mapping of that name ({known})", str(path))]
    )


def load_mapping(name_or_path: str | os.PathLike[str] | None = None) -> CrmMapping:
    """Read and validate a mapping file, or a bundled mapping by name (None: ``maven``).

    Raises :class:`~kamsim.errors.ScenarioError` naming each problem's key and line."""
    if name_or_path is not None and not isinstance(name_or_path, str | os.PathLike):
        raise ValueError(f"mapping: expected a file path, not {type(name_or_path).__name__}")
    path = mapping_path(name_or_path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "file not found", file)]) from None
    except OSError as err:
        raise ScenarioError([Problem("", f"cannot read: {err.strerror or err}", file)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError([Problem("", "not UTF-8 text", file)]) from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ScenarioError([Problem("", "tables nested too deeply", file)]) from None
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"\(at line (\d+)", str(err))
        message = re.sub(r"\s*\(at [^)]*\)", "", str(err))
        raise ScenarioError(
            [Problem("", f"TOML syntax error: {message}", file, int(line[1]) if line else None)]
        ) from None
    if not data:
        raise ScenarioError([Problem("", "mapping is empty", file)])
    try:
        mapping = CrmMapping.model_validate(data)
    except ScenarioError as err:
        raise ScenarioError(
            [Problem(p.where, p.message, file, find_key_line(text, p.where)) for p in err.problems]
        ) from None
    mapping._path = path
    mapping._text = text
    return mapping
