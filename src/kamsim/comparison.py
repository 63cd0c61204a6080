"""Policy B against policy A: per KPI, both means, the paired difference with its interval, the
relative change and how often the variant did better.

Replication r of every variant of an experiment meets the same customers and luck, so the
difference is taken replication by replication (:func:`kamsim.analysis.paired_difference`).
With several variants against one base the intervals are widened for the multiple comparisons
(Bonferroni: each at level 1 - 0.05 / k), and the table says so in its ``level`` column.
"Did better" follows each KPI's direction in the registry (:data:`kamsim.kpis.KPIS`); a KPI
that is better neither way has no share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kamsim import kpis as registry
from kamsim.analysis import format_kpi, paired_difference
from kamsim.experiment import Experiment
from kamsim.flips import Flips, deal_flips
from kamsim.results import Result

COLUMNS = (
    "variant",
    "kpi",
    "base",
    "variant_mean",
    "difference",
    "low",
    "high",
    "relative",
    "better_share",
    "n",
    "level",
)


def compare(result: Experiment, base: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Every other variant of ``result`` against ``base`` (default: the first variant)."""
    labels = result.labels
    base = labels[0] if base is None else base
    if base not in labels:
        raise ValueError(f"base: {base!r} is not a variant of this experiment ({labels})")
    others = [label for label in labels if label != base]
    if not others:
        raise ValueError("compare: an experiment needs a variant beside the base")
    wide = 1 - (1 - level) / len(others)
    reference = result.table_of("kpis", base)
    rows = []
    for label in others:
        variant = result.table_of("kpis", label)
        table = paired_difference(variant, reference, level=wide).set_index("kpi")
        for kpi, row in table.iterrows():
            entry = registry.lookup(str(kpi))
            a = reference[kpi].to_numpy(dtype=float)
            b = variant[kpi].to_numpy(dtype=float)
            base_mean = float(np.nanmean(a)) if np.isfinite(a).any() else np.nan
            better = np.nan
            if entry is not None and entry.better is not None:
                ok = np.isfinite(a) & np.isfinite(b)
                if ok.any():
                    sign = 1.0 if entry.better == "higher" else -1.0
                    better = float(np.mean(sign * (b[ok] - a[ok]) > 0))
            rows.append(
                {
                    "variant": label,
                    "kpi": kpi,
                    "base": base_mean,
                    "variant_mean": float(np.nanmean(b)) if np.isfinite(b).any() else np.nan,
                    "difference": float(row["mean"]),
                    "low": float(row["low"]),
                    "high": float(row["high"]),
                    "relative": float(row["mean"]) / base_mean
                    if base_mean and np.isfinite(base_mean)
                    else np.nan,
                    "better_share": better,
                    "n": int(row["n"]),
                    "level": wide,
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def flips(result: Experiment, base: str | None = None) -> dict[str, Flips]:
    """Which deals flipped, for every other variant against ``base`` (the experiment must
    keep its deals: ``experiment(..., deals=True)``)."""
    if result.deals is None:
        raise ValueError("flips: run the experiment with deals=True to compare deal by deal")
    labels = result.labels
    base = labels[0] if base is None else base
    reference = _as_result(result, base)
    return {
        label: deal_flips(reference, _as_result(result, label)) for label in labels if label != base
    }


def _as_result(result: Experiment, label: str) -> Result:
    """One variant's kept tables as a :class:`Result` (events are not kept in memory)."""
    return Result(
        result.scenarios[label],
        result.seed,
        deals=result.table_of("deals", label),
        events=pd.DataFrame(),
        timeseries=result.table_of("timeseries", label),
        kpis=result.table_of("kpis", label),
        kpis_by_year=result.table_of("kpis_by_year", label),
    )


def format_comparison(table: pd.DataFrame, base: str, currency: str) -> str:
    """The comparison as aligned text, one block per variant."""
    lines: list[str] = []
    for label, rows in table.groupby("variant", sort=False, observed=True):
        level = float(rows["level"].iloc[0])
        note = ""
        k = table["variant"].nunique()
        if k > 1:
            note = f" (intervals at {level:.2%}: Bonferroni for {k} comparisons)"
        lines.append(f"{label} vs {base}, paired, {int(rows['n'].iloc[0])} replications{note}")
        width = max(len("kpi"), *(len(_label(str(k_), currency)) for k_ in rows["kpi"]))
        lines.append(
            f"{'kpi':<{width}} {'base':>16} {'variant':>16} {'difference':>16} "
            f"{'interval':>34} {'change':>8} {'better':>7}"
        )
        for r in rows.to_dict("records"):
            kpi = str(r["kpi"])
            interval = (
                "-"
                if np.isnan(r["low"])
                else f"[{format_kpi(kpi, r['low'])}, {format_kpi(kpi, r['high'])}]"
            )
            change = "-" if np.isnan(r["relative"]) else f"{100 * r['relative']:+.1f}%"
            better = "-" if np.isnan(r["better_share"]) else f"{100 * r['better_share']:.0f}%"
            lines.append(
                f"{_label(kpi, currency):<{width}} {format_kpi(kpi, r['base']):>16} "
                f"{format_kpi(kpi, r['variant_mean']):>16} "
                f"{format_kpi(kpi, r['difference']):>16} {interval:>34} {change:>8} {better:>7}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def _label(kpi: str, currency: str) -> str:
    entry = registry.lookup(kpi)
    return f"{kpi} ({currency})" if entry and entry.unit == "currency" else kpi
