"""Experiments: every (variant, replication) of a comparison, on any executor.

``experiment(variants, reps, seed)`` runs replication r of every variant with the same seed
tree (common random numbers: the same customers and luck), on a local process pool by default
or on any ``concurrent.futures.Executor`` (a Dask ``Client.get_executor()`` works unchanged).
Each task is a pure function of picklable inputs, and results are put in (variant,
replication) order, so the tables are identical whatever the executor or worker count.

The parent keeps only per-replication summaries (the KPIs, the monthly series, and the deals
when asked); with ``out`` each finished replication's full tables go to the run store
(:mod:`kamsim.store`) at once, so a crash loses nothing and memory stays flat.

A variant is a :class:`Scenario`, a scenario file, a bundled name (``"exec-early"``), or a
mapping of overrides applied to ``base``. Labels are a mapping's keys, else scenario names
(overrides: their settings, ``"resources.presales.headcount=10"``).
"""

from __future__ import annotations

import datetime as dt
import os
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from kamsim.intervals import needed
from kamsim.io import load_scenario, manifest_versions, scenario_hash
from kamsim.limits import MAX_REPS, MAX_SEED
from kamsim.model import Rules
from kamsim.pipeline import OpenPipeline
from kamsim.scenario import Scenario
from kamsim.simulation import _check_int, _replicate, check_pipeline, replicate_drawn
from kamsim.store import RunStore, folder_name, write_part
from kamsim.tables import TABLES
from kamsim.uncertainty import drawn_parameters

Variant = Scenario | str | os.PathLike[str] | Mapping[str, Any]
"""A scenario, a scenario file or bundled name, or a mapping of overrides of ``base``."""

SUMMARY_FILE = "summary.csv"
"""Per variant and KPI: mean, interval and spread; in every experiment's output folder."""
PARAMETERS_FILE = "parameters.csv"
"""The settings each replication drew (:meth:`Experiment.parameters`); in the output folder
when a variant has an ``uncertainty`` section."""
KEPT = ("kpis", "kpis_by_year", "timeseries")
"""The tables the parent keeps for every replication (the deals only when asked)."""


@dataclass(frozen=True, repr=False)
class Experiment:
    """The tidy tables of an experiment, each with a ``variant`` column first, in variant
    order then replication order."""

    scenarios: dict[str, Scenario]
    """Each variant's resolved scenario, by label, in order."""
    seed: int
    reps: int
    kpis: pd.DataFrame
    kpis_by_year: pd.DataFrame
    timeseries: pd.DataFrame
    deals: pd.DataFrame | None = None
    failures: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["variant", "replication", "error"])
    )
    """Replications that raised: their variant, replication and error (the others are kept)."""
    note: str = ""
    """With a precision target: whether it was met or the cap on replications was reached."""

    @property
    def labels(self) -> list[str]:
        return list(self.scenarios)

    def variant(self, label: str) -> VariantRun:
        """One variant's tables, as a run of its scenario (what ``kamsim.steady`` and the
        plots read)."""
        if label not in self.scenarios:
            raise ValueError(f"{label!r} is not a variant; the variants are {self.labels}")
        return VariantRun(
            scenario=self.scenarios[label],
            seed=self.seed,
            kpis=self.table_of("kpis", label),
            kpis_by_year=self.table_of("kpis_by_year", label),
            timeseries=self.table_of("timeseries", label),
            deals=None if self.deals is None else self.table_of("deals", label),
        )

    def summary(self) -> pd.DataFrame:
        """Per variant and KPI: mean, its 95% interval and the spread across replications
        (:func:`kamsim.analysis.describe`), with a ``variant`` column first, printed in each
        KPI's format."""
        from kamsim.analysis import KpiTable, describe

        parts = []
        for label in self.labels:
            table = pd.DataFrame(describe(self.table_of("kpis", label)))
            table.insert(0, "variant", label)
            parts.append(table)
        return KpiTable(pd.concat(parts, ignore_index=True))

    def parameters(self) -> pd.DataFrame:
        """The settings each replication of each variant drew from its scenario's
        ``uncertainty`` section (:func:`kamsim.uncertainty.drawn_parameters`), with a
        ``variant`` column first; no rows when no variant has the section."""
        parts = []
        for label, scenario in self.scenarios.items():
            table = drawn_parameters(scenario, self.seed, self.reps)
            table.insert(0, "variant", label)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    def __repr__(self) -> str:
        failed = f", {len(self.failures)} failed" if len(self.failures) else ""
        return (
            f"<Experiment {', '.join(self.labels)}: {self.reps} replication(s) each, "
            f"seed {self.seed}{failed}>"
        )

    def _repr_html_(self) -> str:
        """In a notebook: what was run, then the KPI summary per variant as a table."""
        import html

        table: str = self.summary()._repr_html_()  # type: ignore[operator]
        return f"<p>{html.escape(repr(self))}</p>{table}"

    def table_of(self, name: str, label: str) -> pd.DataFrame:
        """One variant's rows of table ``name`` (``"kpis"``, ``"timeseries"``, ...), without
        the variant column, in replication order."""
        table: pd.DataFrame | None = getattr(self, name)
        if table is None:
            raise ValueError(f"{name}: this experiment did not keep that table")
        return table[table["variant"] == label].drop(columns="variant").reset_index(drop=True)


