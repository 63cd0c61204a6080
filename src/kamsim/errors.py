"""User-facing problems: one readable line each, naming the dotted field and file line.

Everything that can go wrong with user input (a scenario file, an override, an option) ends as
a :class:`ScenarioError` holding :class:`Problem` lines; the CLI prints them and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kamsim.distributions import DISTRIBUTION_TAGS


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where (dotted field path or file), what, and the file line if known."""

    where: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        place = ""
        if self.file is not None:
            place = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        text = f"{place}{self.where}: {self.message}" if self.where else f"{place}{self.message}"
        return _one_line(text)


def _one_line(text: str) -> str:
    """Control characters (a newline typed into ``--set``) shown escaped: one problem, one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ScenarioError(Exception):
    """Invalid user input; ``problems`` lists every problem found, one line each."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[list[Problem]]]:
        """Pickle by the problems, so the error crosses to and from worker processes whole."""
        return (type(self), (self.problems,))


MAX_DEPTH = 32
"""Deepest nesting of tables and arrays in a scenario (the real schema needs five)."""


def check_depth(obj: Any, where: str = "") -> None:
    """Refuse data nested deeper than ``MAX_DEPTH`` before anything recurses into it."""
    stack: list[tuple[Any, str, int]] = [(obj, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ScenarioError([Problem(path, f"nested more than {MAX_DEPTH} levels deep")])
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, path, depth + 1) for v in node)


def dotted_location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        text = str(part)
        # Discriminated unions add the tag ("lognormal") to the location: not a user key.
        if (text in DISTRIBUTION_TAGS or text in ("number", "distribution")) and parts:
            continue
        if text.startswith(("function-after[", "function-before[", "function-wrap[")):
            continue
        if text == "[key]":
            continue
        parts.append(text)
    return ".".join(parts)


def problems_from_validation(err: ValidationError) -> list[Problem]:
    """Flatten pydantic errors into problems; multi-line messages become several problems."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for e in err.errors(include_url=False):
        base = dotted_location(tuple(e["loc"]))
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        for line in msg.split("\n"):
            where = base
            if ": " in line and (not base or line.split(": ", 1)[0].count(" ") == 0):
                head, line = line.split(": ", 1)
                where = f"{base}.{head}" if base else head
            key = (where, line)
            if key not in seen:
                seen.add(key)
                problems.append(Problem(where, line))
    return problems
