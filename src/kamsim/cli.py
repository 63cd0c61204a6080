"""The ``kamsim`` command: a thin shell over the library.

Bad input (a scenario file, an override, an option) prints one line per problem to stderr and
exits 2, never a traceback. ``kamsim check`` exits 3 when a pool's offered load is at or above
its capacity (:data:`OVERLOADED_EXIT`).

Imports: only what building the command line needs is imported at the top (typer and light
modules); each command imports what it uses, so ``kamsim --help`` starts without numpy, pandas,
scipy or SimPy (``tests/test_lean.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import sys
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kamsim import kpis as registry
from kamsim.limits import MAX_REPS, MAX_SEED

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor

    import pandas as pd

    from kamsim.crm import CrmExport
    from kamsim.errors import ScenarioError
    from kamsim.experiment import Experiment
    from kamsim.pipeline import OpenPipeline
    from kamsim.scenario import Scenario

OVERLOADED_EXIT = 3
"""Exit code of ``kamsim check`` when a pool is at or above capacity."""
CHECK_FILE = "check.json"
"""The analytic check of each scenario a command names, by label, in its output folder."""
MANIFEST = "manifest.json"

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
CrmArg = Annotated[
    Path,
    typer.Argument(help="The CRM export (CSV), e.g. sales_pipeline.csv.", show_default=False),
]
MapOpt = Annotated[
    str | None,
    typer.Option("--map", help="Mapping TOML file or bundled name (default: maven)."),
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


def _date(text: str) -> dt.date:
    """An ``--as-of`` value as a date, or ScenarioError naming the option."""
    from kamsim.errors import Problem, ScenarioError

    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ScenarioError([Problem("--as-of", f"{text!r} is not a date (YYYY-MM-DD)")]) from None


def _export(path: Path, mapping: str | None, field: str = "") -> CrmExport:
    """The CRM export at ``path`` read with ``mapping``, or ScenarioError (a missing file
    names ``field``)."""
    from kamsim.crm import read_crm
    from kamsim.errors import Problem, ScenarioError

    if not path.is_file():
        raise ScenarioError([Problem(field, "no such file", str(path))])
    return read_crm(path, mapping)


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


class Where(StrEnum):
    """Where replications run."""

    local = "local"
    dask = "dask"


OutOpt = Annotated[
    Path | None,
    typer.Option(
        help="Write the run here: one folder of tables per variant, summary.csv, the "
        "command's own table, check.json and manifest.json (docs/experiments.md)."
    ),
]
PrecisionOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0001,
        max=0.9999,
        help="Add replications until the relative 95%% half-width of --precision-kpi is "
        "below this (e.g. 0.05) in every variant, or --max-reps is reached.",
    ),
]
PrecisionKpiOpt = Annotated[str, typer.Option(help="The KPI --precision targets.")]
MaxRepsOpt = Annotated[
    int, typer.Option(min=2, max=MAX_REPS, help="Cap on replications with --precision.")
]
ExecutorOpt = Annotated[
    Where,
    typer.Option(help="local: processes on this machine; dask: a cluster (--scheduler)."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(help="Address of a Dask scheduler, e.g. tcp://10.0.0.5:8786 (--executor dask)."),
]


@dataclass(frozen=True)
class Running:
    """How a command runs its experiment: the options every experiment command shares,
    checked when made (bad ones exit 2 before any work)."""

    reps: int
    seed: int
    workers: int | None
    out: Path | None
    resume: bool
    quiet: bool
    precision: float | None
    precision_kpi: str
    max_reps: int
    executor: Where
    scheduler: str | None

    @classmethod
    def of(cls, options: dict[str, Any]) -> Running:
        """From a command's parameters, by name: every experiment command names them alike."""
        return cls(**{f.name: options[f.name] for f in fields(cls)})

    def __post_init__(self) -> None:
        from kamsim.errors import Problem, ScenarioError
        from kamsim.io import check_output_folder

        problems = []
        if registry.lookup(self.precision_kpi) is None:
            problems.append(Problem("--precision-kpi", f"{self.precision_kpi!r} is not a KPI"))
        if self.executor is Where.local and self.scheduler is not None:
            problems.append(Problem("--scheduler", "needs --executor dask"))
        if self.executor is Where.dask:
            if self.scheduler is None:
                problems.append(Problem("--executor dask", "needs --scheduler ADDRESS"))
            if self.workers is not None:
                problems.append(Problem("--workers", "the Dask cluster sets the workers"))
        try:
            if self.out is not None:
                check_output_folder(self.out)
        except ScenarioError as err:
            problems += err.problems
        if problems:
            raise _fail(ScenarioError(problems))


