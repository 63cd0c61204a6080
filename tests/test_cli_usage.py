"""Usage errors from the console entry point: one ``error:`` line, exit 2, no traceback."""

from __future__ import annotations

import pytest
from constants import BASELINE

from kamsim.cli import main

SCENARIO = str(BASELINE)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", SCENARIO, "--foo", "1"], "--foo"),
        (["run", SCENARIO, "--reps", "0"], "--reps"),
        (["run"], "scenario"),
        (["bogus"], "bogus"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.argv", ["kamsim", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in err


def test_a_valid_command_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["kamsim", "validate", SCENARIO])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert "valid" in capsys.readouterr().out
