"""Fixtures shared by the whole suite (plain helpers live in ``helpers.py``)."""

from __future__ import annotations

import contextlib
import sys
import warnings

import pytest
from constants import BASELINE
from typer.testing import CliRunner

import kamsim

# When a hypothesis test fails, its pytest plugin imports libcst to suggest a patch; libcst's
# import raises a DeprecationWarning (mypy_extensions.TypedDict), which filterwarnings=error
# turns into an INTERNALERROR that aborts the whole session instead of reporting the failure.
# Importing it once here, with that warning silenced, keeps failures readable.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import libcst  # noqa: F401


@pytest.fixture(scope="session")
def baseline() -> kamsim.Scenario:
    """The bundled baseline scenario, loaded once."""
    return kamsim.load_scenario(BASELINE)


@pytest.fixture
def cli() -> CliRunner:
    """In-process runner of the ``kamsim`` command (stdout and stderr kept apart)."""
    return CliRunner()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how many generated cases the fuzz suite ran (when it ran)."""
    fuzz = sys.modules.get("test_fuzz")
    counts = getattr(fuzz, "COUNTS", None)
    if counts:
        terminalreporter.write_line(
            f"fuzz: {sum(counts.values())} cases: {counts['ran']} validated and ran, "
            f"{counts['refused']} refused with exit 2"
        )
