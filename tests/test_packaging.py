"""Packaging: CI runs README's commands, and every import is a declared dependency.

``.ci/run`` runs README's two commands verbatim in a brand-new virtual environment, so a
dependency that only this machine happens to have cannot keep CI green. The import check ties
every module imported by ``src/``, ``tests/``, ``benchmarks/``, ``docs/`` (the site's hooks)
and ``notebooks/`` to a requirement in ``pyproject.toml``: ``src/`` to
``[project].dependencies`` alone (a module listed in ``EXTRA_MODULES`` also to its extras),
the rest to those plus the ``dev`` extra.

Exempt: the standard library, ``__future__``, kamsim itself, modules that sit beside the
importing file (``helpers``, ``conftest``, ...), relative imports, and optional imports (inside
``try: ... except ImportError`` or ``with contextlib.suppress(ImportError)``), which must work
without the module. A module that is not installed at all counts as undeclared.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from collections.abc import Collection, Iterable, Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from helpers import ROOT

import kamsim

README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
PYPROJECT = ROOT / "pyproject.toml"
FOLDERS = ("src", "tests", "benchmarks", "docs", "notebooks")
PACKAGE = "kamsim"
EXEMPT = frozenset({"__future__", PACKAGE})
IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})
EXTRA_MODULES = {"src/kamsim/workshop.py": ("notebooks",)}
"""Modules of ``src/`` that need an optional extra, with the extras they may import from;
nothing else imports them, so ``import kamsim`` works without the extra."""


# -- README's commands --------------------------------------------------------------------------


def readme_commands() -> list[str]:
    """The lines of the fenced bash blocks under README's "## Two commands" heading."""
    text = README.read_text(encoding="utf-8")
    _, heading, rest = text.partition("\n## Two commands\n")
    assert heading, "README has no '## Two commands' section"
    section = rest.split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2, f"expected two bash blocks under '## Two commands', got {blocks}"
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_commands_are_run_verbatim_by_ci() -> None:
    commands = readme_commands()
    assert len(commands) == 2, commands
    lines = {line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()}
    missing = [command for command in commands if command not in lines]
    assert not missing, f".ci/run does not run these README lines verbatim: {missing}"


# -- declared dependencies ----------------------------------------------------------------------


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it: lower case, runs of ``-_.`` as ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (``"NumPy>=1.26"``: numpy)."""
    match = re.match(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)", requirement)
    assert match, f"unreadable requirement {requirement!r}"
    return normalise(match.group(1))


def requirements(*extras: str) -> list[str]:
    """``[project].dependencies`` of pyproject.toml, plus the named optional extras.

    An extra that names the package's own extras (``"kamsim[dask,docs]"``) brings their
    requirements in place of itself."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    found = list(project.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            if requirement_name(requirement) == PACKAGE:
                included = re.search(r"\[([^\]]*)\]", requirement)
                assert included, f"{extra}: {requirement!r} names no extra"
                pending += [name.strip() for name in included.group(1).split(",")]
            else:
                found.append(requirement)
    return found


@cache
def providers() -> dict[str, frozenset[str]]:
    """Installed top-level import names -> normalised names of the distributions providing them."""
    return {
        name: frozenset(normalise(d) for d in dists)
        for name, dists in metadata.packages_distributions().items()
    }


# -- imports ------------------------------------------------------------------------------------