def _experiment(
    command: str,
    variants: Any,
    how: Running,
    base: Scenario | None = None,
    deals: bool = False,
    outputs: Callable[[Experiment], dict[str, Any]] | None = None,
    pipeline: OpenPipeline | None = None,
) -> Experiment:
    """Run ``variants`` as ``how`` says, turning bad input into ``error:`` lines and exit 2.
    With --out, ``outputs`` adds the command's own files to the folder (written before the
    folder replaces --out, so it appears whole); ``pipeline`` starts every replication from
    those open deals."""
    from kamsim.errors import Problem, ScenarioError
    from kamsim.experiment import experiment

    try:
        with contextlib.ExitStack() as stack:
            executor = _executor(how.executor, how.scheduler, stack)
            return experiment(
                variants,
                reps=how.reps,
                seed=how.seed,
                base=base,
                executor=executor,
                workers=how.workers,
                out=how.out,
                resume=how.resume,
                progress=not how.quiet,
                deals=deals,
                command=command,
                precision=how.precision,
                precision_kpi=how.precision_kpi,
                max_reps=max(how.max_reps, how.reps),
                outputs=outputs,
                pipeline=pipeline,
            )
    except ScenarioError as err:
        raise _fail(err) from None
    except OSError as err:
        raise _fail(ScenarioError([Problem("--out", f"cannot write: {err}")])) from None


def _executor(where: Where, scheduler: str | None, stack: contextlib.ExitStack) -> Executor | None:
    """None (a local process pool) or a Dask cluster's executor, closed with ``stack``."""
    from kamsim.errors import Problem, ScenarioError

    if where is Where.local or scheduler is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError(
            [Problem("--executor dask", "needs the dask extra: pip install 'kamsim[dask]'")]
        ) from None
    try:
        client = stack.enter_context(Client(scheduler, timeout="10s"))  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as err:
        raise ScenarioError([Problem("--scheduler", f"cannot reach {scheduler}: {err}")]) from None
    executor: Executor = client.get_executor()
    return executor


def _report_failures(result: Experiment) -> None:
    """One ``error:`` line per replication that raised, and exit 1 when any did."""
    for row in result.failures.to_dict("records"):
        typer.echo(
            f"error: {row['variant']} replication {row['replication']}: {row['error']}", err=True
        )
    if not result.failures.empty:
        raise typer.Exit(1)


def _wrote(out: Path | None, *files: str) -> None:
    if out is not None:
        names = ", ".join([*files, "summary.csv", CHECK_FILE, MANIFEST])
        typer.echo(f"wrote {names} and one folder of tables per variant to {out}")
        typer.echo(f"for an HTML report: kamsim report {out}")


def _checks(scenarios: dict[str, Scenario]) -> dict[str, Any]:
    """The analytic check of each scenario, by label: ``check.json``."""
    from kamsim.analytic import check as analytic_check

    return {label: analytic_check(s).to_dict() for label, s in scenarios.items()}


@app.command()
def run(
    scenario: ScenarioArg,
    reps: Annotated[int, typer.Option(min=1, max=MAX_REPS, help="Number of replications.")] = 10,
    seed: SeedOpt = 0,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    precision: PrecisionOpt = None,
    precision_kpi: PrecisionKpiOpt = "bookings",
    max_reps: MaxRepsOpt = 200,
    executor: ExecutorOpt = Where.local,
    scheduler: SchedulerOpt = None,
) -> None:
    """Simulate SCENARIO and print its KPIs (mean and 95% CI over replications), after the
    analytic check and with each pool's simulated load beside the check's."""
    from kamsim.analysis import summarise
    from kamsim.analytic import check as analytic_check
    from kamsim.steady import format_beside, pools_beside

    scen = _load(scenario, set_)
    how = Running.of(locals())
    analytic = analytic_check(scen)
    typer.echo(analytic.format(short=True))
    result = _experiment(
        "run",
        {scen.name: scen},
        how,
        outputs=lambda e: {CHECK_FILE: {scen.name: analytic.to_dict()}},
    )
    ran = result.variant(scen.name)
    typer.echo(
        f"{scen.name}: {result.reps} replication(s), seed {seed}, "
        f"{scen.calendar.horizon_months} months from {scen.calendar.start}"
    )
    if result.note:
        typer.echo(f"precision: {result.note}")
    typer.echo(format_summary(summarise(ran.kpis), scen.calendar.currency))
    typer.echo(format_beside(pools_beside(analytic, ran), ran))
    _wrote(out)
    if out is None:
        typer.echo("for an HTML report: add --out DIR, then run: kamsim report DIR")
    _report_failures(result)