@dataclass(frozen=True)
class VariantRun:
    """The kept tables of one variant of an experiment: a :class:`kamsim.Result` without the
    events (those stay on disk, in the run store)."""

    scenario: Scenario
    seed: int
    kpis: pd.DataFrame
    kpis_by_year: pd.DataFrame
    timeseries: pd.DataFrame
    deals: pd.DataFrame | None = None


def grid(axes: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """The full factorial of override values, labelled by their settings:
    ``grid({"resources.presales.headcount": [8, 10]})`` ->
    ``{"resources.presales.headcount=8": {...: 8}, ...}``."""
    keys = list(axes)
    out: dict[str, dict[str, Any]] = {}
    for values in product(*(axes[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        out[", ".join(f"{k}={v}" for k, v in point.items())] = point
    return out


def resolve_variants(
    variants: Sequence[Variant] | Mapping[str, Variant], base: Variant | None = None
) -> dict[str, Scenario]:
    """Every variant as a validated scenario, by label, in the order given."""
    base_scenario = None if base is None else _scenario(base, None)
    items: Iterable[tuple[str | None, Variant]]
    if isinstance(variants, Mapping):
        items = variants.items()
    elif isinstance(variants, str | os.PathLike | Scenario):
        raise ValueError("variants: expected a list or a mapping of variants, not one variant")
    else:
        items = ((None, v) for v in variants)
    out: dict[str, Scenario] = {}
    for label, variant in items:
        scenario = _scenario(variant, base_scenario)
        if label is None:
            label = (
                ", ".join(f"{k}={v}" for k, v in variant.items())
                if isinstance(variant, Mapping)
                else scenario.name
            )
        if label in out:
            raise ValueError(f"variants: the label {label!r} is used twice; give a mapping")
        out[label] = scenario
    if not out:
        raise ValueError("variants: at least one variant is needed")
    return out


def _scenario(variant: Variant, base: Scenario | None) -> Scenario:
    if isinstance(variant, Scenario):
        return variant
    if isinstance(variant, str | os.PathLike):
        return load_scenario(variant)
    if isinstance(variant, Mapping):
        if base is None:
            raise ValueError("variants: overrides need a base scenario (base=...)")
        return base.with_overrides(variant)
    raise ValueError(f"variants: cannot make a scenario of a {type(variant).__name__}")


# -- one task ------------------------------------------------------------------------------------

_RULES: dict[str, Rules] = {}
"""Rules built in this process, by scenario hash (settings once per scenario per worker)."""


@dataclass(frozen=True)
class Outcome:
    """What a task hands back: the kept tables of one replication, or its error."""

    label: str
    replication: int
    tables: dict[str, bytes]
    """Each kept table as Arrow IPC bytes (:func:`pack`): a DataFrame, or even an Arrow table,
    costs about 100 kB of fixed overhead per replication (its column objects), the bytes
    about a tenth of that, so thousands of replications' summaries stay small in the parent."""
    error: str | None = None


def pack(table: pd.DataFrame | pa.Table) -> bytes:
    """A table as Arrow IPC stream bytes (schema and pandas metadata included)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def unpack(data: bytes) -> pa.Table:
    """The table :func:`pack` made."""
    return pa.ipc.open_stream(data).read_all()


PACKED_AT_ONCE = 64
"""Replications unpacked together when the tables are stacked: each unpacked table carries the
fixed overhead :class:`Outcome` avoids, so they are combined in groups of this size."""


def replicate(
    label: str,
    scenario: Scenario,
    digest: str,
    seed: int,
    replication: int,
    part: str | None,
    keep_deals: bool,
    pipeline: OpenPipeline | None = None,
) -> Outcome:
    """One replication: run it, write its part when there is a store, return what the parent
    keeps. A failure is returned, not raised, so the other replications carry on."""
    try:
        if scenario.uncertainty:  # settings drawn per replication: rules per replication
            result = replicate_drawn(scenario, seed, replication, pipeline)
        else:
            rules = _RULES.get(digest)
            if rules is None:
                rules = _RULES[digest] = Rules(scenario)
            if pipeline is None:  # the ordinary call, unchanged
                result = _replicate(rules, seed, replication)
            else:
                result = _replicate(rules, seed, replication, pipeline)
        tables = result.tables()
        if part is not None:
            write_part(Path(part), tables)
        kept = (*KEPT, "deals") if keep_deals else KEPT
        return Outcome(
            label,
            replication,
            {name: pack(tables[name]) for name in kept},
        )
    except Exception as err:  # recorded with its replication; the run goes on
        text = "".join(traceback.format_exception_only(type(err), err)).strip()
        return Outcome(label, replication, {}, text)


# -- the experiment -----------------------------------------------------------------------------


def experiment(
    variants: Sequence[Variant] | Mapping[str, Variant],
    reps: int,
    seed: int = 0,
    base: Variant | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | Callable[[int], object] = True,
    deals: bool = False,
    command: str = "experiment",
    precision: float | None = None,
    precision_kpi: str = "bookings",
    max_reps: int = 1000,
    batch: int = 10,
    outputs: Callable[[Experiment], Mapping[str, pd.DataFrame | dict[str, Any]]] | None = None,
    pipeline: OpenPipeline | None = None,
) -> Experiment:
    """Run every (variant, replication) and return the tidy tables (see the module docstring).

    ``executor``: any ``concurrent.futures.Executor``; by default a process pool of
    ``workers`` processes (all cores), or this process alone when ``workers`` is 1.
    ``out``: a folder for the run store; ``resume`` continues a killed run there.
    ``progress``: a progress bar (True), none (False), or a callable given 1 per replication.
    ``precision``: after ``reps``, add replications (at least ``batch`` at a time, at most
    ``max_reps`` in all) until the 95% half-width of ``precision_kpi``'s mean is below this
    share of the mean in every variant; ``Experiment.note`` says whether it was met or the
    cap was reached.
    ``outputs``: with ``out``, files the command adds to the folder (name -> a table, written
    as CSV, or a dict, written as JSON), made from the finished experiment and written before
    the folder replaces ``out``, so the folder appears complete or not at all. ``summary.csv``
    (:meth:`Experiment.summary`) is always written.
    ``pipeline``: every replication of every variant starts from these open deals on their
    as-of date (:mod:`kamsim.pipeline`); it must fit every variant, and the manifest's plan
    records its as-of date, size and digest.
    """
    _check_int("reps", reps, 1, MAX_REPS)
    _check_int("seed", seed, 0, MAX_SEED)
    if workers is not None:
        _check_int("workers", workers, 1, 4096)
    if precision is not None:
        if not 0 < precision < 1:
            raise ValueError(f"precision: {precision} must lie in (0, 1)")
        _check_int("max_reps", max_reps, reps, MAX_REPS)
        _check_int("batch", batch, 1, MAX_REPS)
    scenarios = resolve_variants(variants, base)
    for scenario in scenarios.values():
        check_pipeline(pipeline, scenario)
    digests = {label: scenario_hash(s) for label, s in scenarios.items()}
    folders = {label: folder_name(label) for label in scenarios}
    if len(set(folders.values())) != len(folders):
        raise ValueError("variants: two labels map to the same folder name; rename one")
    plan = {
        "command": command,
        "seed": seed,
        "replications": reps,
        "precision": None
        if precision is None
        else {"target": precision, "kpi": precision_kpi, "max_reps": max_reps, "batch": batch},
        "variants": [
            {"label": k, "folder": folders[k], "scenario_hash": digests[k]} for k in scenarios
        ],
    }
    if pipeline is not None:
        plan["pipeline"] = {
            "as_of": pipeline.as_of.isoformat(),
            "deals": len(pipeline),
            "digest": pipeline.digest(),
        }
    store = None if out is None else RunStore(Path(out), plan, resume)
    outcomes: dict[tuple[str, int], Outcome] = {}

    def args(label: str, r: int) -> tuple[Any, ...]:
        part = None if store is None else str(store.part(folders[label], r))
        return (label, scenarios[label], digests[label], seed, r, part, deals, pipeline)

    def run_range(first: int, last: int) -> None:
        """Replications first..last-1 of every variant: read back from the store, or run."""
        todo: list[tuple[str, int]] = []
        for label in scenarios:
            for r in range(first, last):
                if store is not None and store.finished(folders[label], r):
                    names = (*KEPT, "deals") if deals else KEPT
                    tables = {n: pack(store.read_arrow(folders[label], r, n)) for n in names}
                    outcomes[(label, r)] = Outcome(label, r, tables)
                else:
                    todo.append((label, r))
        tick = _ticker(progress, len(todo), len(scenarios) * (last - first) - len(todo))
        try:
            if executor is None and (workers == 1 or len(todo) <= 1):
                for label, r in todo:
                    outcomes[(label, r)] = replicate(*args(label, r))
                    tick()
            else:
                pool = executor or ProcessPoolExecutor(max_workers=workers or os.cpu_count())
                try:
                    futures: list[Future[Outcome]] = [
                        pool.submit(replicate, *args(label, r)) for label, r in todo
                    ]
                    for future in as_completed(futures):
                        outcome = future.result()
                        outcomes[(outcome.label, outcome.replication)] = outcome
                        tick()
                finally:
                    if executor is None:
                        pool.shutdown(cancel_futures=True)
        finally:
            tick.close()

    done = reps
    run_range(0, done)
    note = ""
    while precision is not None:
        total, note = _more_needed(outcomes, scenarios, done, precision, precision_kpi)
        if total is None:
            break
        grown = min(max_reps, max(total, done + batch))
        if grown <= done:
            note = (
                f"{precision_kpi}: the cap of {max_reps} replications was reached before a "
                f"relative half-width of {precision:.1%}"
            )
            break
        run_range(done, grown)
        done = grown
    failures = [o for o in outcomes.values() if o.error is not None]
    if store is not None:
        for o in failures:
            store.write_error(
                folders[o.label],
                o.replication,
                {"variant": o.label, "seed": seed, "replication": o.replication, "error": o.error},
            )
    result = _assemble(scenarios, seed, done, outcomes, deals, note)
    if store is not None:
        for label in scenarios:
            kept = [r for r in range(done) if outcomes[(label, r)].error is None]
            store.merge(folders[label], kept)
        files: dict[str, pd.DataFrame | dict[str, Any]] = {SUMMARY_FILE: result.summary()}
        drawn = result.parameters()
        if len(drawn):
            files[PARAMETERS_FILE] = drawn
        files.update(outputs(result) if outputs is not None else {})
        store.finish(_manifest(plan, scenarios, outcomes, folders), files)
    return result


def _more_needed(
    outcomes: dict[tuple[str, int], Outcome],
    scenarios: dict[str, Scenario],
    done: int,
    precision: float,
    kpi: str,
) -> tuple[int | None, str]:
    """Replications every variant's ``kpi`` needs for the precision asked (None: met), and
    what to say about it."""
    totals = []
    for label in scenarios:
        values = [
            float(unpack(outcomes[(label, r)].tables["kpis"]).column(kpi)[0].as_py())
            for r in range(done)
            if outcomes[(label, r)].error is None
        ]
        need = needed(values, precision)
        if need.met:
            continue
        totals.append(need.total if need.total is not None else done)
    if not totals:
        return None, (f"{kpi}: relative half-width below {precision:.1%} after {done} replications")
    return max(totals), ""


class _Tick:
    def __init__(self, bar: Any, call: Callable[[int], object] | None) -> None:
        self.bar, self.call = bar, call

    def __call__(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if self.call is not None:
            self.call(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _ticker(progress: bool | Callable[[int], object], total: int, done: int) -> _Tick:
    if callable(progress):
        return _Tick(None, progress)
    if not progress:
        return _Tick(None, None)
    from tqdm.auto import tqdm  # a bar in terminals and notebooks alike

    return _Tick(
        tqdm(total=total + done, initial=done, desc="replications", unit="rep", leave=False),
        None,
    )


def _assemble(
    scenarios: dict[str, Scenario],
    seed: int,
    reps: int,
    outcomes: dict[tuple[str, int], Outcome],
    deals: bool,
    note: str = "",
) -> Experiment:
    labels = list(scenarios)
    variant_type = pd.CategoricalDtype(labels, ordered=True)

    def stack(name: str) -> pd.DataFrame:
        parts = []
        for label in labels:
            mine = [
                outcomes[(label, r)].tables[name]
                for r in range(reps)
                if outcomes[(label, r)].error is None
            ]
            if mine:
                groups = [
                    pa.concat_tables(
                        [unpack(b) for b in mine[i : i + PACKED_AT_ONCE]]
                    ).combine_chunks()
                    for i in range(0, len(mine), PACKED_AT_ONCE)
                ]
                table = pa.concat_tables(groups).to_pandas()
                variant = pd.Series([label] * len(table), dtype=variant_type)
                table.insert(0, "variant", variant)
                parts.append(table)
        if not parts:
            return pd.DataFrame({"variant": pd.Categorical([], dtype=variant_type)})
        return _concat_keeping_categories(parts)

    failures = pd.DataFrame(
        [
            {"variant": o.label, "replication": o.replication, "error": o.error}
            for o in sorted(outcomes.values(), key=lambda o: (labels.index(o.label), o.replication))
            if o.error is not None
        ],
        columns=["variant", "replication", "error"],
    )
    return Experiment(
        scenarios=dict(scenarios),
        seed=seed,
        reps=reps,
        kpis=stack("kpis"),
        kpis_by_year=stack("kpis_by_year"),
        timeseries=stack("timeseries"),
        deals=stack("deals") if deals else None,
        failures=failures,
        note=note,
    )


def _concat_keeping_categories(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack tables whose categorical columns may have different categories (variants with
    different exit reasons): union the categories first, so nothing turns into strings."""
    for column in frames[0].columns:
        dtypes = [f[column].dtype for f in frames if column in f]
        cats = [d for d in dtypes if isinstance(d, pd.CategoricalDtype)]
        if len(cats) == len(dtypes):
            categories: list[Any] = []
            for d in cats:
                categories += [c for c in d.categories if c not in categories]
            ordered = bool(cats[0].ordered)
            union = pd.CategoricalDtype(categories, ordered=ordered)
            for f in frames:
                f[column] = f[column].astype(union)
    return pd.concat(frames, ignore_index=True)


def _manifest(
    plan: dict[str, Any],
    scenarios: dict[str, Scenario],
    outcomes: dict[tuple[str, int], Outcome],
    folders: dict[str, str],
) -> dict[str, Any]:
    parts = [
        {
            "variant": o.label,
            "replication": o.replication,
            "status": "failed" if o.error else "done",
            **({"error": o.error} if o.error else {}),
        }
        for o in sorted(outcomes.values(), key=lambda o: (o.label, o.replication))
    ]
    return {
        "plan": plan,
        "status": "failed" if any(o.error for o in outcomes.values()) else "complete",
        "scenarios": {
            label: s.model_dump(mode="json", by_alias=True) for label, s in scenarios.items()
        },
        "tables": {folders[label]: [t.file for t in TABLES.values()] for label in scenarios},
        "parts": parts,
        "versions": manifest_versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