def _names(node: ast.expr | None) -> set[str]:
    """Names in an exception spec: ``E``, ``(E, F)`` or ``module.E``, and a called name."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(element) for element in node.elts))
    return set()


def _catches_import_error(node: ast.Try | ast.TryStar) -> bool:
    return any(IMPORT_ERRORS & _names(handler.type) for handler in node.handlers)


def _suppresses_import_error(node: ast.With | ast.AsyncWith) -> bool:
    return any(
        isinstance(call := item.context_expr, ast.Call)
        and _names(call.func) == {"suppress"}
        and any(IMPORT_ERRORS & _names(arg) for arg in call.args)
        for item in node.items
    )


def imported(nodes: Iterable[ast.AST]) -> Iterator[str]:
    """Top-level names of the absolute, non-optional imports in ``nodes`` and below."""
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module.partition(".")[0]
        elif isinstance(node, ast.Try | ast.TryStar) and _catches_import_error(node):
            # Only the guarded body is optional: fallbacks and cleanup are checked.
            yield from imported([*node.handlers, *node.orelse, *node.finalbody])
        elif isinstance(node, ast.With | ast.AsyncWith) and _suppresses_import_error(node):
            continue
        else:
            yield from imported(ast.iter_child_nodes(node))


def is_local(name: str, folder: Path) -> bool:
    """A module or package that sits in ``folder``, beside the file importing it."""
    return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


def undeclared(source: str, folder: Path, declared: Collection[str]) -> dict[str, str]:
    """Modules imported by ``source`` (a file in ``folder``) that ``declared`` does not cover.

    ``declared`` holds requirement strings as written in pyproject.toml. Returns each
    offending top-level module name with the reason.
    """
    names = {requirement_name(requirement) for requirement in declared}
    problems = {}
    for module in sorted(set(imported([ast.parse(source)]))):
        if module in EXEMPT or module in sys.stdlib_module_names or is_local(module, folder):
            continue
        dists = providers().get(module)
        if not dists:
            problems[module] = "not installed, so no declared distribution provides it"
        elif not dists & names:
            problems[module] = f"provided by {', '.join(sorted(dists))}, which is not declared"
    return problems


def sources(top: Path) -> Iterator[tuple[str, Path, str]]:
    """(label, folder, source) of every ``.py`` file and notebook code cell under ``top``.

    Notebook cells that do not parse as Python (``%magics``, ``!shell``) are skipped.
    """
    for path in sorted(top.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(top).parts):
            continue
        label = str(path.relative_to(ROOT))
        if path.suffix == ".py":
            yield label, path.parent, path.read_text(encoding="utf-8")
        elif path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            for number, cell in enumerate(cells):
                if cell.get("cell_type") != "code":
                    continue
                text = cell.get("source", "")
                text = "".join(text) if isinstance(text, list) else text
                try:
                    ast.parse(text)
                except SyntaxError:
                    continue
                yield f"{label} cell {number}", path.parent, text


def test_every_import_is_declared_in_pyproject() -> None:
    development = requirements("dev")
    problems = []
    checked = dict.fromkeys(FOLDERS, 0)
    for folder in FOLDERS:
        for label, parent, source in sources(ROOT / folder):
            checked[folder] += 1
            declared = (
                requirements(*EXTRA_MODULES.get(label, ())) if folder == "src" else development
            )
            problems += [
                f"{label}: {m}: {why}" for m, why in undeclared(source, parent, declared).items()
            ]
    assert all(checked.values()), checked
    what = "[project].dependencies (src/) or the dev extra (elsewhere)"
    assert not problems, f"imports not declared in {what}:\n" + "\n".join(problems)


# -- the checker's own controls -----------------------------------------------------------------


def test_the_import_check_reports_an_undeclared_module(tmp_path: Path) -> None:
    problems = undeclared("import click\n", tmp_path, ["typer>=0.12", "numpy>=1.26"])
    assert list(problems) == ["click"]


def test_the_import_check_reports_installed_but_undeclared_and_missing_modules(
    tmp_path: Path,
) -> None:
    source = "import pytest\nfrom kamsim_no_such_module.sub import thing\n"
    problems = undeclared(source, tmp_path, ["numpy>=1.26"])
    assert set(problems) == {"pytest", "kamsim_no_such_module"}
    assert "not installed" in problems["kamsim_no_such_module"]
    assert "pytest" in problems["pytest"]


def test_the_import_check_accepts_what_is_declared_or_exempt(tmp_path: Path) -> None:
    (tmp_path / "neighbour.py").write_text("", encoding="utf-8")
    source = """
from __future__ import annotations
import os.path, json
import numpy.linalg as la
from pytest import approx
from . import sibling
from neighbour import thing
import kamsim.analysis
try:
    import kamsim_optional_extra
except ImportError:
    pass
with contextlib.suppress(ModuleNotFoundError):
    import kamsim_another_optional
"""
    assert undeclared(source, tmp_path, ["NumPy>=1.26", "PyTest[extra] ; python_version>'3'"]) == {}


def test_a_fallback_after_a_guarded_import_is_still_checked(tmp_path: Path) -> None:
    source = "try:\n    import kamsim_fast\nexcept ImportError:\n    import kamsim_slow\n"
    assert list(undeclared(source, tmp_path, [])) == ["kamsim_slow"]


def test_the_dev_extra_brings_the_extras_it_names() -> None:
    names = {requirement_name(requirement) for requirement in requirements("dev")}
    assert PACKAGE not in names
    assert {"dask", "jupyterlab", "mkdocs", "nbclient", "pytest"} <= names, names


def test_modules_that_need_an_extra_exist() -> None:
    """``EXTRA_MODULES`` names real files (a renamed module cannot keep its exemption)."""
    assert all((ROOT / path).is_file() for path in EXTRA_MODULES)


def test_requirement_names_are_normalised() -> None:
    assert requirement_name("pandas-stubs>=2.2") == "pandas-stubs"
    assert requirement_name("Typing_Extensions[x] ; python_version < '3.12'") == "typing-extensions"
    assert requirement_name("zope.interface") == "zope-interface"
    assert normalise("Foo__Bar.-baz") == "foo-bar-baz"


def test_the_build_lists_every_package_and_ships_the_bundled_scenarios() -> None:
    """pyproject lists packages explicitly (the scenarios folder is mapped in as
    kamsim.scenarios), so a new subpackage must be listed too."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    packages = set(config["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT / "src").parts)
        for p in (ROOT / "src").rglob("__init__.py")
    }
    assert on_disk | {"kamsim.scenarios"} == packages
    assert config["setuptools"]["package-dir"]["kamsim.scenarios"] == "scenarios"
    assert config["setuptools"]["package-data"]["kamsim.scenarios"] == ["*.toml"]


def test_bundled_scenarios_load_by_name_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bundled = kamsim.io.bundled_scenarios()
    assert sorted(bundled) == sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))
    for name in bundled:
        assert kamsim.load_scenario(name).name == name
        assert kamsim.load_scenario(f"{name}.toml").name == name
    with pytest.raises(kamsim.ScenarioError, match="no bundled scenario of that name"):
        kamsim.load_scenario("no-such-scenario")
    (tmp_path / "baseline.toml").write_text('name = "mine"\n', encoding="utf-8")
    assert kamsim.load_scenario("baseline.toml").name == "mine"  # a file beats a name