@app.command()
def compare(
    base: Annotated[str, typer.Argument(help="Base scenario: a file or a bundled name.")],
    variants: Annotated[
        list[str], typer.Argument(help="Variant scenarios: files or bundled names.")
    ],
    reps: Annotated[int, typer.Option(min=2, max=MAX_REPS, help="Replications each.")] = 10,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    precision: PrecisionOpt = None,
    precision_kpi: PrecisionKpiOpt = "bookings",
    max_reps: MaxRepsOpt = 200,
    executor: ExecutorOpt = Where.local,
    scheduler: SchedulerOpt = None,
) -> None:
    """Compare VARIANTS with BASE on paired replications: per KPI both means, the difference
    with its 95% interval (Bonferroni-widened for several variants), the relative change and
    the share of replications in which the variant did better; then which deals flipped."""
    from kamsim.comparison import compare as compare_variants
    from kamsim.comparison import flips, format_comparison
    from kamsim.errors import Problem, ScenarioError

    scenarios = {}
    for name in [base, *variants]:
        scen = _load(Path(name), None) if Path(name).exists() else _load_named(name)
        if scen.name in scenarios:
            raise _fail(ScenarioError([Problem(name, f"the name {scen.name!r} is used twice")]))
        scenarios[scen.name] = scen
    base_label = next(iter(scenarios))
    how = Running.of(locals())
    result = _experiment(
        "compare",
        scenarios,
        how,
        deals=True,
        outputs=lambda e: {
            "comparison.csv": compare_variants(e, base_label),
            CHECK_FILE: _checks(scenarios),
        },
    )
    table = compare_variants(result, base_label)
    if result.note:
        typer.echo(f"precision: {result.note}")
    typer.echo(format_comparison(table, base_label, scenarios[base_label].calendar.currency))
    for label, flipped in flips(result, base_label).items():
        typer.echo(f"\nwhich deals flipped, {label} vs {base_label}:")
        typer.echo(flipped.format())
    _wrote(out, "comparison.csv")
    _report_failures(result)


