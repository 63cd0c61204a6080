"""The scenario: the world a sales organisation faces, as a validated, frozen pydantic model.

A scenario file is TOML; ``kamsim.io.load_scenario`` reads it, resolves ``extends`` and
``--set`` overrides, and validates the merged table into :class:`Scenario`. Every model here
forbids unknown keys and non-finite numbers, so a typo is an error rather than a silently
ignored setting, and every field carries a docstring that ends up in the JSON Schema that
``kamsim schema`` prints for editors.

Cross-field rules (shares summing to one, a pool that a stage needs having people) raise one
``ValueError`` whose lines each start with the dotted path of the field concerned; the error
formatter in ``kamsim.errors`` turns every line into one readable problem.

Variants are new validated copies (``scenario.with_overrides([...])``), never mutations.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kamsim.distributions import Distribution, Fixed, fixed
from kamsim.policies import Policy
from kamsim.vocabulary import (
    DAYS_PER_MONTH,
    DEFAULT_EXIT_REASONS,
    GRADES,
    POOLS,
    STAGES,
    GradeKey,
    PoolKey,
    StageKey,
)

SCHEMA_VERSION = 1

Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
SHARE_TOLERANCE = 1e-6


class Strict(BaseModel):
    """Base of every scenario table: unknown keys and NaN/inf are errors; values are frozen."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


def _nonnegative_support(dist: Any) -> bool:
    low = getattr(dist, "low", None)
    if low is not None:
        return bool(low >= 0)
    values = getattr(dist, "values", None)
    if values is not None:
        return bool(min(values) >= 0)
    return True


class Calendar(Strict):
    """When the simulated period starts and how long it runs."""

    start: dt.date = dt.date(2027, 1, 1)
    """First day of the simulation (day 0); monthly tables are labelled from it."""
    currency: str = "CNY"
    """Currency of all money figures (labels only; no conversion)."""
    horizon_months: Annotated[int, Field(ge=1, le=600)] = 36
    """Length of the simulated period in months of 365/12 days."""
    arrivals_until_months: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """New leads stop arriving after this many months (default: the horizon)."""
    drain: bool = False
    """Run on past the horizon until every deal has left (no deal ends ``open``)."""

    @property
    def horizon_days(self) -> float:
        return self.horizon_months * DAYS_PER_MONTH

    @property
    def arrivals_until_days(self) -> float:
        months = (
            self.horizon_months
            if self.arrivals_until_months is None
            else min(self.arrivals_until_months, self.horizon_months)
        )
        return months * DAYS_PER_MONTH


