"""Statistics over replications: means with Student-t confidence intervals, spreads, paired
differences and KPI number formats.

Depends on pandas, the interval rules (:mod:`kamsim.intervals`) and the KPI registry
(:mod:`kamsim.kpis`) only, so experiments, reports and tests share one definition of an error
bar and one way of printing a KPI's value (:func:`format_kpi`, in the format the registry
gives each KPI). This module and :mod:`kamsim.intervals` import no scipy: the t quantile loads
``scipy.special`` on the first interval (the package's ``__init__`` still imports scipy
through :mod:`kamsim.analytic`).

Two kinds of uncertainty, named apart in every table:

- **risk**, the spread across replications (how different one future is from another):
  ``sd`` and the percentiles ``p10``, ``p50``, ``p90``; more replications describe it better
  but do not shrink it;
- **estimation error** of the mean (how far the mean of these replications may be from the
  mean of infinitely many): ``half_width`` and the interval ``low`` .. ``high``; it shrinks
  like 1 / sqrt(replications).

Every KPI's interval respects the KPI's range (:func:`kpi_bounds`): it is clipped there, which
keeps the t interval's coverage (:mod:`kamsim.intervals` says why clipping rather than a
logit or log scale), and the ``note`` column says which end was clipped. With fewer than
:data:`~kamsim.intervals.MIN_REPLICATIONS` values there is no interval and the note says
"too few replications for an interval".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pandas as pd

from kamsim import kpis as registry
from kamsim.intervals import (
    MIN_REPLICATIONS,
    TOO_FEW,
    UNBOUNDED,
    Bounds,
    Estimate,
    bonferroni,
    check_level,
    estimate,
    t_half_width,
)
from kamsim.kpis import FormatKind, Unit

__all__ = [
    "MIN_REPLICATIONS",
    "TOO_FEW",
    "Bounds",
    "KpiTable",
    "describe",
    "format_kpi",
    "half_width",
    "kpi_bounds",
    "paired_difference",
    "summarise",
]

_KEYS = ("seed", "replication")
_STATISTICS = ("mean", "half_width", "low", "high", "sd", "p10", "p50", "p90")
"""Columns in the KPI's own unit (printed in its format)."""
_SUMMARY = ("kpi", "n", "mean", "half_width", "low", "high", "note")
_DESCRIPTION = ("kpi", "n", "mean", "half_width", "low", "high", "sd", "p10", "p50", "p90", "note")
_DIFFERENCE = (*_DESCRIPTION[:-1], "level", "comparisons", "note")
_SHOWN = 4  # pairs listed in a "not paired" message

_UNIT_BOUNDS: Final[Mapping[Unit, Bounds]] = MappingProxyType(
    {
        "share": Bounds(0.0, 1.0),
        "currency": Bounds(0.0, math.inf),
        "days": Bounds(0.0, math.inf),
        "deals": Bounds(0.0, math.inf),
    }
)
"""The range of a KPI's values by its registry unit: shares lie in [0, 1]; amounts, days and
deal counts are never negative..."""
_OWN_BOUNDS: Final[Mapping[str, Bounds]] = MappingProxyType(
    {
        "gross_margin": UNBOUNDED,
        "contribution": UNBOUNDED,
        "gross_margin_pct": Bounds(-math.inf, 1.0),
    }
)
"""...except these, whose unit does not say their range: gross margin and contribution are
negative when deals lose money (margins go down to -1, and discounts push a booked margin
lower still), so the booked-value-weighted margin share lies below 1 with no lower bound."""


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


def kpi_bounds(kpi: str) -> Bounds:
    """The range every replication's value of ``kpi`` lies in: by its registry unit (shares
    [0, 1]; currency, days and deal counts [0, inf)) except where :data:`_OWN_BOUNDS` says
    otherwise; unbounded for a name that is not a registered KPI."""
    entry = registry.lookup(kpi)
    if entry is None:
        return UNBOUNDED
    return _OWN_BOUNDS.get(kpi, _UNIT_BOUNDS[entry.unit])


