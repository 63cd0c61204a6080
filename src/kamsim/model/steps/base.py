"""What every step shares: the ``Step`` base, what a step may read of the rules and ask of
the engine (protocols, so the steps never import either), and the index constants."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from kamsim.model.deal import Deal
from kamsim.model.decisions import Bars, LogOdds, ShapingLogOdds
from kamsim.model.periods import PeriodClock, Warp
from kamsim.model.switches import Switches
from kamsim.scenario import Scenario
from kamsim.vocabulary import POOLS, STAGES

DEVELOPMENT, APPROVAL, PROPOSAL, TENDER, NEGOTIATION, IMPLEMENTATION = range(len(STAGES))
APPROVERS, EXECUTIVES = POOLS.index("approvers"), POOLS.index("executives")
SIGNING, DELIVERY, ACCEPTANCE, RETENTION = range(4)
"""Payment milestones (a retention is recognised at acceptance and paid after its defect
period)."""


class Rules(Bars, Protocol):
    """The settings the steps read (``rules.Rules`` has them)."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def switches(self) -> Switches: ...
    @property
    def periods(self) -> PeriodClock: ...
    @property
    def stage_warp(self) -> list[Warp | None]: ...
    @property
    def quarter_log_odds(self) -> list[tuple[float, float, float] | None]: ...
    @property
    def work_pools(self) -> list[tuple[int, ...]]: ...
    @property
    def owner(self) -> int | None: ...
    @property
    def engage(self) -> int | None: ...
    @property
    def exec_skip(self) -> bool: ...
    @property
    def co_share(self) -> float: ...
    @property
    def delivery_at(self) -> float: ...
    @property
    def exit_reason(self) -> list[str]: ...


class Effects(Protocol):
    """The effect sizes of the replication (``rules.Effects``)."""

    @property
    def log_odds(self) -> list[LogOdds | None]: ...
    @property
    def shaping(self) -> ShapingLogOdds: ...


class Loop(Protocol):
    """What a step may ask of the engine."""

    @property
    def effects(self) -> Effects: ...

    def take(self, deal: Deal, pools: tuple[int, ...], now: float) -> bool: ...
    def wait(self, deal: Deal, delay: float) -> bool: ...
    def busy(self, pool: int) -> bool: ...
    def assign(self, deal: Deal) -> None: ...
    def focus(self, deal: Deal) -> float: ...
    def tie(self, deal: Deal, now: float) -> None: ...
    def exit(self, deal: Deal, reason: str, now: float) -> None: ...
    def passed(self, deal: Deal, now: float) -> None: ...
    def cancel(self, deal: Deal, now: float) -> None: ...
    def enter(self, deal: Deal, stage: int, now: float) -> None: ...
    def book(self, deal: Deal, amount: float, now: float) -> None: ...
    def milestone(self, deal: Deal, milestone: int, at: float, base: float) -> None: ...
    def sign(self, deal: Deal, now: float) -> None: ...
    def accept(self, deal: Deal, now: float) -> None: ...


class Step:
    """A step of a visit to ``stage``; subclasses define what it does."""

    name: ClassVar[str] = ""
    timed: ClassVar[bool] = True
    """Timed steps hold ``pools`` for the duration ``begin`` returns; instant steps override
    ``start`` and return from it."""

    __slots__ = ("ends", "params", "plain", "pools", "rules", "stage")

    def __init__(self, rules: Rules, stage: int, params: Any = None) -> None:
        self.rules = rules
        self.stage = stage
        self.params = params
        self.pools = self.holds()
        cls = type(self)
        self.plain = cls.start is Step.start
        """The step only takes its pools (the engine then skips the call to ``start``)."""
        self.ends = cls.end is not Step.end
        """The step has an end effect (otherwise the engine skips the call to ``end``)."""

    def holds(self) -> tuple[int, ...]:
        """Pools the step holds (in the global pool order)."""
        return ()

    def start(self, loop: Loop, deal: Deal, now: float) -> bool:
        return loop.take(deal, self.pools, now)

    def begin(self, loop: Loop, deal: Deal, now: float) -> float:
        """The step's work starts now, every pool held: its effects, and how long it takes."""
        raise NotImplementedError(f"step {self.name!r} defines no begin()")

    def end(self, loop: Loop, deal: Deal, now: float) -> None:
        """The step's work is over (its pools are already released)."""


def checked(step: Step) -> Step:
    """A step that cannot run fails here, when the rules are built, not mid-run."""
    cls = type(step)
    if cls.timed and cls.start is Step.start and cls.begin is Step.begin:
        raise TypeError(f"step {step.name or cls.__name__!r} is timed but defines no begin()")
    if not cls.timed and cls.start is Step.start:
        raise TypeError(f"step {step.name or cls.__name__!r} is instant but defines no start()")
    return step
