"""Repairs of a CRM export, each logged with its rule and the file lines it touched.

A CRM export is typed by hand, by many people, over years: "GTXPro" in one file and "GTX Pro"
in another, a sector misspelled, a row pasted twice. Dropping or refusing such data would
waste most real exports, and repairing it silently would hide what was changed. So every
repair here is one :class:`Repair`: the rule (:data:`RULES`), the file and column, what was
done, and the lines affected, for the analyst to check.

Category values are repaired towards *known* spellings (the joined file's keys, a mapping's
vocabulary, the mapping's stages) and, within a column, towards a spelling used on many more
rows: first a value that differs only in spaces, case or punctuation (rule ``same-name``),
then one whose similarity (:func:`difflib.SequenceMatcher` ratio of the normalised names) is
at least the mapping's cutoff and clearly closest (rule ``misspelling``).
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kamsim.crm_mapping import normalise

RULES: dict[str, str] = {
    "blank-rows": "blank rows are skipped",
    "duplicate-rows": "an exact copy of an earlier row is dropped",
    "same-name": "a name that differs from a known or more common spelling only in spaces, "
    "case or punctuation takes that spelling",
    "misspelling": "a name close to a known spelling, or to one used on at least "
    "three times as many rows, takes that spelling",
    "not-in-file": "a name the joined file does not list keeps its value; the joined "
    "columns stay empty",
    "no-key": "a joined file's row without a key is skipped",
    "empty": "an empty category stays empty (unknown)",
    "open-no-close": "an open deal has no close date: expected, it has not closed",
    "open-close-date": "an open deal's close date is an expected date, not a close: cleared",
    "zero-value-lost": "a value of 0 on a lost deal means unknown, not zero: set to NaN",
    "no-value": "a closed deal without a value: value unknown (NaN)",
    "undated": "a deal without a create date is kept, flagged undated, and left out of "
    "as-of tables (when it was created is unknown)",
    "undated-history": "a stage entry without a time is dropped from the history",
    "as-of": "what was not known on the as-of date: created later, left out; closed "
    "later, still open",
}
"""Every rule a repair names, with what it does (``docs/crm.md`` lists them too)."""

DOMINANCE = 3
"""A spelling replaces a similar one within a column only if used on this many times as
many rows."""
MAX_PAIRS = 2_000_000
"""Most (value, known spelling) comparisons for one column; beyond, values stay as they are."""
SHOWN_LINES = 8
"""Lines listed in a repair's text; the rest are counted."""


@dataclass(frozen=True)
class Repair:
    """One repair: its rule, where, what was done and the 1-based file lines it touched."""

    rule: str
    file: str
    column: str
    message: str
    lines: tuple[int, ...] = ()

    def __str__(self) -> str:
        n = len(self.lines)
        place = f"{self.file}: {self.column}: " if self.column else f"{self.file}: "
        if not n:
            return f"{place}{self.message} [{self.rule}]"
        shown = ", ".join(str(line) for line in self.lines[:SHOWN_LINES])
        more = ", ..." if n > SHOWN_LINES else ""
        rows = f"{n} row{'s' if n != 1 else ''}, line{'s' if n != 1 else ''} {shown}{more}"
        return f"{place}{self.message} [{self.rule}]: {rows}"

    def within(self, lines: set[int]) -> Repair | None:
        """This repair restricted to ``lines`` (None when it touches none of them)."""
        kept = tuple(line for line in self.lines if line in lines)
        return replace(self, lines=kept) if kept else None


def format_repairs(repairs: Sequence[Repair]) -> str:
    """The repair log: one line per repair, or a line saying there was nothing to repair."""
    if not repairs:
        return "repaired: nothing"
    return "\n".join(f"repaired: {r}" for r in repairs)


def _closest(name: str, candidates: dict[str, str], cutoff: float) -> str | None:
    """The candidate (by normalised name) clearly closest to ``name``, if close enough."""
    matcher = difflib.SequenceMatcher(None, "", name, autojunk=False)
    scored: list[tuple[float, str]] = []
    for norm, original in candidates.items():
        if not norm or norm == name:
            continue
        matcher.set_seq1(norm)
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((ratio, original))
    if not scored:
        return None
    scored.sort(reverse=True)
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None  # two equally close: ambiguous, left alone
    return scored[0][1]


def spellings(
    values: Sequence[str], known: Sequence[str], cutoff: float
) -> dict[str, tuple[str, str]]:
    """Each value to repair -> (its replacement, the rule). Empty values are left alone."""
    counts = Counter(v for v in values if v)
    known_set = set(known)
    by_norm: dict[str, str] = {}
    for name in known:
        by_norm.setdefault(normalise(name), name)
    out: dict[str, tuple[str, str]] = {}
    rest: list[str] = []
    fuzzy = len(counts) * len(by_norm) <= MAX_PAIRS
    for value in counts:  # first appearance order
        norm = normalise(value)
        if value in known_set or not norm:
            continue
        if norm in by_norm:
            out[value] = (by_norm[norm], "same-name")
            continue
        match = _closest(norm, by_norm, cutoff) if fuzzy else None
        if match is not None:
            out[value] = (match, "misspelling")
        else:
            rest.append(value)
    groups: dict[str, list[str]] = defaultdict(list)
    for value in rest:
        groups[normalise(value)].append(value)
    top: dict[str, str] = {}
    size: dict[str, int] = {}
    for norm, group in groups.items():
        top[norm] = max(group, key=lambda v: counts[v])  # the first of equals
        size[norm] = sum(counts[v] for v in group)
        for value in group:
            if value != top[norm]:
                out[value] = (top[norm], "same-name")
    if len(groups) ** 2 <= MAX_PAIRS:
        for norm in sorted(groups, key=lambda n: size[n]):
            frequent = {m: top[m] for m in groups if size[m] >= DOMINANCE * size[norm]}
            match = _closest(norm, frequent, cutoff)
            if match is not None:
                for value in groups[norm]:
                    out[value] = (match, "misspelling")
    for value, (target, rule) in list(out.items()):  # a rare variant of a rare variant
        seen = {value}
        while target in out and target not in seen:
            seen.add(target)
            target = out[target][0]
        out[value] = (target, rule)
    return out


def repair_column(
    values: list[str],
    lines: Sequence[int],
    known: Sequence[str],
    cutoff: float,
    file: str,
    column: str,
    against: str,
) -> tuple[list[str], list[Repair]]:
    """``values`` with misspellings repaired, and one :class:`Repair` per value replaced.

    ``against`` says what the known spellings are (e.g. ``"products.csv"``)."""
    plan = spellings(values, known, cutoff)
    if not plan:
        return values, []
    touched: dict[str, list[int]] = defaultdict(list)
    out = list(values)
    for i, value in enumerate(values):
        if value in plan:
            out[i] = plan[value][0]
            touched[value].append(lines[i])
    repairs = []
    for value, where in touched.items():
        target, rule = plan[value]
        why = f"known in {against}" if against and target in set(known) else "the common spelling"
        message = f"{value!r} -> {target!r} ({why})"
        repairs.append(Repair(rule, file, column, message, tuple(where)))
    return out, repairs
