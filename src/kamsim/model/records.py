"""Plain records out of the model: what happened, with no pandas and no I/O.

The engine appends tuples to lists while it runs (the cheapest thing Python can do per event)
and hands this bundle over at the end; ``kamsim.results`` builds the tidy tables from it. Later
tools (run store, calibration, process mining) read the same records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kamsim.scenario import Scenario
from kamsim.vocabulary import MECHANISM_EXITS, POOLS, STAGES

if TYPE_CHECKING:
    from kamsim.model.draws import DealDraws
    from kamsim.model.pools import PoolState

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


class Deal:
    """One deal's state while it runs, and its summary afterwards."""

    __slots__ = (
        "_ok",
        "accepted_at",
        "access",
        "account",
        "arrived_at",
        "booked",
        "callbacks",
        "cancelled",
        "champion_until",
        "closed_at",
        "competitors",
        "doing",
        "draws",
        "entered",
        "executive",
        "exit_reason",
        "grade",
        "held",
        "id",
        "k",
        "margin",
        "outcome",
        "parent",
        "pool_i",
        "pools",
        "price_factor",
        "queued",
        "rescued",
        "shaped",
        "signed_at",
        "stage",
        "stage_wait",
        "started",
        "step",
        "value",
        "waiting_since",
        "waitno",
    )

    def __init__(
        self,
        deal_id: int,
        k: int,
        draws: DealDraws,
        grade: int,
        account: int,
        value: float,
        margin: float,
        now: float,
    ) -> None:
        self.id = deal_id
        self._ok = True  # a deal is its own timer on SimPy's heap (see model.clock)
        self.callbacks: object = None
        self.k = k
        """Row of this deal in ``draws``."""
        self.draws = draws
        self.grade = grade
        self.account = account
        self.value = value
        self.margin = margin
        self.arrived_at = now
        self.parent = -1
        """Deal whose acceptance brought this follow-on lead (-1: a new lead)."""
        # relationship state
        self.access = False
        self.champion_until = -math.inf
        self.executive = False
        self.shaped = False
        self.competitors = 1
        self.rescued = False
        # where the deal is
        self.stage = 0
        self.step = 0
        self.doing = 0
        """The step of the visit in progress (engine step codes)."""
        self.entered = now
        self.started = NAN
        self.stage_wait = 0.0
        self.pools: tuple[int, ...] = ()
        self.pool_i = 0
        self.held: list[tuple[int, int, float, float]] = []
        """(pool, stage, queued_at, started_at) of every slot the deal holds now."""
        self.queued: PoolState | None = None
        self.waiting_since = NAN
        self.waitno = 0
        # outcome
        self.outcome = "open"
        self.exit_reason = ""
        self.price_factor = 1.0
        """Product of (1 - discount) over price-fight and period-end discounts."""
        self.signed_at = NAN
        self.closed_at = NAN
        self.booked = 0.0
        self.accepted_at = NAN
        self.cancelled = False


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
    deals: list[Deal] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    money: list[Money] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