class Arrivals(Strict):
    """New leads: a Poisson stream, optionally seasonal by calendar month."""

    rate_per_month: NonNegative = 10.0
    """Mean number of new leads per month."""
    seasonality: Annotated[list[NonNegative], Field(min_length=12, max_length=12)] | None = None
    """Twelve factors (January..December) multiplying the rate; they are rescaled to average 1."""

    @field_validator("seasonality")
    @classmethod
    def _some_positive(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and sum(v) <= 0:
            raise ValueError("at least one seasonality factor must be positive")
        return v


class Grade(Strict):
    """An account grade: how often it occurs and what its deals look like."""

    share: Probability
    """Share of new leads from accounts of this grade; shares of all grades sum to 1."""
    value: Distribution
    """Expected contract value of a deal, in the scenario currency."""
    margin: Distribution = fixed(0.2)
    """Expected gross margin as a fraction of contract value (0.2 = 20%)."""
    accounts: Annotated[int, Field(ge=1)] = 50
    """Number of distinct accounts of this grade; a deal's account is drawn uniformly among them,
    so one account can bring several deals."""

    @field_validator("value")
    @classmethod
    def _value_nonneg(cls, v: Any) -> Any:
        if not _nonnegative_support(v):
            raise ValueError("deal values must not be negative")
        return v


PassProbability = Probability | dict[GradeKey, Probability]


class Stage(Strict):
    """One of the six stages: how long it takes, whom it needs, how often deals pass it."""

    duration: Distribution = fixed(0.0)
    """Working time in the stage in days, once the pools it needs are free."""
    pools: list[PoolKey] = Field(default_factory=list)
    """Pools whose slot the deal holds for the stage's duration (taken in the fixed pool order)."""
    pass_probability: PassProbability = 1.0
    """Chance of passing the stage, one number for all grades or a table by grade."""
    exit_reason: str | None = None
    """Exit reason of a deal that fails the stage (default: the stage's usual reason)."""

    @field_validator("duration")
    @classmethod
    def _duration_nonneg(cls, v: Any) -> Any:
        if not _nonnegative_support(v):
            raise ValueError("durations must not be negative")
        return v

    @field_validator("pools")
    @classmethod
    def _unique(cls, v: list[PoolKey]) -> list[PoolKey]:
        if len(set(v)) != len(v):
            raise ValueError("a pool is listed twice")
        return sorted(v, key=POOLS.index)

    def pass_for(self, grade: GradeKey) -> float:
        p = self.pass_probability
        return p if isinstance(p, float | int) else p[grade]


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


class Pool(Strict):
    """A group of people deals queue for."""

    headcount: Annotated[int, Field(ge=0)] = 0
    """Number of people."""
    deals_per_person: Annotated[int, Field(ge=1)] = 1
    """Deals each person carries at once; capacity = headcount x deals_per_person."""
    monthly_cost: NonNegative = 0.0
    """Fully loaded cost per person per month (cost of sale)."""
    ownership: bool = False
    """Account managers only: a deal holds one slot from entering development until it is
    signed or leaves, instead of only during the stages that list the pool."""

    @property
    def capacity(self) -> int:
        return self.headcount * self.deals_per_person


class Resources(Strict):
    """The five pools of people; a pool no stage uses may be left at zero headcount."""

    account_managers: Pool = Pool()
    """大客户经理: own deals from development to signing."""
    presales: Pool = Pool()
    """售前 / solution engineers: proposals, demos, bid documents."""
    delivery: Pool = Pool()
    """项目经理 and delivery teams: implementation."""
    approvers: Pool = Pool()
    """Deal desk, legal, finance: project and contract approval."""
    executives: Pool = Pool()
    """Executives' customer visits (slots = engagements carried at once)."""

    def __getitem__(self, key: PoolKey) -> Pool:
        pool: Pool = getattr(self, key)
        return pool

    @model_validator(mode="after")
    def _ownership_only_for_ams(self) -> Self:
        bad = [k for k in POOLS if k != "account_managers" and self[k].ownership]
        if bad:
            raise ValueError(
                "\n".join(f"{k}.ownership: only account_managers can own deals" for k in bad)
            )
        return self


class Payments(Strict):
    """How signed value becomes revenue and cash during implementation."""

    signing: Probability = 0.3
    """Share of contract value due at signing."""
    delivery: Probability = 0.6
    """Share due at delivery (go-live)."""
    acceptance: Probability = 0.1
    """Share due at final acceptance (验收)."""
    delivery_at: Probability = 0.7
    """Point of the implementation duration at which delivery happens (0.7 = 70% through)."""
    lag_days: Distribution = fixed(60.0)
    """Days from a milestone to the cash arriving, drawn per deal and milestone."""

    @model_validator(mode="after")
    def _sum_to_one(self) -> Self:
        total = self.signing + self.delivery + self.acceptance
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"signing + delivery + acceptance = {total:g}, must be 1")
        if not _nonnegative_support(self.lag_days):
            raise ValueError("lag_days: lags must not be negative")
        return self

    @property
    def shares(self) -> tuple[float, float, float]:
        return self.signing, self.delivery, self.acceptance


def _single_grade() -> dict[GradeKey, Grade]:
    return {"A": Grade(share=1.0, value=Fixed(value=1e6))}


class Scenario(Strict):
    """A complete, validated scenario: calendar, leads, grades, stages, pools, payments, policy."""

    schema_version: Literal[1] = 1
    """Version of this file format."""
    name: str = "scenario"
    """Short name, used in outputs."""
    description: str = ""
    """What the scenario represents or which question it asks."""
    calendar: Calendar = Calendar()
    """Start, horizon and whether to drain."""
    arrivals: Arrivals = Arrivals()
    """New leads."""
    grades: dict[GradeKey, Grade] = Field(default_factory=_single_grade)
    """Account grades A/B/C/D (any subset) with their lead shares and deal distributions."""
    stages: Stages = Stages()
    """The six stages."""
    resources: Resources = Resources()
    """The five pools."""
    payments: Payments = Payments()
    """Payment milestones and lags."""
    policy: Policy = Policy()
    """The levers management pulls (see ``kamsim.policies``)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        if not self.grades:
            problems.append("grades: at least one grade is needed")
        total = sum(g.share for g in self.grades.values())
        if self.grades and abs(total - 1) > SHARE_TOLERANCE:
            problems.append(f"grades: shares sum to {total:g}, must sum to 1")
        for key in STAGES:
            stage = self.stages[key]
            p = stage.pass_probability
            if isinstance(p, dict):
                missing = [g for g in self.grades if g not in p]
                if missing:
                    problems.append(
                        f"stages.{key}.pass_probability: no value for grade(s) "
                        + ", ".join(missing)
                    )
            for pool in stage.pools:
                if self.resources[pool].capacity < 1:
                    problems.append(
                        f"resources.{pool}.headcount: stage {key} needs this pool, "
                        "headcount must be at least 1"
                    )
        ams = self.resources.account_managers
        if ams.ownership and ams.capacity < 1:
            problems.append(
                "resources.account_managers.headcount: ownership is on, headcount must be "
                "at least 1"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def grade_keys(self) -> tuple[GradeKey, ...]:
        return tuple(g for g in GRADES if g in self.grades)

    def with_overrides(self, overrides: list[str]) -> Scenario:
        """A new validated copy with dotted ``key=value`` overrides applied."""
        from kamsim.overrides import apply_overrides

        data = self.model_dump(mode="json", by_alias=True)
        return Scenario.model_validate(apply_overrides(data, overrides))
