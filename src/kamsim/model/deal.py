"""The live deal: its state while the engine runs it (the engine's own, never handed out).

A deal is a SimPy timer (``clock.Timer``): each timed step schedules the deal itself, so a
step end costs one heap entry. Its random inputs are row ``k`` of ``draws``; at the end of the
run its summary becomes plain columns (``records.DealColumns``).
"""

from __future__ import annotations

from typing import Any, Protocol

from kamsim.model.clock import Timer
from kamsim.model.draws import DealDraws
from kamsim.model.pools import PoolState

NAN = float("nan")


Held = tuple[int, int, float, float]
"""A pool slot the deal holds now: ``(pool, stage, queued_at, started_at)``, always unpacked by
these names (a tuple: one is made per slot taken, on the engine's hottest path)."""


class Doing(Protocol):
    """The step a deal is in (``steps.Step``): what the engine calls on it."""

    plain: bool
    ends: bool
    pools: tuple[int, ...]

    def start(self, loop: Any, deal: Deal, now: float) -> bool: ...
    def begin(self, loop: Any, deal: Deal, now: float) -> float: ...
    def end(self, loop: Any, deal: Deal, now: float) -> None: ...


class Deal(Timer):
    """One deal's state while it runs."""

    __slots__ = (
        "accepted_at",
        "access",
        "account",
        "arrived_at",
        "booked",
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
        "owner",
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
        "stall_from",
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
        self._ok = True
        self.callbacks = None
        self.id = deal_id
        self.k = k
        """Row of this deal in ``draws``."""
        self.draws = draws
        self.grade = grade
        self.account = account
        self.value = value
        self.margin = margin
        self.arrived_at = now
        self.parent: int | None = None
        """Deal whose acceptance brought this follow-on lead (None: a new lead)."""
        # relationship state
        self.access = False
        self.champion_until: float | None = None
        """Time the inside champion is lost (None: the deal never had one)."""
        self.executive = False
        self.shaped = False
        self.competitors = 1
        self.rescued = False
        # where the deal is
        self.stage = 0
        self.step = 0
        """Index of the next step of the current stage visit."""
        self.doing: Doing | None = None
        """The step of the visit in progress."""
        self.entered = now
        self.stall_from = now
        """Start of the stall clock: entering the stage, or a rescue visit."""
        self.owner = -1
        """The named account manager who owns the deal (-1: none yet, or no ownership)."""
        self.started = NAN
        self.stage_wait = 0.0
        self.pools: tuple[int, ...] = ()
        self.pool_i = 0
        self.held: list[Held] = []
        """Every pool slot the deal holds now."""
        self.queued: PoolState[Deal] | None = None
        self.waiting_since = NAN
        self.waitno = 0
        # outcome
        self.outcome = "open"
        self.exit_reason: str | None = None
        self.price_factor = 1.0
        """Product of (1 - discount) over price-fight and period-end discounts."""
        self.signed_at = NAN
        self.closed_at = NAN
        self.booked = 0.0
        self.accepted_at = NAN
        self.cancelled = False
