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
from typing import TYPE_CHECKING, Annotated, Any

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
SeedOpt = Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Root random seed.")]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, help="Worker processes (default: all cores).")
]
ResumeOpt = Annotated[
    bool, typer.Option(help="Continue a killed run in --out without recomputing.")
]
QuietOpt = Annotated[bool, typer.Option(help="No progress bar.")]


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
        missing = math.isnan(low) or math.isnan(high)
        ci = "-" if missing else f"[{_fmt(kpi, low)}, {_fmt(kpi, high)}]"
        entry = registry.lookup(kpi)
        label = f"{kpi} ({currency})" if entry and entry.unit == "currency" else kpi
        rows.append((label, _fmt(kpi, mean), ci, str(row.get("note") or "")))
    width = max([len("kpi"), *(len(label) for label, _, _, _ in rows)])
    lines = [f"{'kpi':<{width}} {'mean':>18} {'95% CI':>36}"]
    lines += [
        f"{label:<{width}} {mean:>18} {ci:>36}" + (f"  {note}" if note else "")
        for label, mean, ci, note in rows
    ]
    return "\n".join(lines)


@app.command()
def run(
    scenario: ScenarioArg,
    reps: Annotated[int, typer.Option(min=1, max=MAX_REPS, help="Number of replications.")] = 10,
    seed: SeedOpt = 0,
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
def compare(
    base: Annotated[str, typer.Argument(help="Base scenario: a file or a bundled name.")],
    variants: Annotated[
        list[str], typer.Argument(help="Variant scenarios: files or bundled names.")
    ],
    reps: Annotated[int, typer.Option(min=2, max=MAX_REPS, help="Replications each.")] = 10,
    seed: SeedOpt = 0,
    workers: WorkersOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write each variant's tables, comparison.csv and manifest.json here."),
    ] = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    precision: Annotated[
        float | None,
        typer.Option(
            min=0.0001,
            max=0.9999,
            help="Add replications until the relative 95%% half-width of --precision-kpi is "
            "below this (e.g. 0.05) in every variant, or --max-reps is reached.",
        ),
    ] = None,
    precision_kpi: Annotated[str, typer.Option(help="The KPI --precision targets.")] = "bookings",
    max_reps: Annotated[
        int, typer.Option(min=2, max=MAX_REPS, help="Cap on replications with --precision.")
    ] = 200,
) -> None:
    """Compare VARIANTS with BASE on paired replications: per KPI both means, the difference
    with its 95% interval (Bonferroni-widened for several variants), the relative change and
    the share of replications in which the variant did better; then which deals flipped."""
    from kamsim.analytic import check as analytic_check
    from kamsim.comparison import compare as compare_variants
    from kamsim.comparison import flips, format_comparison
    from kamsim.errors import Problem, ScenarioError
    from kamsim.experiment import experiment
    from kamsim.io import check_output_folder, write_json, write_table

    if registry.lookup(precision_kpi) is None:
        raise _fail(ScenarioError([Problem("--precision-kpi", f"{precision_kpi!r} is not a KPI")]))
    names = [base, *variants]
    scenarios = {}
    for name in names:
        scen = _load(Path(name), None) if Path(name).exists() else _load_named(name)
        if scen.name in scenarios:
            raise _fail(ScenarioError([Problem(name, f"the name {scen.name!r} is used twice")]))
        scenarios[scen.name] = scen
    if out is not None:
        try:
            check_output_folder(out)
        except ScenarioError as err:
            raise _fail(err) from None
    try:
        result = experiment(
            scenarios,
            reps=reps,
            seed=seed,
            workers=workers,
            out=out,
            resume=resume,
            progress=not quiet,
            deals=True,
            command="compare",
            precision=precision,
            precision_kpi=precision_kpi,
            max_reps=max(max_reps, reps),
        )
    except ScenarioError as err:
        raise _fail(err) from None
    base_label = next(iter(scenarios))
    table = compare_variants(result, base_label)
    currency = scenarios[base_label].calendar.currency
    if result.note:
        typer.echo(f"precision: {result.note}")
    typer.echo(format_comparison(table, base_label, currency))
    for label, flipped in flips(result, base_label).items():
        typer.echo(f"\nwhich deals flipped, {label} vs {base_label}:")
        typer.echo(flipped.format())
    if out is not None:
        write_table(table, out / "comparison.csv", "csv")
        write_json({k: analytic_check(s).to_dict() for k, s in scenarios.items()}, out / CHECK_FILE)
        typer.echo(
            f"wrote comparison.csv, {CHECK_FILE}, manifest.json and one folder per variant to {out}"
        )
    for row in result.failures.to_dict("records"):
        typer.echo(
            f"error: {row['variant']} replication {row['replication']}: {row['error']}", err=True
        )
    if not result.failures.empty:
        raise typer.Exit(1)


