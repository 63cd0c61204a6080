"""The six stages of a deal: how long each takes, whom it needs, how often deals pass it.

Part of the scenario schema (``kamsim.scenario``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    field_validator,
)

from kamsim.distributions import fixed
from kamsim.limits import (
    MAX_DAYS,
    MAX_LOG_ODDS,
)
from kamsim.mechanisms import PACE
from kamsim.validation import (
    Days,
    OddsRatio,
    PerGrade,
    Range,
    Strict,
)
from kamsim.vocabulary import (
    DEFAULT_EXIT_REASONS,
    GRADES,
    POOLS,
    GradeKey,
    PoolKey,
    StageKey,
)

POSITIVE_DAYS = Range(0.0, MAX_DAYS, low_open=True)
LOG_ODDS = Range(-MAX_LOG_ODDS, MAX_LOG_ODDS)


class MonthOfQuarter(Strict):
    """A stage's calendar effect by month of the calendar quarter (1st, 2nd, 3rd month).

    Reps pull wins into the quarter's last month to make the number and put off recording
    losses until the next quarter: closes bunch at quarter ends, but wins more than losses.
    The pace moves when the stage's work ends; the log odds move which way it ends.
    """

    pace: Annotated[list[Annotated[float, PACE.bounds()]], Field(min_length=3, max_length=3)] = (
        Field(default_factory=lambda: [1.0, 1.0, 1.0])
    )
    """Pace of the stage's work in each month of the quarter (1 = normal): a time warp over
    whole calendar months, so a pace above 1 in the 3rd month pulls ends into it."""
    log_odds: Annotated[
        list[Annotated[float, LOG_ODDS.bounds()]], Field(min_length=3, max_length=3)
    ] = Field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Added to the log odds of the stage's pass chance when its decision falls in that month
    of the quarter (positive in the 3rd month: wins are pulled in, losses put off)."""

    @property
    def warps(self) -> bool:
        return any(p != 1.0 for p in self.pace)

    @property
    def shifts(self) -> bool:
        return any(x != 0.0 for x in self.log_odds)


class StageOdds(Strict):
    """Odds ratios on a stage's pass chance: logit(p) = logit(grade base) + sum of log ORs."""

    access: OddsRatio = 1.0
    """Deal has access to the decision makers."""
    champion: OddsRatio = 1.0
    """Deal has an inside champion (内线) at the time of the pass draw."""
    executive: OddsRatio = 1.0
    """Deal has an executive-level relationship (客户高层)."""
    shaped: OddsRatio = 1.0
    """Buying criteria were shaped in our favour during the proposal (tender mainly)."""
    competitor: OddsRatio = 1.0
    """Per rival bidder beyond the first (tender mainly)."""


class Stage(Strict):
    """One of the six stages: how long it takes, whom it needs, how often deals pass it."""

    duration: Days = fixed(0.0)
    """Working time in the stage in days, once the pools it needs are free."""
    pools: list[PoolKey] = Field(default_factory=list)
    """Pools whose slot the deal holds for the stage's duration (taken in the fixed pool order)."""
    pass_probability: PerGrade = Field(default_factory=lambda: dict.fromkeys(GRADES, 1.0))
    """Chance of passing the stage: one number for all grades, or a table by grade."""
    exit_reason: str | None = None
    """Exit reason of a deal that fails the stage (default: the stage's usual reason)."""
    odds: StageOdds = StageOdds()
    """Odds ratios on the pass chance from the deal's relationship state (1 = no effect)."""
    wait_half_life_days: Annotated[float, POSITIVE_DAYS.bounds()] | None = None
    """Waiting costs deals: the pass chance is multiplied by 0.5^(days queued for our people in
    this stage / half-life). Empty: waiting costs nothing (docs/sources.md §5: 60 d, 30-120 d)."""
    stall_half_life_days: Annotated[float, POSITIVE_DAYS.bounds()] | None = None
    """Stall risk, whatever its cause: the pass chance is multiplied by 0.5^(days in the stage
    beyond ``norm_days`` / half-life). Separate from the cost of waiting for our people (both
    apply). Pre-signing stages only. Empty: no stall risk (docs/sources.md §5: 60 d, 30-120 d)."""
    norm_days: Annotated[float, Range(0.0, MAX_DAYS).bounds()] | None = None
    """Days a deal may spend in the stage before it counts as stalling (queueing included).
    Empty: the mean of ``duration``."""
    patience: Days | None = None
    """Days a customer waits for our people in this stage before going cold (exit
    ``went_cold``), drawn per deal; exponential makes Erlang A apply. Empty: endless patience."""
    month_of_quarter: MonthOfQuarter | None = None
    """Quarter-end calendar effect on the stage's pace and pass chance. Empty: none."""

    @field_validator("pools")
    @classmethod
    def _unique(cls, v: list[PoolKey]) -> list[PoolKey]:
        if len(set(v)) != len(v):
            raise ValueError("a pool is listed twice")
        return sorted(v, key=POOLS.index)

    def pass_for(self, grade: GradeKey) -> float:
        return self.pass_probability[grade]

    @property
    def stall_norm(self) -> float:
        """Days in the stage before stall risk starts (``norm_days`` or the mean duration)."""
        return self.duration.mean if self.norm_days is None else self.norm_days


class Stages(Strict):
    """The six stages in order; an omitted stage is instantaneous and always passed."""

    development: Stage = Stage()
    """Customer development (客户开发): ends with accurate project information."""
    approval: Stage = Stage()
    """Project approval (立项): ends with the internal presales registration approved."""
    proposal: Stage = Stage()
    """Proposal (提案): demos, visits, solution accepted."""
    tender: Stage = Stage()
    """Tender / bidding (招投标): ends with the bid submitted and decided."""
    negotiation: Stage = Stage()
    """Commercial negotiation (商务谈判): ends with the contract signed."""
    implementation: Stage = Stage()
    """Implementation (工程实施): delivery to acceptance; failing it means cancellation."""

    def __getitem__(self, key: StageKey) -> Stage:
        stage: Stage = getattr(self, key)
        return stage

    def exit_reason(self, key: StageKey) -> str:
        return self[key].exit_reason or DEFAULT_EXIT_REASONS[key]
