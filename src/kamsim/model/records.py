"""Plain records out of the model: what happened, with no pandas and no I/O.

The engine appends tuples to lists while it runs (the cheapest thing Python can do per event)
and hands this bundle over at the end; ``kamsim.results`` builds the tidy tables from it. Later
tools (run store, calibration, process mining) read the same records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kamsim.scenario import Scenario
from kamsim.vocabulary import MECHANISM_EXITS, POOLS, STAGES

Visit = tuple[int, int, float, float, float, int]
"""(deal_id, stage, queued_at, started_at, ended_at, result) of one stage visit."""
Hold = tuple[int, int, int, float, float, float, int]
"""(deal_id, stage, pool, queued_at, started_at, ended_at, result) of one wait for a pool;
``result`` is an index into ``Records.results``."""

PASSED, RELEASED, OPEN = range(3)
"""Codes of the results every scenario has; exit reasons follow (see ``result_names``)."""


def result_names(scenario: Scenario) -> list[str]:
    """Names of the result codes of a scenario's event rows: passed, released, open, then
    every exit reason it can produce (its stages' and the mechanisms')."""
    reasons = {scenario.stages.exit_reason(s) for s in STAGES} | set(MECHANISM_EXITS)
    return ["passed", "released", "open", *sorted(reasons)]


Money = tuple[int, int, float, float]
"""(deal_id, kind, time, amount); kind is one of MONEY_KINDS' indices."""
Level = tuple[float, int, int]
"""(time, series, new level) of a time-weighted monitor; series per SERIES."""

MONEY_KINDS = ("bookings", "revenue", "cash")
BOOKING, REVENUE, CASH = range(3)

SERIES: tuple[str, ...] = (
    *(f"wip_{s}" for s in STAGES),
    *(f"busy_{p}" for p in POOLS),
    *(f"queue_{p}" for p in POOLS),
)
"""Monitored levels: deals in each stage, busy slots and queue length of each pool."""
WIP0, BUSY0, QUEUE0 = 0, len(STAGES), len(STAGES) + len(POOLS)

NAN = float("nan")


@dataclass(slots=True)
class DealColumns:
    """Every deal's summary at the end of a replication, one list per column, in id order."""

    deal_id: list[int] = field(default_factory=list)
    grade: list[int] = field(default_factory=list)
    """Index into the scenario's grade keys."""
    account: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)
    last_stage: list[int] = field(default_factory=list)
    outcome: list[str] = field(default_factory=list)
    exit_reason: list[str | None] = field(default_factory=list)
    signed_at: list[float] = field(default_factory=list)
    closed_at: list[float] = field(default_factory=list)
    booked: list[float] = field(default_factory=list)
    price_factor: list[float] = field(default_factory=list)
    parent: list[int | None] = field(default_factory=list)
    """The deal whose acceptance brought this follow-on lead (None: a new lead)."""
    accepted_at: list[float] = field(default_factory=list)
    cancelled: list[bool] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    """The named account manager who owned the deal (-1: none)."""


@dataclass(slots=True)
class Records:
    """Everything one replication produced."""

    scenario: Scenario
    seed: int
    replication: int
    span: float
    """Days covered by the tables: the horizon, or the drain end if later."""
    capacity: list[int]
    """Slots of each pool as run (after policy limits such as the WIP cap)."""
    results: list[str]
    """Names of the result codes in ``visits`` and ``holds``."""
    deals: DealColumns = field(default_factory=DealColumns)
    visits: list[Visit] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    money: list[Money] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