SHOWN = ("bookings", "contribution", "win_rate", "cycle_time_days", "deals_won")
"""The KPIs a sweep prints per point (sweep.csv holds every KPI)."""


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
    out: OutOpt = None,
    workers: WorkersOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    precision: PrecisionOpt = None,
    precision_kpi: PrecisionKpiOpt = "bookings",
    max_reps: MaxRepsOpt = 200,
    executor: ExecutorOpt = Where.local,
    scheduler: SchedulerOpt = None,
) -> None:
    """Run the full factorial of the --grid axes over SCENARIO: KPI means with intervals per
    point, the best point per KPI, and the contribution each added head returns per unit of
    its cost."""
    from kamsim.errors import ScenarioError
    from kamsim.sweep import best_points, parse_axis, returns_on_heads, sweep_points, sweep_table

    scen = _load(scenario, set_)
    try:
        axes = dict(parse_axis(spec) for spec in grid_)
        points = sweep_points(axes)
        scen.with_overrides(next(iter(points.values())))
    except ScenarioError as err:
        raise _fail(err) from None
    how = Running.of(locals())

    def files(e: Experiment) -> dict[str, Any]:
        returns = returns_on_heads(e, axes)
        return {
            "sweep.csv": sweep_table(e, axes),
            **({} if returns.empty else {"returns.csv": returns}),
            CHECK_FILE: _checks({scen.name: scen}),
        }

    result = _experiment("sweep", points, how, base=scen, outputs=files)
    table = sweep_table(result, axes)
    typer.echo(f"{scen.name}: {len(points)} point(s) x {result.reps} replication(s), seed {seed}")
    if result.note:
        typer.echo(f"precision: {result.note}")
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
    _wrote(out, "sweep.csv", *(() if returns.empty else ("returns.csv",)))
    _report_failures(result)


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
    out: OutOpt = None,
    workers: WorkersOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    precision: PrecisionOpt = None,
    precision_kpi: PrecisionKpiOpt = "bookings",
    max_reps: MaxRepsOpt = 200,
    executor: ExecutorOpt = Where.local,
    scheduler: SchedulerOpt = None,
) -> None:
    """Move one uncertain number at a time to its low and high value and rank the paired
    effects on KPI as a tornado (widest swing first)."""
    from kamsim.errors import Problem, ScenarioError
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
    keys = [k.rpartition("=")[0] for k in variants if k.endswith("=low")]
    how = Running.of(locals())
    result = _experiment(
        "sensitivity",
        variants,
        how,
        base=scen,
        outputs=lambda e: {
            "sensitivity.csv": tornado(e, keys, kpi),
            CHECK_FILE: _checks({scen.name: scen}),
        },
    )
    table = tornado(result, keys, kpi)
    typer.echo(
        f"{scen.name}: sensitivity of {kpi}, {result.reps} paired replication(s), seed {seed}"
    )
    if result.note:
        typer.echo(f"precision: {result.note}")
    rows = table[table["kpi"] == kpi]
    width = max(len("parameter"), *(len(k) for k in keys))
    typer.echo(f"{'parameter':<{width}} {'low':>40} {'high':>40} {'swing':>16}")
    for r in rows.to_dict("records"):
        low = _interval(kpi, r["low_effect"], r["low_low"], r["low_high"])
        high = _interval(kpi, r["high_effect"], r["high_low"], r["high_high"])
        typer.echo(f"{r['param']:<{width}} {low:>40} {high:>40} {_fmt(kpi, r['swing']):>16}")
    _wrote(out, "sensitivity.csv")
    _report_failures(result)


