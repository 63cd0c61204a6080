"""Speed benchmark: kamsim against a hand-written SimPy model of the same toy workload.

    python benchmarks/run.py               # 7 interleaved rounds, about a minute on 2 cores
    python benchmarks/run.py --quick       # smoke run: 3 rounds, one baseline replication
    python benchmarks/run.py --rounds 15   # more rounds, tighter medians

Each round runs ``bare_simpy.run(seed)`` and kamsim on ``toy.toml`` with the same seed, in
alternating order, after a ``gc.collect()``; one untimed warm-up of each comes first. kamsim's
time is ``kamsim.simulate()`` (engine run plus building all four result tables) and a touch of
each of the four DataFrames; loading the scenario file is not timed (as bare SimPy's model
definition is not). Both models must then agree with each other and with the closed form
(visits per deal and signed share within ``--level`` Student-t intervals over the rounds),
otherwise the script exits 1. Then one replication of ``scenarios/baseline.toml`` is timed
(median of ``--baseline-reps``) and, in a separate untimed run, its tracemalloc peak is taken.
The ``kamsim --help`` command is timed in a fresh process (median of ``--cli-runs``), and,
except with ``--quick``, ``--parallel-reps`` toy replications are run once one after another
and once spread over every core with ``concurrent.futures.ProcessPoolExecutor`` (both must
give the same KPIs).

The last lines are always, in this order (``parallel_speedup`` is left out with ``--quick``)::

    toy_bare_ms=<median ms of bare SimPy>
    toy_kamsim_ms=<median ms of kamsim>
    toy_ratio=<median of the per-round ratios kamsim / bare>
    baseline_rep_s=<median s of one baseline replication>
    baseline_peak_mb=<tracemalloc peak of one baseline replication, 10^6 bytes>
    cli_help_s=<median wall s of `kamsim --help` in a new process>
    parallel_speedup=<serial / parallel wall time of the toy replications>
    sweep_100_peak_mb=<peak resident memory of the parent of a 100-replication experiment>
    sweep_1000_peak_mb=<the same for 1,000 replications (target: at most 1.2x the first)>

The sweep figures (also left out with ``--quick``) run ``kamsim.experiment`` on the toy
scenario with an output folder, in a fresh process each, and read that process's peak resident
set size: the parent keeps per-replication summaries and the full tables go to disk, so memory
should stay flat as replications grow.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

import kamsim
from kamsim.analysis import half_width

HERE = Path(__file__).resolve().parent
TOY = HERE / "toy.toml"
BASELINE = HERE.parent / "scenarios" / "baseline.toml"

PASS = 0.8
EXPECTED_VISITS = sum(PASS**k for k in range(6))
"""Stage visits per deal: a deal makes visit k+1 if it passed k stages (3.689)."""
EXPECTED_SIGNED = PASS**5
"""Share of deals that pass the five stages up to and including negotiation (0.328)."""
EXPECTED_COMPLETED = PASS**6
"""Share of deals that also pass implementation (0.262)."""

WARMUP_SEED = 10_000
BASELINE_SEED = 1
PARALLEL_SEED = 1
CLI_HELP = "from kamsim.cli import main; main()"
"""What the ``kamsim`` console script runs, so the command is this checkout's."""

T = TypeVar("T")


