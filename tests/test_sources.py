"""The project carries its own sources: nothing shipped points outside the repository.

Shipped files are the package, the scenarios, the docs, the benchmarks (and notebooks, if any),
README.md and CHANGELOG.md. None may name a file that lives outside the repository, and no
relative link or ``../`` path in them may resolve outside the repository root. Every section a
scenario or doc cites as ``sources §N`` (bare ``§N`` in a scenario file) must exist as a heading
``§N`` in docs/sources.md.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
SHIPPED = ("src", "scenarios", "docs", "benchmarks", "notebooks", "README.md", "CHANGELOG.md")
"""Folders and files whose content ships with the project."""

FORBIDDEN = re.compile(
    r"\.\./shared|FIGURES\.md|DOMAIN\.md|STYLE\.md|WORKSHOP\.md", flags=re.IGNORECASE
)
"""Names of files that live outside the repository."""
BARE_FIGURES = re.compile(r"\bFIGURES\b(?:\s*§|')")
"""A citation of the outside figures file without its name, e.g. ``FIGURES §8``."""
MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""The target of a markdown link ``[text](target "title")``."""
DOTDOT = re.compile(r"(?<![\w./~-])((?:\.\./)+[^\s\"'`)\]>,;]*)")
"""A relative path that starts by leaving its folder: ``../x``, ``../../y/z``."""
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
"""``https:``, ``mailto:`` and the like: not a path."""
CITATION = re.compile(r"\bsources(?:\.md)?\s+§(\d+)")
"""``sources §8`` or ``docs/sources.md §8``."""
BARE_SECTION = re.compile(r"§(\d+)")
HEADING = re.compile(r"^#{1,6}\s+§(\d+)\b", flags=re.MULTILINE)