class KpiTable(pd.DataFrame):
    """A pandas DataFrame with one row per KPI that prints each number in its KPI's format.

    The data stay ordinary numbers (``mean``, ``half_width``, ``low``, ``high``, ``sd`` and the
    percentiles are float, ``n`` is an integer, ``note`` is text): computation, ``to_dict``
    and ``pandas.testing`` see a DataFrame.
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
            elif col in ("n", "comparisons"):
                out[col] = ["-" if math.isnan(v) else f"{v:,.0f}" for v in values]
            elif col == "level":
                out[col] = ["-" if math.isnan(v) else f"{100 * v:.4g}%" for v in values]
        return out

    def __repr__(self) -> str:
        # Every column, wrapped to the display width rather than elided: the point of the
        # table is its numbers, and the spread and notes make it wider than a line.
        with pd.option_context("display.max_columns", None):
            return repr(self.formatted())

    def _repr_html_(self) -> str | None:
        html: str | None = pd.DataFrame._repr_html_(self.formatted())  # type: ignore[attr-defined]
        return html

    def to_string(self, *args: Any, **kwargs: Any) -> Any:
        return self.formatted().to_string(*args, **kwargs)


def half_width(values: pd.Series | np.ndarray[Any, Any], level: float = 0.95) -> float:
    """Half-width of the t confidence interval of the mean (NaN with fewer than 2 values).

    The plain formula, for figures that are not KPIs; :func:`describe` and :func:`summarise`
    add the KPIs' bounds and the minimum of :data:`~kamsim.intervals.MIN_REPLICATIONS`.
    """
    return t_half_width(values, level)


def _note(kpi: str, est: Estimate, bounds: Bounds) -> str:
    """What a reader needs to know about one row's interval, or ""."""
    notes = [est.note] if est.note else []
    if est.clipped_low:
        notes.append(f"low clipped at {format_kpi(kpi, bounds.low)}")
    if est.clipped_high:
        notes.append(f"high clipped at {format_kpi(kpi, bounds.high)}")
    if est.outside_bounds:
        notes.append(
            f"values outside the range [{format_kpi(kpi, bounds.low)}, "
            f"{format_kpi(kpi, bounds.high)}]: interval not clipped"
        )
    return "; ".join(notes)


