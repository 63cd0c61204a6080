"""Statistics over replications: means with Student-t confidence intervals.

Depends on pandas and scipy only, so experiments, reports and tests share one definition of
an error bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def half_width(values: pd.Series | np.ndarray, level: float = 0.95) -> float:
    """Half-width of the t confidence interval of the mean (NaN with fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return float("nan")
    t = float(stats.t.ppf(0.5 + level / 2, len(x) - 1))
    return t * float(x.std(ddof=1)) / float(np.sqrt(len(x)))


def summarise(kpis: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per KPI: n, mean, half-width, low and high of the ``level`` interval."""
    rows = []
    for col in kpis.columns:
        if col in ("replication", "seed"):
            continue
        x = kpis[col].astype(float)
        mean = float(x.mean())
        hw = half_width(x, level)
        rows.append(
            {
                "kpi": col,
                "n": int(x.notna().sum()),
                "mean": mean,
                "half_width": hw,
                "low": mean - hw,
                "high": mean + hw,
            }
        )
    return pd.DataFrame(rows)


def paired_difference(
    variant: pd.DataFrame, reference: pd.DataFrame, level: float = 0.95
) -> pd.DataFrame:
    """Mean variant - reference per KPI over paired replications, with its t interval.

    Both tables are ``kpis`` of the same replications and seed (common random numbers), so the
    pairs share customers and luck and the difference's interval is much narrower than the
    two separate intervals.
    """
    a = variant.set_index("replication").sort_index()
    b = reference.set_index("replication").sort_index()
    if not a.index.equals(b.index):
        raise ValueError("paired comparison needs the same replications in both tables")
    return summarise((a - b).drop(columns=["seed"], errors="ignore").reset_index(), level)