def load_bare_simpy() -> ModuleType:
    """``benchmarks/bare_simpy.py`` as a module (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("bare_simpy", HERE / "bare_simpy.py")
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError("cannot load bare_simpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True, slots=True)
class ToyStats:
    """Per-replication figures of the toy, computed the same way for both models."""

    deals: int
    visits_per_deal: float
    signed_share: float
    completed_share: float


def bare_stats(counts: dict[str, int]) -> ToyStats:
    """Figures of one ``bare_simpy.run`` result."""
    n = counts["deals"]
    return ToyStats(n, counts["visits"] / n, counts["signed"] / n, counts["completed"] / n)


def kamsim_stats(result: kamsim.Result) -> ToyStats:
    """Figures of one kamsim replication, read from its tables.

    Stage visits are the ``events`` rows without a pool; signed deals have ``outcome == "won"``;
    a deal completed implementation if it has an ``accepted_at`` time.
    """
    deals, events = result.deals, result.events
    n = len(deals)
    if (deals["outcome"] == "open").any():
        raise AssertionError("the toy drains: no deal may end open")
    visits = int(events["pool"].isna().sum())
    signed = int((deals["outcome"] == "won").sum())
    completed = int(deals["accepted_at"].notna().sum())
    return ToyStats(n, visits / n, signed / n, completed / n)


def run_bare(bare: ModuleType, seed: int) -> dict[str, int]:
    """What bare SimPy is timed on: one replication, aggregate counters."""
    counts: dict[str, int] = bare.run(seed)
    return counts


def run_kamsim(scenario: kamsim.Scenario, seed: int, replication: int = 0) -> kamsim.Result:
    """What kamsim is timed on: one replication with all four tables built and touched."""
    result = kamsim.simulate(scenario, seed=seed, replication=replication)
    for table in result.tables().values():
        _ = table.shape
    return result


@dataclass(frozen=True, slots=True)
class Check:
    """One agreement check: ``|a - b| <= hw`` (both means, and the combined half-width)."""

    name: str
    a: float
    b: float
    hw: float

    @property
    def ok(self) -> bool:
        return abs(self.a - self.b) <= self.hw

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        return f"  {self.name:<36} {self.a:.4f} vs {self.b:.4f} (limit {self.hw:.4f}) {verdict}"


def agreement_checks(
    bare: Sequence[ToyStats], kam: Sequence[ToyStats], level: float
) -> list[Check]:
    """Each model against the closed form, and the two models against each other.

    A model meets an expected value if it lies in the model's ``level`` Student-t interval over
    replications; the two models agree if their difference lies within the combined half-width
    sqrt(hw_bare^2 + hw_kamsim^2) (the models draw from unrelated generators, so they are
    independent).
    """
    checks: list[Check] = []
    for field, expected in (
        ("visits_per_deal", EXPECTED_VISITS),
        ("signed_share", EXPECTED_SIGNED),
    ):
        b = np.array([getattr(s, field) for s in bare], dtype=float)
        k = np.array([getattr(s, field) for s in kam], dtype=float)
        mb, mk = float(b.mean()), float(k.mean())
        hb, hk = half_width(b, level), half_width(k, level)
        checks.append(Check(f"bare {field} vs expected", mb, expected, hb))
        checks.append(Check(f"kamsim {field} vs expected", mk, expected, hk))
        checks.append(Check(f"bare vs kamsim {field}", mb, mk, math.hypot(hb, hk)))
    return checks


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
"""``wall``: elapsed time (the default); ``cpu``: this process's CPU time, which ignores the
time the process waits while other processes use the cores (steadier on a shared machine)."""


def timed(fn: Callable[[], T], clock: Callable[[], float] = time.perf_counter) -> tuple[T, float]:
    """``fn()`` and the seconds it took on ``clock``, after a full garbage collection."""
    gc.collect()
    t0 = clock()
    value = fn()
    return value, clock() - t0


def cli_help_seconds(runs: int) -> float:
    """Median wall seconds of ``kamsim --help`` in a new Python process (interpreter start
    included, as a user waits for it), importing the same kamsim as this process."""
    src = str(Path(kamsim.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CLI_HELP, "--help"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0 or "Usage" not in proc.stdout:
            raise RuntimeError(f"kamsim --help failed: {proc.stderr.strip()}")
    return statistics.median(times)


_worker_scenario: kamsim.Scenario | None = None


def _load_worker(path: Path) -> None:
    """Each worker process loads the scenario once."""
    global _worker_scenario
    _worker_scenario = kamsim.load_scenario(path)


def _worker_kpis(replication: int) -> Any:
    """One replication in a worker process; its KPI row goes back (not the large tables)."""
    assert _worker_scenario is not None, "the pool's initializer loads the scenario"
    return kamsim.simulate(_worker_scenario, seed=PARALLEL_SEED, replication=replication).kpis


def parallel_speedup(path: Path, reps: int, workers: int) -> tuple[float, float]:
    """Serial and parallel wall seconds of ``reps`` replications of ``path``: one after
    another in this process, then spread over ``workers`` processes (the pool's start
    included). Both runs must give the same KPIs."""
    scenario = kamsim.load_scenario(path)
    t0 = time.perf_counter()
    serial = [
        kamsim.simulate(scenario, seed=PARALLEL_SEED, replication=r).kpis for r in range(reps)
    ]
    t1 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_load_worker, initargs=(path,)) as pool:
        parallel = list(pool.map(_worker_kpis, range(reps)))
    t2 = time.perf_counter()
    for a, b in zip(serial, parallel, strict=True):
        if not a.equals(b):
            raise AssertionError("a replication run in a worker process gave other KPIs")
    return t1 - t0, t2 - t1


SWEEP = """
import resource, sys, tempfile
from kamsim.experiment import experiment
with tempfile.TemporaryDirectory() as tmp:
    experiment([sys.argv[1]], reps=int(sys.argv[2]), workers=int(sys.argv[3]), out=tmp + "/run",
               progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def sweep_peak_mb(path: Path, reps: int, workers: int) -> float:
    """Peak resident memory (10^6 bytes) of a fresh process running an experiment of ``reps``
    replications of ``path`` with an output folder; Linux reports ru_maxrss in KiB."""
    src = str(Path(kamsim.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", SWEEP, str(path), str(reps), str(workers)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep benchmark failed: {proc.stderr.strip()}")
    return int(proc.stdout.strip().splitlines()[-1]) * 1024 / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--seed", type=int, default=1, help="seed of round 0 (round r: seed+r)")
    parser.add_argument(
        "--baseline-reps", type=int, default=5, help="timed baseline replications (default 5)"
    )
    parser.add_argument(
        "--baseline", type=Path, default=BASELINE, help="scenario timed as the baseline"
    )
    parser.add_argument(
        "--level", type=float, default=0.99, help="confidence level of the checks (default 0.99)"
    )
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall", help="what to time (default wall)"
    )
    parser.add_argument(
        "--cli-runs", type=int, default=5, help="timed runs of kamsim --help (default 5)"
    )
    parser.add_argument(
        "--parallel-reps",
        type=int,
        default=100,
        help="toy replications of the parallel speed-up (default 100)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (all cores)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 3 rounds, 1 baseline replication, no parallel speed-up",
    )
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    baseline_reps = 1 if args.quick else args.baseline_reps
    cli_runs = 3 if args.quick else args.cli_runs
    if rounds < 2 or baseline_reps < 1:
        parser.error("need at least 2 rounds and 1 baseline replication")
    if cli_runs < 1 or args.parallel_reps < 1 or args.workers < 1:
        parser.error("need at least 1 CLI run, 1 parallel replication and 1 worker")

    bare = load_bare_simpy()
    toy = kamsim.load_scenario(TOY)

    # Warm-up (imports, first-call caches), untimed.
    run_bare(bare, WARMUP_SEED)
    run_kamsim(toy, WARMUP_SEED)

    bare_s: list[float] = []
    kamsim_s: list[float] = []
    bare_figs: list[ToyStats] = []
    kamsim_figs: list[ToyStats] = []
    clock = CLOCKS[args.clock]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"toy: {rounds} rounds, seeds {args.seed}..{args.seed + rounds - 1}, {args.clock} clock, "
        f"{os.cpu_count()} cores, load average {load}"
    )
    for r in range(rounds):
        seed = args.seed + r

        def do_bare(seed: int = seed) -> dict[str, int]:
            return run_bare(bare, seed)

        def do_kamsim(seed: int = seed) -> kamsim.Result:
            return run_kamsim(toy, seed)

        # Alternate who goes first, so neither always runs on a freshly collected heap.
        if r % 2 == 0:
            (counts, tb), (result, tk) = timed(do_bare, clock), timed(do_kamsim, clock)
        else:
            (result, tk), (counts, tb) = timed(do_kamsim, clock), timed(do_bare, clock)
        bare_s.append(tb)
        kamsim_s.append(tk)
        sb, sk = bare_stats(counts), kamsim_stats(result)
        bare_figs.append(sb)
        kamsim_figs.append(sk)
        print(
            f"  round {r}: bare {tb * 1e3:7.1f} ms  kamsim {tk * 1e3:7.1f} ms  "
            f"ratio {tk / tb:.3f}  deals {sb.deals}/{sk.deals}  "
            f"visits/deal {sb.visits_per_deal:.3f}/{sk.visits_per_deal:.3f}  "
            f"signed {sb.signed_share:.3f}/{sk.signed_share:.3f}"
        )

    checks = agreement_checks(bare_figs, kamsim_figs, args.level)
    print(f"checks ({args.level:.0%} intervals over {rounds} rounds):")
    for check in checks:
        print(check)

    baseline = kamsim.load_scenario(args.baseline)
    run_kamsim(baseline, WARMUP_SEED)  # warm-up
    baseline_s = [
        timed(partial(run_kamsim, baseline, BASELINE_SEED, r), clock)[1]
        for r in range(baseline_reps)
    ]

    # Memory in its own run: tracemalloc slows allocation, so it never overlaps timing.
    gc.collect()
    tracemalloc.start()
    try:
        run_kamsim(baseline, BASELINE_SEED, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    help_s = cli_help_seconds(cli_runs)
    speedup = None
    sweep_mb: list[float] = []
    if not args.quick:
        sweep_mb = [sweep_peak_mb(TOY, n, args.workers) for n in (100, 1000)]
        serial_s, parallel_s = parallel_speedup(TOY, args.parallel_reps, args.workers)
        speedup = serial_s / parallel_s
        print(
            f"parallel: {args.parallel_reps} toy replications, serial {serial_s:.1f} s, "
            f"{args.workers} workers {parallel_s:.1f} s"
        )

    ratios = [k / b for k, b in zip(kamsim_s, bare_s, strict=True)]
    failed = [c for c in checks if not c.ok]
    if failed:
        print(f"correctness checks failed: {len(failed)} of {len(checks)}", file=sys.stderr)
    print(f"toy_bare_ms={statistics.median(bare_s) * 1e3:.1f}")
    print(f"toy_kamsim_ms={statistics.median(kamsim_s) * 1e3:.1f}")
    print(f"toy_ratio={statistics.median(ratios):.3f}")
    print(f"baseline_rep_s={statistics.median(baseline_s):.4f}")
    print(f"baseline_peak_mb={peak / 1e6:.1f}")
    print(f"cli_help_s={help_s:.3f}")
    if speedup is not None:
        print(f"parallel_speedup={speedup:.2f}")
    if sweep_mb:
        print(f"sweep_100_peak_mb={sweep_mb[0]:.1f}")
        print(f"sweep_1000_peak_mb={sweep_mb[1]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