def shipped_files() -> list[Path]:
    """Shipped text files: tracked or new (not ignored) per git, else a walk of the folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SHIPPED],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
        paths = [ROOT / n for n in names]
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for entry in SHIPPED:
            top = ROOT / entry
            if top.is_file():
                paths.append(top)
            for folder, dirs, files in os.walk(top):
                dirs[:] = [
                    d
                    for d in dirs
                    if not d.startswith(".") and d != "__pycache__" and not d.endswith(".egg-info")
                ]
                paths.extend(Path(folder) / f for f in files)
    return sorted(p for p in paths if p.is_file() and read_text(p) is not None)


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def leaves_root(target: str, folder: Path) -> bool:
    """Whether a relative path, read from ``folder``, resolves outside the repository."""
    resolved = Path(os.path.normpath(folder / target))
    return not resolved.is_relative_to(ROOT)


def outside_references(text: str, folder: Path) -> list[str]:
    """Every reference in ``text`` (a file in ``folder``) to something outside the repository."""
    found = [m.group(0) for m in FORBIDDEN.finditer(text)]
    found += [m.group(0) for m in BARE_FIGURES.finditer(text)]
    for m in MD_LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if target and not SCHEME.match(target) and leaves_root(target, folder):
            found.append(m.group(0))
    found += [m.group(1) for m in DOTDOT.finditer(text) if leaves_root(m.group(1), folder)]
    return found


def broken_links(text: str, folder: Path) -> list[str]:
    """Relative markdown links in ``text`` whose target does not exist."""
    broken = []
    for m in MD_LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if target and not SCHEME.match(target) and not (folder / target).exists():
            broken.append(m.group(1))
    return broken


def cited_sections(path: Path, text: str) -> set[int]:
    """Sections of docs/sources.md that ``text`` cites.

    A scenario's header says its bracketed ``§N`` are sections of docs/sources.md, and the
    sources page cross-refers to its own sections, so a bare ``§N`` counts in both.
    """
    pattern = BARE_SECTION if path.suffix == ".toml" or path == SOURCES else CITATION
    return {int(m.group(1)) for m in pattern.finditer(text)}


def missing_sections(cited: set[int], sources_text: str) -> set[int]:
    """Cited sections that have no ``§N`` heading in the sources page."""
    return cited - {int(n) for n in HEADING.findall(sources_text)}


@pytest.fixture(scope="module")
def texts() -> dict[Path, str]:
    files = shipped_files()
    assert SOURCES in files, "docs/sources.md is missing or not shipped"
    return {p: read_text(p) or "" for p in files}


def test_the_shipped_file_list_covers_every_shipped_folder(texts: dict[Path, str]) -> None:
    tops = {p.relative_to(ROOT).parts[0] for p in texts}
    assert {"src", "scenarios", "docs", "benchmarks", "README.md", "CHANGELOG.md"} <= tops
    assert ROOT / "scenarios" / "baseline.toml" in texts
    assert ROOT / "src" / "kamsim" / "scenario.py" in texts


def test_no_shipped_file_refers_outside_the_repository(texts: dict[Path, str]) -> None:
    offenders = {
        str(p.relative_to(ROOT)): refs
        for p, text in texts.items()
        if (refs := outside_references(text, p.parent))
    }
    assert not offenders, f"references outside the repository: {offenders}"


def test_relative_markdown_links_resolve(texts: dict[Path, str]) -> None:
    offenders = {
        str(p.relative_to(ROOT)): links
        for p, text in texts.items()
        if p.suffix == ".md" and (links := broken_links(text, p.parent))
    }
    assert not offenders, f"links to missing files: {offenders}"


def test_every_cited_section_exists_in_docs_sources(texts: dict[Path, str]) -> None:
    sources_text = texts[SOURCES]
    headings = HEADING.findall(sources_text)
    assert len(headings) == len(set(headings)), f"duplicate section headings: {headings}"
    cited_by: dict[int, list[str]] = {}
    for p, text in texts.items():
        for n in cited_sections(p, text):
            cited_by.setdefault(n, []).append(str(p.relative_to(ROOT)))
    baseline = ROOT / "scenarios" / "baseline.toml"
    assert len(cited_sections(baseline, texts[baseline])) >= 5, "the baseline cites no sections"
    missing = missing_sections(set(cited_by), sources_text)
    assert not missing, {n: cited_by[n] for n in sorted(missing)}


# -- negative and positive controls: the checkers flag what they should, and only that --------


@pytest.mark.parametrize(
    ("text", "folder"),
    [
        ("Figures come from ../shared/FIGURES.md (section numbers in brackets).", "scenarios"),
        ("# 15 active deals (FIGURES §8, L)", "scenarios"),
        ("cancellation is rare (DOMAIN.md)", "scenarios"),
        ("see [the handbook](../../DOMAIN-handbook.md)", "docs"),
        ('data = Path("../../../outside/data.csv")', "src/kamsim"),
        ("follow STYLE.md and WORKSHOP.md", "docs"),
    ],
)
def test_the_checker_flags_outside_references(text: str, folder: str) -> None:
    assert outside_references(text, ROOT / folder)


@pytest.mark.parametrize(
    ("text", "folder"),
    [
        ("see [docs/sources.md](sources.md) and [the README](../README.md#speed)", "docs"),
        ("see [the report](https://example.org/a/../b) or (sources §8, L)", "docs"),
        ('base = "../scenarios/baseline.toml"', "benchmarks"),
        ("Figures on this machine", "benchmarks"),
    ],
)
def test_the_checker_passes_references_inside_the_repository(text: str, folder: str) -> None:
    assert outside_references(text, ROOT / folder) == []


def test_the_section_check_flags_a_missing_section() -> None:
    sources_text = "# Sources\n\n## §1 Cycle length\n\n## §8 Portfolio sizes\n"
    toml = ROOT / "scenarios" / "x.toml"
    assert missing_sections(cited_sections(toml, "# a (§8, L), b (§9, L)"), sources_text) == {9}
    assert missing_sections(cited_sections(toml, "# a (sources §1, H)"), sources_text) == set()
    md = ROOT / "docs" / "x.md"
    assert cited_sections(md, "step §3 of the recipe; see docs/sources.md §8") == {8}
