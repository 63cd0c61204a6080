"""The KPI registry: what every KPI means, its unit, direction, aggregation and format.

One entry per KPI, in the order of the ``kpis`` table's columns (after ``replication`` and
``seed``). The table, the command's printout, and plots and reports read names, units,
definitions, formats and labels from here; none of them spells a KPI out again. The values
themselves are computed in :mod:`kamsim.results`.

Adding a KPI: register an entry here (its position is its column's position) and compute
its value in ``kamsim.results._kpis``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from kamsim.vocabulary import POOLS, PoolKey

Unit = Literal["currency", "share", "days", "deals"]
"""``currency``: an amount in the scenario's currency; ``share``: a fraction (0.25 is 25%);
``days``: model days; ``deals``: a count of deals."""

Better = Literal["higher", "lower"]
"""Which way a KPI improves; ``None`` on an entry means neither way is better by itself."""

Basis = Literal["time", "deal"]
"""``time``: a flow or a time-weighted level over the run, growing with its length or measured
along it; ``deal``: a ratio or mean over the run's deals."""

Aggregate = Literal["mean"]
"""How replications combine into one figure (with its confidence interval)."""

FormatKind = Literal["money", "percent", "decimal", "plain"]
"""How a value prints (:func:`kamsim.analysis.format_kpi`): ``money`` as a whole amount with
thousands separators; ``percent`` as a percentage with one decimal; ``decimal`` with one
decimal and thousands separators; ``plain`` with thousands separators and a few significant
digits."""

KEY_COLUMNS: Final[tuple[str, str]] = ("replication", "seed")
"""The columns that identify a row of the ``kpis`` table, before the KPIs."""


@dataclass(frozen=True)
class Kpi:
    """One KPI: its contract (name, unit, definition) and how to read and show it."""

    name: str
    unit: Unit
    definition: str
    """One sentence: the stable contract of what the value means."""
    better: Better | None
    basis: Basis
    aggregate: Aggregate
    format: FormatKind
    label_zh: str
    """The Chinese display label (the name stays the key in every language)."""
    integer: bool = False
    """Whole numbers in each replication's row (stored as integers)."""


_POOL_ZH: Final[dict[PoolKey, str]] = {
    "account_managers": "客户经理",
    "presales": "售前",
    "delivery": "交付",
    "approvers": "审批人",
    "executives": "高管",
}

_UTIL_NOTE: Final[dict[PoolKey, str]] = {
    "account_managers": "; a WIP cap lowers the account managers' capacity",
}


def _utilisation(pool: PoolKey) -> Kpi:
    return Kpi(
        name=f"util_{pool}",
        unit="share",
        definition=(
            f"Busy slot-days of {pool} / (its capacity as run x run length)"
            f"{_UTIL_NOTE.get(pool, '')}."
        ),
        better=None,
        basis="time",
        aggregate="mean",
        format="percent",
        label_zh=f"{_POOL_ZH[pool]}利用率",
    )


_ENTRIES: Final[tuple[Kpi, ...]] = (
    Kpi(
        name="bookings",
        unit="currency",
        definition="Signed contract value of the deals signed within the run.",
        better="higher",
        basis="time",
        aggregate="mean",
        format="money",
        label_zh="签约额",
    ),
    Kpi(
        name="revenue",
        unit="currency",
        definition="Milestone shares of booked value recognised within the run.",
        better="higher",
        basis="time",
        aggregate="mean",
        format="money",
        label_zh="收入",
    ),
    Kpi(
        name="cash",
        unit="currency",
        definition="Milestone payments received within the run, after their payment lag.",
        better="higher",
        basis="time",
        aggregate="mean",
        format="money",
        label_zh="回款",
    ),
    Kpi(
        name="gross_margin",
        unit="currency",
        definition="Sum of booked value x booked margin over the deals signed within the run.",
        better="higher",
        basis="time",
        aggregate="mean",
        format="money",
        label_zh="毛利",
    ),
    Kpi(
        name="gross_margin_pct",
        unit="share",
        definition="Gross margin / bookings (undefined without bookings).",
        better="higher",
        basis="deal",
        aggregate="mean",
        format="percent",
        label_zh="毛利率",
    ),
    Kpi(
        name="win_rate",
        unit="share",
        definition="Won / (won + lost) deals; open deals do not count (undefined if none closed).",
        better="higher",
        basis="deal",
        aggregate="mean",
        format="percent",
        label_zh="赢单率",
    ),
    Kpi(
        name="cycle_time_days",
        unit="days",
        definition="Mean days from arrival to signing of the deals won (undefined if none won).",
        better="lower",
        basis="deal",
        aggregate="mean",
        format="decimal",
        label_zh="成交周期",
    ),
    Kpi(
        name="deals_won",
        unit="deals",
        definition="Deals whose contract was signed within the run.",
        better="higher",
        basis="time",
        aggregate="mean",
        format="decimal",
        label_zh="赢单数",
        integer=True,
    ),
    Kpi(
        name="deals_lost",
        unit="deals",
        definition="Deals that left before signing, each with its exit reason.",
        better=None,
        basis="time",
        aggregate="mean",
        format="decimal",
        label_zh="丢单数",
        integer=True,
    ),
    Kpi(
        name="deals_open",
        unit="deals",
        definition="Deals still unsigned at the end of the run.",
        better=None,
        basis="time",
        aggregate="mean",
        format="decimal",
        label_zh="在途商机数",
        integer=True,
    ),
    Kpi(
        name="cost_of_sale",
        unit="currency",
        definition="Headcount x monthly cost of every pool over the run.",
        better="lower",
        basis="time",
        aggregate="mean",
        format="money",
        label_zh="销售成本",
    ),
    *(_utilisation(pool) for pool in POOLS),
)

KPIS: Mapping[str, Kpi] = MappingProxyType({k.name: k for k in _ENTRIES})
"""Every KPI by name, in the ``kpis`` table's column order (read-only)."""


def lookup(name: str) -> Kpi | None:
    """The registered KPI called ``name``, or ``None`` for a name that is not a KPI."""
    return KPIS.get(name)


def kpi_columns() -> tuple[str, ...]:
    """The ``kpis`` table's columns: the key columns, then every KPI in registry order."""
    return (*KEY_COLUMNS, *KPIS)