@app.command()
def forecast(
    scenario: ScenarioArg,
    as_of: Annotated[
        str,
        typer.Option(help="The date the pipeline stands at, e.g. 2017-03-15.", show_default=False),
    ],
    pipeline: Annotated[
        Path | None,
        typer.Option(
            help="CSV of the deals open on --as-of: deal_id, stage, entered_stage_at, value "
            "(optional grade, account, owner).",
            show_default=False,
        ),
    ] = None,
    crm: Annotated[
        Path | None,
        typer.Option(
            help="Instead of --pipeline: a CRM export; the deals it shows open on --as-of, "
            "in their stages since the day they entered them.",
            show_default=False,
        ),
    ] = None,
    map_: Annotated[
        str | None,
        typer.Option("--map", help="With --crm: mapping TOML file or bundled name."),
    ] = None,
    horizon: Annotated[
        str, typer.Option(help="How far ahead: months or days, e.g. 6m, 3m, 90d.")
    ] = "6m",
    reps: Annotated[int, typer.Option(min=1, max=MAX_REPS, help="Number of replications.")] = 100,
    seed: SeedOpt = 0,
    set_: SetOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    precision: PrecisionOpt = None,
    precision_kpi: PrecisionKpiOpt = "bookings",
    max_reps: MaxRepsOpt = 200,
    executor: ExecutorOpt = Where.local,
    scheduler: SchedulerOpt = None,
) -> None:
    """Forecast bookings and won deals from the deals open on --as-of plus new leads: per
    month and quarter, P10 / P50 / P90 across replications, the mean with its 95% interval
    and the part from today's pipeline. --out adds forecast.csv to the run's folder."""
    from kamsim.errors import Problem, ScenarioError
    from kamsim.forecast import FORECAST_FILE, Forecast, forecast_scenario, parse_horizon
    from kamsim.pipeline import read_pipeline

    scen = _load(scenario, set_)
    try:
        date = _date(as_of)
        if (pipeline is None) == (crm is None):
            raise ScenarioError([Problem("--pipeline", "give either --pipeline or --crm")])
        if map_ is not None and crm is None:
            raise ScenarioError([Problem("--map", "only with --crm")])
        span = parse_horizon(horizon)
        run_scenario = forecast_scenario(scen, date, span)
        if pipeline is not None:
            open_deals = read_pipeline(pipeline, date, run_scenario)
        else:
            assert crm is not None
            open_deals = _export(crm, map_, "--crm").open_pipeline(date)
            open_deals.check(run_scenario)
    except ScenarioError as err:
        raise _fail(err) from None
    how = Running(
        reps,
        seed,
        workers,
        out,
        resume,
        quiet,
        precision,
        precision_kpi,
        max_reps,
        executor,
        scheduler,
    )
    result = _experiment(
        "forecast",
        {scen.name: run_scenario},
        how,
        deals=True,
        pipeline=open_deals,
        outputs=lambda e: {
            FORECAST_FILE: Forecast.of(e, open_deals, span).table,
            CHECK_FILE: _checks({scen.name: run_scenario}),
        },
    )
    if result.note:
        typer.echo(f"precision: {result.note}")
    typer.echo(Forecast.of(result, open_deals, span).format())
    _wrote(out, FORECAST_FILE)
    _report_failures(result)


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
def report(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="The --out folder of run, compare, sweep or sensitivity, or the --report "
            "folder of calibrate."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="The HTML file to write (default: RUN_DIR/report.html).")
    ] = None,
    lang: Annotated[str, typer.Option(help="Labels: en or zh.")] = "en",
) -> None:
    """Turn an output folder into one self-contained HTML report: the scenarios, the check
    panel, KPI tables, the command's tables and plots, and the run's provenance; for a
    calibration's fit folder, the estimates by source, observed against fitted, the repairs."""
    from kamsim.errors import Problem, ScenarioError
    from kamsim.labels import LANGS

    if lang not in LANGS:
        raise _fail(ScenarioError([Problem("--lang", f"{lang!r}: use one of {', '.join(LANGS)}")]))
    if out is not None and out.is_dir():
        raise _fail(ScenarioError([Problem("--out", f"{out} is a folder; name an HTML file")]))
    from kamsim.report import write_report

    try:
        path = write_report(run_dir, out, lang)
    except ScenarioError as err:
        raise _fail(err) from None
    except OSError as err:
        raise _fail(ScenarioError([Problem("--out", f"cannot write: {err}")])) from None
    typer.echo(f"wrote {path}")


class LogFormat(StrEnum):
    """Event log file formats."""

    csv = "csv"
    xes = "xes"


@app.command("export-log")
def export_log(
    run_dir: Annotated[
        Path, typer.Argument(help="The --out folder of run or compare.", show_default=False)
    ],
    format_: Annotated[
        LogFormat, typer.Option("--format", help="csv, or xes (IEEE 1849 XML).")
    ] = LogFormat.csv,
    out: Annotated[
        Path | None,
        typer.Option(
            help="The file to write (default: eventlog.<format> in the variant's folder)."
        ),
    ] = None,
    variant: Annotated[
        str | None, typer.Option(help="The variant to export (needed when RUN_DIR has several).")
    ] = None,
) -> None:
    """Write a run's simulated events as a process-mining event log: one case per deal and
    replication, stages and pool waits and holds as activities with start and complete
    events, real timestamps and pools as resources (pm4py, ProM and Disco read it)."""
    from kamsim.errors import Problem, ScenarioError
    from kamsim.eventlog import export_log as write_log

    try:
        path = write_log(run_dir, format_.value, out, variant)
    except ScenarioError as err:
        raise _fail(err) from None
    except OSError as err:
        raise _fail(ScenarioError([Problem("--out", f"cannot write: {err}")])) from None
    typer.echo(f"wrote {path}")


