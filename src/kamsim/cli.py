"""The ``kamsim`` command: a thin shell over the library.

Bad input (a scenario file, an override, an option) prints one line per problem to stderr and
exits 2, never a traceback. ``kamsim check`` exits 3 when a pool's offered load is at or above
its capacity (:data:`OVERLOADED_EXIT`).

Imports: only what building the command line needs is imported at the top (typer and light
modules); each command imports what it uses, so ``kamsim --help`` starts without numpy, pandas,
scipy or SimPy (``tests/test_lean.py``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kamsim import kpis as registry
from kamsim.limits import MAX_REPS, MAX_SEED

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from kamsim.errors import ScenarioError
    from kamsim.results import Result
    from kamsim.scenario import Scenario

OVERLOADED_EXIT = 3
"""Exit code of ``kamsim check`` when a pool is at or above capacity."""
CHECK_FILE = "check.json"
"""The analytic check that ``kamsim run --out`` writes beside the tables."""

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate key-account sales pipelines and compare policies with error bars.",
)

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a field: dotted.key=<TOML literal>. Repeatable."),
]


def _fail(err: ScenarioError) -> typer.Exit:
    for problem in err.problems:
        typer.echo(f"error: {problem}", err=True)
    return typer.Exit(2)


def _load(path: Path, overrides: list[str] | None) -> Scenario:
    from kamsim.errors import ScenarioError
    from kamsim.io import load_scenario

    try:
        return load_scenario(path, overrides or [])
    except ScenarioError as err:
        raise _fail(err) from None


def run_scenario(
    scenario: Scenario, reps: int, seed: int, progress: Callable[[int], object] | None = None
) -> Result:
    """:func:`kamsim.run`, imported when a run starts."""
    from kamsim.simulation import run

    return run(scenario, reps=reps, seed=seed, progress=progress)


def _fmt(kpi: str, x: float) -> str:
    """One KPI value as text, in the library's one number format."""
    from kamsim.analysis import format_kpi

    return format_kpi(kpi, x)


def format_summary(summary: pd.DataFrame, currency: str) -> str:
    """KPI table as aligned text: mean and the 95% interval; KPIs whose unit is ``currency``
    in the registry (:data:`kamsim.kpis.KPIS`) are labelled with ``currency``."""
    rows = []
    for row in summary.to_dict("records"):
        kpi = str(row["kpi"])
        mean, low, high = float(row["mean"]), float(row["low"]), float(row["high"])
        ci = (
            "-"
            if math.isnan(float(row["half_width"]))
            else (f"[{_fmt(kpi, low)}, {_fmt(kpi, high)}]")
        )
        entry = registry.lookup(kpi)
        label = f"{kpi} ({currency})" if entry and entry.unit == "currency" else kpi
        rows.append((label, _fmt(kpi, mean), ci))
    width = max([len("kpi"), *(len(label) for label, _, _ in rows)])
    lines = [f"{'kpi':<{width}} {'mean':>18} {'95% CI':>36}"]
    lines += [f"{label:<{width}} {mean:>18} {ci:>36}" for label, mean, ci in rows]
    return "\n".join(lines)


@app.command()
def run(
    scenario: ScenarioArg,
    reps: Annotated[int, typer.Option(min=1, max=MAX_REPS, help="Number of replications.")] = 10,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Root random seed.")] = 0,
    set_: SetOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Write tables and manifest.json to this folder.")
    ] = None,
) -> None:
    """Simulate SCENARIO and print its KPIs (mean and 95% CI over replications)."""
    from tqdm import tqdm

    from kamsim.analysis import summarise
    from kamsim.analytic import check as analytic_check
    from kamsim.errors import Problem, ScenarioError
    from kamsim.io import check_output_folder, write_json, write_run
    from kamsim.steady import format_beside, pools_beside

    scen = _load(scenario, set_)
    if out is not None:
        try:
            check_output_folder(out)
        except ScenarioError as err:
            raise _fail(err) from None
    analytic = analytic_check(scen)
    typer.echo(analytic.format(short=True))
    with tqdm(
        total=reps, desc="replications", unit="rep", file=sys.stderr, disable=None, leave=False
    ) as bar:
        result = run_scenario(scen, reps=reps, seed=seed, progress=bar.update)
    typer.echo(
        f"{scen.name}: {reps} replication(s), seed {seed}, "
        f"{scen.calendar.horizon_months} months from {scen.calendar.start}"
    )
    typer.echo(format_summary(summarise(result.kpis), scen.calendar.currency))
    typer.echo(format_beside(pools_beside(analytic, result), result))
    if out is not None:
        try:
            paths = write_run(result, out, reps)
            path = out / CHECK_FILE
            write_json(analytic.to_dict(), path)
            paths.append(path)
        except OSError as err:
            raise _fail(ScenarioError([Problem("--out", f"cannot write: {err}")])) from None
        typer.echo(f"wrote {', '.join(p.name for p in paths)} to {out}")


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check SCENARIO; exit 0 when valid, else one line per problem and exit 2."""
    scen = _load(scenario, set_)
    typer.echo(f"{scenario}: valid ({scen.name})")


@app.command()
def check(
    scenario: ScenarioArg,
    set_: SetOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the check as JSON (for machines).")
    ] = False,
) -> None:
    """Analyse SCENARIO without simulating: offered load, Erlang waits and the expected funnel.

    Exit 0 when every pool is below capacity, 3 when a pool is at or above it, 2 on bad input.
    """
    from kamsim.analytic import check as analytic_check

    scen = _load(scenario, set_)
    result = analytic_check(scen)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(result.format())
    if result.overloaded:
        raise typer.Exit(OVERLOADED_EXIT)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    from kamsim.io import scenario_json_schema

    typer.echo(json.dumps(scenario_json_schema(), indent=2))


# Typer raises click's UsageError, from click itself or from its vendored copy depending on
# the Typer release; BadParameter derives from it in both.
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def main(argv: list[str] | None = None) -> None:
    """Entry point (``argv`` defaults to the command line): usage errors (unknown option, bad
    value, missing argument) print one ``error:`` line like every other bad input, and exit 2."""
    try:
        code = app(args=argv, standalone_mode=False)
    except _UsageError as err:
        if type(err).__name__ != "NoArgsIsHelpError":  # help was already shown
            ctx = getattr(err, "ctx", None)
            hint = f" (see 'kamsim {ctx.info_name} --help')" if ctx and ctx.parent else ""
            typer.echo(f"error: {getattr(err, 'format_message', err.__str__)()}{hint}", err=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