SHOWN = ("bookings", "contribution", "win_rate", "cycle_time_days", "deals_won")
"""The KPIs a sweep prints per point (sweep.csv holds every KPI)."""


def _run_variants(
    scen: Scenario,
    variants: dict[str, dict[str, object]],
    reps: int,
    seed: int,
    workers: int | None,
    out: Path | None,
    resume: bool,
    quiet: bool,
    command: str,
) -> Any:
    from kamsim.errors import ScenarioError
    from kamsim.experiment import experiment
    from kamsim.io import check_output_folder

    if out is not None:
        try:
            check_output_folder(out)
        except ScenarioError as err:
            raise _fail(err) from None
    try:
        return experiment(
            variants,
            reps=reps,
            seed=seed,
            base=scen,
            workers=workers,
            out=out,
            resume=resume,
            progress=not quiet,
            command=command,
        )
    except ScenarioError as err:
        raise _fail(err) from None


def _interval(kpi: str, mean: float, low: float, high: float) -> str:
    if math.isnan(low):
        return f"{_fmt(kpi, mean)}"
    return f"{_fmt(kpi, mean)} [{_fmt(kpi, low)}, {_fmt(kpi, high)}]"


@app.command()
def sweep(
    scenario: ScenarioArg,
    grid_: Annotated[
        list[str],
        typer.Option("--grid", help="An axis: dotted.key=value1,value2,... Repeatable."),
    ],
    reps: Annotated[int, typer.Option(min=2, max=MAX_REPS, help="Replications per point.")] = 10,
    seed: SeedOpt = 0,
    set_: SetOpt = None,
    workers: WorkersOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write sweep.csv and the run here.")] = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the full factorial of the --grid axes over SCENARIO: KPI means with intervals per
    point, the best point per KPI, and the contribution each added head returns per unit of
    its cost."""
    from kamsim.analytic import check as analytic_check
    from kamsim.errors import ScenarioError
    from kamsim.io import write_json, write_table
    from kamsim.sweep import best_points, parse_axis, returns_on_heads, sweep_points, sweep_table

    scen = _load(scenario, set_)
    try:
        axes = dict(parse_axis(spec) for spec in grid_)
        points = sweep_points(axes)
        scen.with_overrides(next(iter(points.values())))
    except ScenarioError as err:
        raise _fail(err) from None
    result = _run_variants(scen, points, reps, seed, workers, out, resume, quiet, "sweep")
    table = sweep_table(result, axes)
    typer.echo(f"{scen.name}: {len(points)} point(s) x {reps} replication(s), seed {seed}")
    shown = table[table["kpi"].isin(SHOWN)]
    for point, rows in shown.groupby("point", sort=False):
        typer.echo(f"{point}")
        for r in rows.to_dict("records"):
            text = _interval(str(r["kpi"]), r["mean"], r["low"], r["high"])
            typer.echo(f"  {r['kpi']:<18} {text}")
    typer.echo("best point per KPI:")
    for r in best_points(table).to_dict("records"):
        typer.echo(f"  {r['kpi']:<26} {r['point']}  ({_fmt(str(r['kpi']), r['mean'])})")
    returns = returns_on_heads(result, axes)
    if not returns.empty:
        typer.echo("return on each added head (contribution gained per unit of added cost):")
        for r in returns.to_dict("records"):
            typer.echo(
                f"  {r['from']} -> {r['point']}: {r['per_unit_cost']:+.2f} "
                f"[{r['low']:+.2f}, {r['high']:+.2f}]"
            )
    if out is not None:
        write_table(table, out / "sweep.csv", "csv")
        if not returns.empty:
            write_table(returns, out / "returns.csv", "csv")
        write_json(analytic_check(scen).to_dict(), out / CHECK_FILE)
        typer.echo(
            f"wrote sweep.csv, {CHECK_FILE}, manifest.json and one folder per point to {out}"
        )


@app.command()
def sensitivity(
    scenario: ScenarioArg,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="dotted.key=low,high; repeatable (default: the scenario's [assumptions])."
        ),
    ] = None,
    kpi: Annotated[str, typer.Option(help="The KPI the tornado is ranked by.")] = "bookings",
    reps: Annotated[int, typer.Option(min=2, max=MAX_REPS, help="Replications each.")] = 10,
    seed: SeedOpt = 0,
    set_: SetOpt = None,
    workers: WorkersOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write sensitivity.csv and the run.")] = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Move one uncertain number at a time to its low and high value and rank the paired
    effects on KPI as a tornado (widest swing first)."""
    from kamsim.analytic import check as analytic_check
    from kamsim.errors import Problem, ScenarioError
    from kamsim.io import write_json, write_table
    from kamsim.sweep import parse_axis, sensitivity_variants, tornado

    scen = _load(scenario, set_)
    if registry.lookup(kpi) is None:
        raise _fail(ScenarioError([Problem("--kpi", f"{kpi!r} is not a KPI")]))
    try:
        params = None
        if param:
            params = {}
            for spec in param:
                key, values = parse_axis(spec)
                if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
                    raise ScenarioError([Problem(f"--param {spec}", "expected key=low,high")])
                params[key] = (float(values[0]), float(values[1]))
        variants = sensitivity_variants(scen, params)
        for overrides in variants.values():
            scen.with_overrides(overrides)
    except ScenarioError as err:
        raise _fail(err) from None
    result = _run_variants(scen, variants, reps, seed, workers, out, resume, quiet, "sensitivity")
    keys = [k.rpartition("=")[0] for k in variants if k.endswith("=low")]
    table = tornado(result, keys, kpi)
    typer.echo(f"{scen.name}: sensitivity of {kpi}, {reps} paired replication(s), seed {seed}")
    rows = table[table["kpi"] == kpi]
    width = max(len("parameter"), *(len(k) for k in keys))
    typer.echo(f"{'parameter':<{width}} {'low':>40} {'high':>40} {'swing':>16}")
    for r in rows.to_dict("records"):
        low = _interval(kpi, r["low_effect"], r["low_low"], r["low_high"])
        high = _interval(kpi, r["high_effect"], r["high_low"], r["high_high"])
        typer.echo(f"{r['param']:<{width}} {low:>40} {high:>40} {_fmt(kpi, r['swing']):>16}")
    if out is not None:
        write_table(table, out / "sensitivity.csv", "csv")
        write_json(analytic_check(scen).to_dict(), out / CHECK_FILE)
        typer.echo(f"wrote sensitivity.csv, {CHECK_FILE} and manifest.json to {out}")


def _load_named(name: str) -> Scenario:
    from kamsim.errors import ScenarioError
    from kamsim.io import load_scenario

    try:
        return load_scenario(name)
    except ScenarioError as err:
        raise _fail(err) from None


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