def _rows(
    columns: Iterable[tuple[str, np.ndarray[Any, Any]]],
    level: float,
    bounds: Callable[[str], Bounds],
) -> list[dict[str, Any]]:
    """One row of :func:`describe` per (KPI name, values per replication)."""
    rows = []
    for kpi, values in columns:
        limits = bounds(kpi)
        est = estimate(values, level, limits)
        rows.append(
            {
                "kpi": kpi,
                "n": est.n,
                "mean": est.mean,
                "half_width": est.half_width,
                "low": est.low,
                "high": est.high,
                "sd": est.sd,
                "p10": est.p10,
                "p50": est.p50,
                "p90": est.p90,
                "note": _note(kpi, est, limits),
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> KpiTable:
    """The rows as a KpiTable: counts int64, statistics float64, names and notes text."""
    data: dict[str, Any] = {}
    for col in columns:
        values = [row[col] for row in rows]
        if col in ("n", "comparisons"):
            data[col] = np.array(values, dtype=np.int64)
        elif col in _STATISTICS or col == "level":
            data[col] = np.array(values, dtype=np.float64)
        else:
            data[col] = values
    return KpiTable(data, columns=list(columns))


def _columns(kpis: pd.DataFrame) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """Every column but the keys, by name, as floats (missing values NaN)."""
    return [
        (str(col), kpis[col].astype(float).to_numpy()) for col in kpis.columns if col not in _KEYS
    ]


def describe(
    kpis: pd.DataFrame, level: float = 0.95, bounds: Callable[[str], Bounds] = kpi_bounds
) -> KpiTable:
    """One row per KPI (every column but ``seed`` and ``replication``) of a table with one
    row per replication: the mean, its estimation error and the spread across replications.

    Columns: ``kpi``, ``n`` (replications where the KPI is defined; NaN values are left out),
    ``mean``; the estimation error of the mean: ``half_width`` of the ``level`` Student-t
    interval and the interval ``low`` .. ``high``, clipped to the KPI's range
    (:func:`kpi_bounds`); the risk across replications: ``sd`` (sample standard deviation)
    and the percentiles ``p10``, ``p50``, ``p90`` (linear between order statistics: rough
    with fewer than about 10 replications); and ``note``: why the interval is missing (fewer
    than :data:`~kamsim.intervals.MIN_REPLICATIONS` values: "too few replications for an
    interval"; no values), which end was clipped, or that all replications were equal; empty
    otherwise. ``bounds`` gives each column's range, for tables of other measures than the
    registry's KPIs. The result is a :class:`KpiTable`: a DataFrame of numbers that prints
    readably.
    """
    level = check_level(level)
    return _table(_rows(_columns(kpis), level, bounds), _DESCRIPTION)


def summarise(
    kpis: pd.DataFrame, level: float = 0.95, bounds: Callable[[str], Bounds] = kpi_bounds
) -> KpiTable:
    """One row per KPI: n, mean, half-width, low and high of the ``level`` interval, and a note.

    The columns of :func:`describe` without the spread across replications; the same rules
    (intervals clipped to the KPI's range, none from fewer than
    :data:`~kamsim.intervals.MIN_REPLICATIONS` values). The result is a :class:`KpiTable`: a
    DataFrame of numbers that prints readably.
    """
    level = check_level(level)
    return _table(_rows(_columns(kpis), level, bounds), _SUMMARY)


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
    variant: pd.DataFrame,
    reference: pd.DataFrame,
    level: float = 0.95,
    comparisons: int = 1,
) -> KpiTable:
    """Mean variant - reference per KPI over paired replications, with its t interval.

    Both tables are ``kpis`` of the same replications and seed (common random numbers), so the
    pairs share customers and luck and the difference's interval is much narrower than the
    two separate intervals. Columns beyond the KPIs (numeric per-replication metrics) are
    compared too.

    ``comparisons``: how many intervals the reader will look at together (KPIs x variants
    compared, say). With k comparisons each interval is built at level 1 - (1 - ``level``) / k
    (Bonferroni), so all k hold together at ``level`` at least. The table's ``level`` column
    is the level each interval was built at and ``comparisons`` is k.

    A difference has no sign constraint; its interval is clipped only to what a difference
    of two values in the KPI's range can be (+/- 1 for a share).

    Raises ValueError, saying what is wrong, when either table is not a KPI table (no
    ``replication`` or ``seed`` column, no KPI column, a non-numeric column, a replication
    held twice), when the two tables' (seed, replication) pairs differ, or when their KPI
    columns differ, and ValueError for a ``level`` outside (0, 1) or ``comparisons`` that is
    not a whole number >= 1. The result is a :class:`KpiTable` (one row per KPI, the columns
    of :func:`describe` with ``level`` and ``comparisons`` before ``note``).
    """
    each = bonferroni(level, comparisons)
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
    keys_v, keys_r = (t[list(_KEYS)].to_numpy(dtype=np.int64) for t in (variant, reference))
    order_v, order_r = (np.lexsort((k[:, 1], k[:, 0])) for k in (keys_v, keys_r))
    if len(keys_v) != len(keys_r) or not np.array_equal(keys_v[order_v], keys_r[order_r]):
        a = variant.set_index(list(_KEYS))
        b = reference.set_index(list(_KEYS))
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
    diff = [
        (
            col,
            variant[col].astype(float).to_numpy()[order_v]
            - reference[col].astype(float).to_numpy()[order_r],
        )
        for col in cols
    ]
    rows = _rows(diff, each, lambda kpi: kpi_bounds(kpi).difference())
    for row in rows:
        row["level"] = each
        row["comparisons"] = comparisons
    return _table(rows, _DIFFERENCE)
