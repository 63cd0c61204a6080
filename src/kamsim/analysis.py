"""Statistics over replications: means with Student-t confidence intervals.

Depends on pandas, scipy and the KPI registry (:mod:`kamsim.kpis`) only, so experiments,
reports and tests share one definition of an error bar and one way of printing a KPI's value
(:func:`format_kpi`, in the format the registry gives each KPI).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from kamsim import kpis as registry
from kamsim.kpis import FormatKind

_KEYS = ("seed", "replication")
_STATISTICS = ("mean", "half_width", "low", "high")
_SHOWN = 4  # pairs listed in a "not paired" message


def _plain(x: float) -> str:
    """A value of no known KPI: thousands separators, no exponent, about 3 significant digits
    below 1."""
    if abs(x) >= 1000:
        decimals = 0
    elif abs(x) >= 1 or x == 0:
        decimals = 2
    else:
        decimals = min(12, 2 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals) + 0.0:,.{decimals}f}"


# Adding 0.0 to the rounded value turns -0.0 into 0.0: no "-0.0%" for a tiny negative.
_FORMATS: dict[FormatKind, Callable[[float], str]] = {
    "money": lambda x: f"{round(x) + 0.0:,.0f}",
    "percent": lambda x: f"{round(100 * x, 1) + 0.0:,.1f}%",
    "decimal": lambda x: f"{round(x, 1) + 0.0:,.1f}",
    "plain": _plain,
}


def format_kpi(kpi: str, value: float) -> str:
    """``value`` of the KPI named ``kpi`` as text, the one number format of reports.

    The format is the KPI's in the registry (:data:`kamsim.kpis.KPIS`): ``percent`` (rates,
    shares) as percentages with one decimal; ``decimal`` (deal counts, days; means over
    replications) with one decimal; ``money`` as whole amounts with thousands separators.
    Names that are not registered KPIs get thousands separators and a few significant digits.
    Never an exponent. A missing value (NaN, an undefined KPI) is ``-``. A difference or
    half-width of a rate is in percentage points and is printed the same way.
    """
    x = float(value)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    entry = registry.lookup(kpi)
    return _FORMATS[entry.format if entry else "plain"](x)


class KpiTable(pd.DataFrame):
    """A pandas DataFrame with one row per KPI that prints each number in its KPI's format.

    The data stay ordinary numbers (``mean``, ``half_width``, ``low`` and ``high`` are float,
    ``n`` is an integer): computation, ``to_dict`` and ``pandas.testing`` see a DataFrame.
    Only ``repr``, ``str``, ``to_string`` and the notebook's HTML use :func:`format_kpi`, for
    every row whose KPI name is in the ``kpi`` column or in an index named ``kpi``. Slicing
    and most methods keep the class; ``pd.DataFrame(table)`` gives a plain DataFrame.
    """

    @property
    def _constructor(self) -> Callable[..., KpiTable]:
        return KpiTable

    def formatted(self) -> pd.DataFrame:
        """A plain DataFrame of the same shape with the numbers as text, for display."""
        plain = pd.DataFrame(self)
        if "kpi" in plain.columns:
            names = [str(k) for k in plain["kpi"]]
        elif plain.index.name == "kpi":
            names = [str(k) for k in plain.index]
        else:
            return plain
        out = plain.copy()
        for col in plain.columns:
            if not pd.api.types.is_numeric_dtype(plain[col]):
                continue
            values = plain[col].astype(float)
            if col in _STATISTICS:
                out[col] = [format_kpi(k, v) for k, v in zip(names, values, strict=True)]
            elif col == "n":
                out[col] = ["-" if math.isnan(v) else f"{v:,.0f}" for v in values]
        return out

    def __repr__(self) -> str:
        return repr(self.formatted())

    def _repr_html_(self) -> str | None:
        html: str | None = pd.DataFrame._repr_html_(self.formatted())  # type: ignore[attr-defined]
        return html

    def to_string(self, *args: Any, **kwargs: Any) -> Any:
        return self.formatted().to_string(*args, **kwargs)


def half_width(values: pd.Series | np.ndarray, level: float = 0.95) -> float:
    """Half-width of the t confidence interval of the mean (NaN with fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return float("nan")
    t = float(stats.t.ppf(0.5 + level / 2, len(x) - 1))
    return t * float(x.std(ddof=1)) / float(np.sqrt(len(x)))


def summarise(kpis: pd.DataFrame, level: float = 0.95) -> KpiTable:
    """One row per KPI: n, mean, half-width, low and high of the ``level`` interval.

    The result is a :class:`KpiTable`: a DataFrame of numbers that prints readably.
    """
    rows = []
    for col in kpis.columns:
        if col in _KEYS:
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
    return KpiTable(rows, columns=["kpi", "n", "mean", "half_width", "low", "high"])


def _listed(names: Sequence[Hashable]) -> str:
    return ", ".join(str(n) for n in names)


def _kpi_columns(table: object, name: str) -> list[str]:
    """The KPI columns of a table of per-replication KPIs, or ValueError saying why it is not
    one."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} is not a KPI table: expected a DataFrame, got {type(table)}")
    cols = list(table.columns)
    if len(set(cols)) != len(cols):
        twice = sorted({str(c) for c in cols if cols.count(c) > 1})
        raise ValueError(f"{name} is not a KPI table: columns {_listed(twice)} appear twice")
    missing = [k for k in ("replication", "seed") if k not in cols]
    if missing:
        raise ValueError(
            f"{name} is not a KPI table: it has no {' or '.join(missing)} column "
            "(pass the kpis table of a run)"
        )
    kpis = [str(c) for c in cols if c not in _KEYS]
    if not any(c in registry.KPIS for c in kpis):
        raise ValueError(
            f"{name} is not a KPI table: none of its columns is a KPI "
            f"({_listed(list(registry.KPIS))})"
        )
    wrong = [c for c in kpis if not pd.api.types.is_numeric_dtype(table[c])]
    if wrong:
        raise ValueError(
            f"{name} is not a KPI table: column(s) {_listed(wrong)} are not numeric "
            f"({_listed([str(table[c].dtype) for c in wrong])})"
        )
    for key in _KEYS:
        if not pd.api.types.is_integer_dtype(table[key]):
            raise ValueError(
                f"{name} is not a KPI table: its {key} column is not integer ({table[key].dtype})"
            )
    if table.empty:
        raise ValueError(f"{name} has no replications (no rows)")
    if table[list(_KEYS)].isna().any().any():
        raise ValueError(f"{name} has rows without a seed or replication")
    repeated = table[table.duplicated(list(_KEYS), keep="first")]
    if not repeated.empty:
        shown = _pairs(repeated[list(_KEYS)].itertuples(index=False, name=None))
        raise ValueError(
            f"{name} holds a replication more than once: {shown} "
            "(two runs stacked? compare one run with one run)"
        )
    return kpis


def _pairs(pairs: Any) -> str:
    listed = [f"(seed {int(s)}, replication {int(r)})" for s, r in sorted(pairs)]
    more = f" and {len(listed) - _SHOWN} more" if len(listed) > _SHOWN else ""
    return ", ".join(listed[:_SHOWN]) + more


def paired_difference(
    variant: pd.DataFrame, reference: pd.DataFrame, level: float = 0.95
) -> KpiTable:
    """Mean variant - reference per KPI over paired replications, with its t interval.

    Both tables are ``kpis`` of the same replications and seed (common random numbers), so the
    pairs share customers and luck and the difference's interval is much narrower than the
    two separate intervals. Columns beyond the KPIs (numeric per-replication metrics) are
    compared too.

    Raises ValueError, saying what is wrong, when either table is not a KPI table (no
    ``replication`` or ``seed`` column, no KPI column, a non-numeric column, a replication
    held twice), when the two tables' (seed, replication) pairs differ, or when their KPI
    columns differ. The result is a :class:`KpiTable` (one row per KPI, as
    :func:`summarise`).
    """
    cols = _kpi_columns(variant, "variant")
    other = _kpi_columns(reference, "reference")
    if set(cols) != set(other):
        only_v = [c for c in cols if c not in other]
        only_r = [c for c in other if c not in cols]
        parts = [f"only in variant: {_listed(only_v)}" if only_v else ""]
        parts.append(f"only in reference: {_listed(only_r)}" if only_r else "")
        raise ValueError(
            "variant and reference have different KPI columns ("
            + "; ".join(p for p in parts if p)
            + ")"
        )
    a = variant.set_index(list(_KEYS)).sort_index()
    b = reference.set_index(list(_KEYS)).sort_index()
    if not a.index.equals(b.index):
        pairs_v = a.index.difference(b.index)
        pairs_r = b.index.difference(a.index)
        seeds_v = sorted(int(s) for s in a.index.unique("seed"))
        seeds_r = sorted(int(s) for s in b.index.unique("seed"))
        hint = (
            f"variant has seed {_listed(seeds_v)}, reference seed {_listed(seeds_r)}"
            if seeds_v != seeds_r
            else "run both with the same seed and replications"
        )
        parts = [f"only in variant: {_pairs(pairs_v)}" if len(pairs_v) else ""]
        parts.append(f"only in reference: {_pairs(pairs_r)}" if len(pairs_r) else "")
        raise ValueError(
            "variant and reference are not paired: their (seed, replication) pairs differ ("
            + "; ".join(p for p in parts if p)
            + f"); {hint}"
        )
    diff = a[cols].astype(float) - b[cols].astype(float)
    return summarise(diff.reset_index(), level)
