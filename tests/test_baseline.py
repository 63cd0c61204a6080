"""The bundled baseline validates. Its figures against their sources are checked in
``test_baseline_targets.py``; its loads, analytic and simulated, in the ``kamsim check``
tests."""

from __future__ import annotations

from constants import BASELINE
from typer.testing import CliRunner

import kamsim
from kamsim.cli import app


def test_baseline_validates() -> None:
    result = CliRunner().invoke(app, ["validate", str(BASELINE)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert kamsim.load_scenario(BASELINE).name == "baseline"
