"""Compare ``baseline_rep_s`` of two kamsim checkouts, interleaved replication by replication.

    git worktree add --detach /tmp/old <commit>
    python benchmarks/compare.py /tmp/old/src src            # 40 rounds, CPU clock
    python benchmarks/compare.py /tmp/old/src src --rounds 80 --clock wall

One worker process per checkout (``PYTHONPATH`` set to its ``src`` folder) loads the scenario
and runs one untimed replication; then, round after round, the parent asks each worker in turn
(alternating who goes first) to time one replication exactly as ``run.py`` times
``baseline_rep_s``: after a ``gc.collect()``, ``kamsim.simulate`` plus a touch of every table,
seed 1, replication ``round % 20``. Both checkouts thus share every spell of load on a noisy
machine. Prints the medians, their change and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE = HERE.parent / "scenarios" / "baseline.toml"
SEED = 1
WARMUP_REPLICATION = 10_000


def worker(scenario: Path, clock_name: str) -> None:
    """Serve timing requests on stdin: a replication number in, its seconds out."""
    import gc
    import time

    import kamsim

    loaded = kamsim.load_scenario(scenario)
    clock = time.process_time if clock_name == "cpu" else time.perf_counter

    def one(replication: int) -> None:
        result = kamsim.simulate(loaded, seed=SEED, replication=replication)
        for table in result.tables().values():
            _ = table.shape

    one(WARMUP_REPLICATION)
    print("ready", flush=True)
    for line in sys.stdin:
        replication = int(line)
        gc.collect()
        t0 = clock()
        one(replication)
        print(clock() - t0, flush=True)


def _start(src: Path, scenario: Path, clock: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--scenario", str(scenario), "--clock", clock],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the worker for {src} did not start")
    return proc


def _time(proc: subprocess.Popen[str], replication: int) -> float:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{replication}\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0] if __doc__ else "")
    parser.add_argument("old", type=Path, nargs="?", help="src folder of the old checkout")
    parser.add_argument("new", type=Path, nargs="?", help="src folder of the new checkout")
    parser.add_argument("--rounds", type=int, default=40, help="rounds (default 40)")
    parser.add_argument("--scenario", type=Path, default=BASELINE, help="scenario timed")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="default cpu")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.scenario, args.clock)
        return 0
    if args.old is None or args.new is None or args.rounds < 1:
        parser.error("give the old and the new src folder and at least 1 round")

    procs = {"old": _start(args.old, args.scenario, args.clock)}
    procs["new"] = _start(args.new, args.scenario, args.clock)
    times: dict[str, list[float]] = {"old": [], "new": []}
    try:
        for r in range(args.rounds):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                times[name].append(_time(procs[name], r % 20))
    finally:
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    ratios = [n / o for o, n in zip(times["old"], times["new"], strict=True)]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.rounds} rounds, {args.clock} clock, load average now {load}")
    print(f"baseline_rep_s old={old:.4f} new={new:.4f} change={new / old - 1:+.1%}")
    print(f"median of the per-round ratios new/old - 1: {statistics.median(ratios) - 1:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