@app.command()
def calibrate(
    crm: CrmArg,
    out: Annotated[Path, typer.Option(help="The scenario TOML file to write.", show_default=False)],
    map_: MapOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Use only what was known at the end of this date (YYYY-MM-DD)."),
    ] = None,
    report_: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write the fit folder here (estimates, observed against fitted, repairs, "
            "scenario; render it with kamsim report); a name ending in .csv writes only the "
            "estimates as CSV.",
        ),
    ] = None,
) -> None:
    """Fit a scenario to a CRM export: arrivals, deal values, win probability and cycle time
    (censored, competing risks), workload and the calendar effect, each with its 95% interval
    and source; prints the fit and the repair log and writes a runnable scenario. With
    --report FIT_DIR, also the fit folder that kamsim report turns into HTML."""
    from kamsim.calibrate import calibrate as fit
    from kamsim.errors import Problem, ScenarioError
    from kamsim.io import check_output_folder, write_table, write_text

    as_csv = report_ is not None and report_.suffix.lower() == ".csv"
    try:
        if report_ is not None and not as_csv:
            check_output_folder(report_, "--report")
        date = None if as_of is None else _date(as_of)
        if out.is_dir():
            raise ScenarioError([Problem("--out", f"{out} is a folder; name a TOML file")])
        export = _export(crm, map_)
        cal = fit(export, date)
        cal.scenario()
    except ScenarioError as err:
        raise _fail(err) from None
    except (ValueError, ArithmeticError) as err:  # a fit the data cannot support
        problem = Problem("", f"cannot calibrate: {err}", crm.name)
        raise _fail(ScenarioError([problem])) from None
    typer.echo(cal.format())
    for line in cal.repairs:
        typer.echo(line)
    try:
        write_text(cal.toml(), out)
    except OSError as err:
        raise _fail(ScenarioError([Problem("--out", f"cannot write: {err}")])) from None
    try:
        if as_csv and report_ is not None:
            write_table(cal.table(), report_, "csv")
        elif report_ is not None:
            from kamsim.fit_folder import write_fit

            write_fit(export, cal, report_)
    except OSError as err:
        raise _fail(ScenarioError([Problem("--report", f"cannot write: {err}")])) from None
    typer.echo(f"wrote {out}" + (f" and {report_}" if report_ is not None else ""))


@app.command()
def backtest(
    crm: CrmArg,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Forecast from what was known at the end of this date (YYYY-MM-DD); with "
            "--rolling, the first as-of date to use."
        ),
    ] = None,
    horizon: Annotated[str, typer.Option(help="How far ahead: months or days, e.g. 3m.")] = "3m",
    map_: MapOpt = None,
    rolling: Annotated[
        bool, typer.Option(help="Repeat on every month end with 3 months of closes before it.")
    ] = False,
    reps: Annotated[int, typer.Option(min=1, max=MAX_REPS, help="Number of replications.")] = 100,
    seed: SeedOpt = 0,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
    out: Annotated[
        Path | None, typer.Option(help="Write backtest.csv and backtest_summary.csv here.")
    ] = None,
) -> None:
    """Score forecasts made in the past against what happened: calibrate as of --as-of,
    forecast --horizon from the deals open then, and per month compare won deals and bookings
    with the P10-P90 band, the mean's bias and the CRPS, beside a trailing run-rate.
    --rolling repeats this over month ends and says whether kamsim's CRPS is better."""
    from kamsim.backtest import backtest as run_backtest
    from kamsim.backtest import write_backtest
    from kamsim.errors import Problem, ScenarioError
    from kamsim.forecast import parse_horizon

    try:
        date = None if as_of is None else _date(as_of)
        if date is None and not rolling:
            raise ScenarioError([Problem("--as-of", "needed without --rolling")])
        span = parse_horizon(horizon)
        if out is not None and out.exists() and not out.is_dir():
            raise ScenarioError([Problem("--out", f"{out} is a file; name a folder")])
        bt = run_backtest(
            _export(crm, map_), date, span, rolling, reps, seed, workers, progress=not quiet
        )
    except ScenarioError as err:
        raise _fail(err) from None
    except (ValueError, ArithmeticError) as err:  # a fit the data cannot support
        problem = Problem("", f"cannot calibrate: {err}", crm.name)
        raise _fail(ScenarioError([problem])) from None
    typer.echo(bt.format())
    if out is not None:
        try:
            files = write_backtest(bt, out)
        except OSError as err:
            raise _fail(ScenarioError([Problem("--out", f"cannot write: {err}")])) from None
        typer.echo(f"wrote {', '.join(files)} to {out}")


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
