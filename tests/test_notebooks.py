"""The notebooks in ``notebooks/`` run from top to bottom, quickly, and are stored clean.

They are executed with nbclient, the library that nbconvert, nbmake and mkdocs-jupyter all
use to run a notebook, rather than through the nbmake pytest plugin: the test needs the
executed notebook itself (to check that no cell printed to stderr and that every cell ran)
and its wall-clock time, and plain parametrised tests leave the suite's collection and
options as they are (nbmake collects notebooks only under its own ``--nbmake`` flag, which
the suite's commands would have to pass).

Each notebook runs in a fresh kernel, in its own folder, with a first cell added in memory
that turns warnings into errors, as ``filterwarnings = error`` does for the rest of the
suite; a cell that raises fails the test with the cell and its traceback.

Executing never fires a widget callback: nbclient is not a front end, so no widget event
(a click, a slider moved) reaches the kernel. Only ``ipywidgets.interact`` and
``interactive`` call their function when they are displayed, so the notebooks do not use
them (:func:`test_no_notebook_calls_a_widget_function_on_display`).
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT
from nbclient import NotebookClient

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIME_LIMIT_S = 60.0
"""A notebook, kernel start included, finishes within this many seconds."""
LONGER_LIMITS_S = {"05_calibrate_from_crm.ipynb": 120.0}
"""Notebooks allowed longer: 05 calibrates and backtests at several dates."""
WARNINGS_AS_ERRORS = "import warnings\nwarnings.simplefilter('error')"
CALLS_ON_DISPLAY = frozenset({"interact", "interactive"})
"""ipywidgets helpers that call their function once when they are displayed."""


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _read(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_there_are_notebooks_to_run() -> None:
    assert NOTEBOOKS, "no notebooks/*.ipynb found"
    assert all(_code_cells(_read(path)) for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    """Outputs and execution counts stay out of git: ``jupyter nbconvert --clear-output
    --inplace notebooks/*.ipynb`` before committing."""
    notebook = _read(path)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts"
    assert "widgets" not in notebook.metadata, f"{path.name}: saved widget state"


def _calls_on_display(source: str) -> set[str]:
    """Names in ``CALLS_ON_DISPLAY`` that ``source`` calls or uses as a decorator."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with %magics or !shell
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call | ast.FunctionDef):
            targets = [node.func] if isinstance(node, ast.Call) else node.decorator_list
            for target in targets:
                name = target.attr if isinstance(target, ast.Attribute) else None
                name = target.id if isinstance(target, ast.Name) else name
                if name in CALLS_ON_DISPLAY:
                    found.add(name)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_notebook_calls_a_widget_function_on_display(path: Path) -> None:
    used = {
        index: names
        for index, cell in enumerate(_read(path).cells)
        if cell.cell_type == "code" and (names := _calls_on_display(cell.source))
    }
    assert not used, f"{path.name}: cells call a function on display: {used}"


def test_the_widget_check_finds_interact() -> None:
    assert _calls_on_display("from ipywidgets import interact\ninteract(f, x=1)") == {"interact"}
    assert _calls_on_display("@widgets.interact(x=1)\ndef f(x):\n    pass") == {"interact"}
    assert _calls_on_display("w = ipywidgets.interactive(f, x=1)") == {"interactive"}
    assert _calls_on_display("b.on_click(run)\n%matplotlib inline") == set()
    assert _calls_on_display("button.on_click(run)") == set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_without_errors_or_warnings_in_time(path: Path) -> None:
    notebook = _read(path)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(WARNINGS_AS_ERRORS, id="warnings-as-errors"))
    limit = LONGER_LIMITS_S.get(path.name, TIME_LIMIT_S)
    client = NotebookClient(
        notebook,
        timeout=int(limit),  # per cell: a hung cell fails here rather than hanging
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on an error
    elapsed = time.perf_counter() - started

    cells = _code_cells(notebook)
    assert all(cell.execution_count is not None for cell in cells), "a cell did not run"
    stderr = [
        (index, output.text)
        for index, cell in enumerate(cells[1:], start=1)
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stderr"
    ]
    assert not stderr, f"{path.name}: cells wrote to stderr: {stderr}"
    assert elapsed < limit, f"{path.name} took {elapsed:.1f} s (limit {limit} s)"
