"""The KPI registry: what every KPI means, its unit, direction, basis and format.

One entry per KPI, in the order of the ``kpis`` table's columns (after ``replication`` and
``seed``; ``kpis_by_year`` has ``year`` too): money first, then rates and shares, then times
and waits, then deal counts, then the load on people. The tables, the command's printout, and
plots and reports read names, units, definitions, formats and labels from here; none of them
spells a KPI out again. The values themselves are computed in :mod:`kamsim.results`, and
``docs/kpis.md`` explains each one with the warm-up rules.

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
"""What a KPI covers. ``time``: what happened within the measurement window (flows, levels,
events such as signings and acceptances), the run after ``calendar.warmup_months`` or one
calendar year of it; ``deal``: a ratio or mean over the cohort of deals that arrived in that
window, followed to the end of the run."""

Aggregate = Literal["mean"]
"""How replications combine into one figure (with its confidence interval)."""

FormatKind = Literal["money", "percent", "decimal", "plain"]
"""How a value prints (:func:`kamsim.analysis.format_kpi`): ``money`` as a whole amount with
thousands separators; ``percent`` as a percentage with one decimal; ``decimal`` with one
decimal and thousands separators; ``plain`` with thousands separators and a few significant
digits."""

KEY_COLUMNS: Final[tuple[str, str]] = ("replication", "seed")
"""The columns that identify a row of the ``kpis`` table, before the KPIs."""

YEAR_COLUMN: Final = "year"
"""The calendar year of a ``kpis_by_year`` row, after the key columns."""


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


def _money(name: str, definition: str, label_zh: str, better: Better = "higher") -> Kpi:
    return Kpi(name, "currency", definition, better, "time", "mean", "money", label_zh)


def _share(name: str, definition: str, label_zh: str, better: Better | None, basis: Basis) -> Kpi:
    return Kpi(name, "share", definition, better, basis, "mean", "percent", label_zh)


def _count(name: str, definition: str, label_zh: str, better: Better | None) -> Kpi:
    return Kpi(name, "deals", definition, better, "time", "mean", "decimal", label_zh, True)


def _wait(pool: PoolKey) -> Kpi:
    return Kpi(
        name=f"wait_{pool}",
        unit="days",
        definition=(
            f"Mean days a cohort deal spent queued for {pool}, over the cohort deals that "
            f"queued for or took {pool} at least once (undefined if none did)."
        ),
        better="lower",
        basis="deal",
        aggregate="mean",
        format="decimal",
        label_zh=f"等待{_POOL_ZH[pool]}天数",
    )


def _utilisation(pool: PoolKey) -> Kpi:
    return _share(
        f"util_{pool}",
        f"Busy slot-days of {pool} in the window / (its capacity as run x window length)"
        f"{_UTIL_NOTE.get(pool, '')}.",
        f"{_POOL_ZH[pool]}利用率",
        None,
        "time",
    )


_ENTRIES: Final[tuple[Kpi, ...]] = (
    # -- money (the window) --
    _money("bookings", "Signed contract value booked within the window.", "签约额"),
    _money("revenue", "Milestone shares of booked value recognised within the window.", "收入"),
    _money(
        "cash",
        "Milestone payments received within the window, after their payment lag.",
        "回款",
    ),
    _money(
        "gross_margin",
        "Sum of booked value x booked margin over the deals signed within the window.",
        "毛利",
    ),
    _money(
        "cost_of_sale",
        "Headcount x monthly cost of every pool x months in the window.",
        "销售成本",
        better="lower",
    ),
    _money("contribution", "Gross margin - cost of sale of the window.", "贡献利润"),
    # -- rates and shares --
    _share(
        "gross_margin_pct",
        "Booked value x booked margin / booked value, summed over the cohort's won deals "
        "(undefined without booked value).",
        "毛利率",
        "higher",
        "deal",
    ),
    _share(
        "win_rate",
        "Won / (won + lost) cohort deals, leaving out deals lost with the development "
        "stage's exit reason or not_approved and open deals (undefined if none remain).",
        "赢单率",
        "higher",
        "deal",
    ),
    _share(
        "lead_conversion",
        "Won cohort deals / all cohort deals (leads), open ones included (undefined "
        "without leads).",
        "线索转化率",
        "higher",
        "deal",
    ),
    _share(
        "tender_win_rate",
        "Cohort tender visits that passed / those that reached the tender's pass draw "
        "(passed or lost with the tender's exit reason: bids submitted; undefined without "
        "bids).",
        "投标中标率",
        "higher",
        "deal",
    ),
    _share(
        "approval_to_signed",
        "Won cohort deals / cohort deals that entered approval (undefined if none did).",
        "立项签约率",
        "higher",
        "deal",
    ),
    _share(
        "no_decision_share",
        "Cohort deals that entered approval and were lost as the proposal stage's exit "
        "reason, went_cold or stalled / those that entered approval and were won or lost "
        "(undefined if none closed).",
        "无决策丢单占比",
        "lower",
        "deal",
    ),
    _share(
        "award_to_signature_30d",
        "Cohort signings whose negotiation visit (award to signature) took at most 30 days "
        "/ all cohort signings (undefined without signings).",
        "中标30天内签约占比",
        "higher",
        "deal",
    ),
    _share(
        "q4_acceptance_share",
        "Final acceptances within the window dated October to December / all final "
        "acceptances within the window (undefined without acceptances).",
        "四季度验收占比",
        None,
        "time",
    ),
    # -- times and waits --
    Kpi(
        name="cycle_time_days",
        unit="days",
        definition="Mean days from arrival to signing of the cohort's won deals (undefined "
        "if none won).",
        better="lower",
        basis="deal",
        aggregate="mean",
        format="decimal",
        label_zh="成交周期",
    ),
    Kpi(
        name="dso_days",
        unit="days",
        definition="Mean over the window's month ends from the run's 12th month on of "
        "receivables (revenue - cash, cumulated from the start) / trailing 12 months' "
        "revenue x 365 (month ends without trailing revenue left out; undefined if none "
        "remain).",
        better="lower",
        basis="time",
        aggregate="mean",
        format="decimal",
        label_zh="应收账款周转天数",
    ),
    *(_wait(pool) for pool in POOLS),
    # -- deal counts (the window) --
    _count("deals_won", "Deals whose contract was signed within the window.", "赢单数", "higher"),
    _count(
        "deals_lost",
        "Deals that left before signing within the window, each with its exit reason.",
        "丢单数",
        None,
    ),
    _count(
        "deals_open",
        "Deals arrived but neither signed nor lost by the end of the window.",
        "在途商机数",
        None,
    ),
    # -- the load on people (the window) --
    Kpi(
        name="executive_days_per_month",
        unit="days",
        definition="Busy executives slot-days in the window / (executives headcount x months "
        "in the window), undefined without executives.",
        better=None,
        basis="time",
        aggregate="mean",
        format="decimal",
        label_zh="高管人均月投入天数",
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


def kpis_by_year_columns() -> tuple[str, ...]:
    """The ``kpis_by_year`` table's columns: the key columns, the year, then every KPI."""
    return (*KEY_COLUMNS, YEAR_COLUMN, *KPIS)
