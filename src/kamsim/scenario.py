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
from typing import Annotated, Any, Self

import numpy as np
from pydantic import (
    BeforeValidator,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from kamsim.distributions import Distribution, Fixed, fixed
from kamsim.errors import ScenarioError, check_depth, problems_from_validation
from kamsim.extensions import ExtensionParams, validate_extensions
from kamsim.limits import (
    MAX_ACCOUNTS,
    MAX_DEALS_PER_PERSON,
    MAX_DRAIN_MONTHS,
    MAX_EXPECTED_LEADS,
    MAX_FOLLOW_ON_GENERATIONS,
    MAX_HEADCOUNT,
    MAX_HORIZON_MONTHS,
)
from kamsim.mechanisms import (
    Competition,
    Contract,
    Focus,
    Implementation,
    PeriodEnd,
    Relationship,
    Repeat,
)
from kamsim.overrides import Overrides, apply_overrides, setting
from kamsim.policies import Policy
from kamsim.stages import Stages
from kamsim.uncertainty import problems as uncertainty_problems
from kamsim.validation import (
    MARGIN,
    MONEY,
    Date,
    Days,
    Monthly,
    Probability,
    Range,
    Strict,
)
from kamsim.vocabulary import (
    DAYS_PER_MONTH,
    GRADES,
    POOLS,
    STAGES,
    GradeKey,
    PoolKey,
)

SHARE_TOLERANCE = 1e-6


class Calendar(Strict):
    """When the simulated period starts and how long it runs."""

    start: Date = dt.date(2027, 1, 1)
    """First day of the simulation (day 0); monthly tables are labelled from it."""
    currency: str = "CNY"
    """Currency of all money figures (labels only; no conversion)."""
    horizon_months: Annotated[int, Field(ge=1, le=MAX_HORIZON_MONTHS)] = 36
    """Length of the simulated period in months of 365/12 days."""
    arrivals_until_months: Annotated[float, Range(0.0, MAX_HORIZON_MONTHS).bounds()] | None = None
    """New leads stop arriving after this many months (default: the horizon)."""
    drain: bool = False
    """Run on past the horizon until every deal has left (no deal ends ``open``), for at most
    600 more months."""
    warmup_months: Annotated[int, Field(ge=0, le=MAX_HORIZON_MONTHS)] = 0
    """Months at the start that the KPIs leave out, while the empty pipeline fills: time-based
    KPIs (bookings, revenue, cash, costs, utilisation) cover the rest of the run, deal-based
    KPIs (rates, cycle time, waits) the deals that arrive after it. Must be below the horizon."""

    @model_validator(mode="after")
    def _warmup_inside(self) -> Self:
        if self.warmup_months >= self.horizon_months:
            raise ValueError(
                f"warmup_months: {self.warmup_months} must be below horizon_months "
                f"({self.horizon_months})"
            )
        return self

    @property
    def warmup_days(self) -> float:
        return self.warmup_months * DAYS_PER_MONTH

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

    rate_per_month: Annotated[float, Range(0.0).bounds()] = 10.0
    """Mean number of new leads per month (expected leads of a run are limited to 100,000)."""
    seasonality: Monthly[Annotated[float, Range(0.0, 1000.0).bounds()]] | None = None
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
    value: Annotated[Distribution, MONEY.fits()]
    """Expected contract value of a deal, in the scenario currency."""
    margin: Annotated[Distribution, MARGIN.fits()] = fixed(0.2)
    """Expected gross margin as a fraction of contract value (0.2 = 20%), in [-1, 1)."""
    accounts: Annotated[int, Field(ge=1, le=MAX_ACCOUNTS)] = 50
    """Number of distinct accounts of this grade; a deal's account is drawn uniformly among them,
    so one account can bring several deals."""


class Pool(Strict):
    """A group of people deals queue for."""

    headcount: Annotated[int, Field(ge=0, le=MAX_HEADCOUNT)] = 0
    """Number of people."""
    deals_per_person: Annotated[int, Field(ge=1, le=MAX_DEALS_PER_PERSON)] = 1
    """Deals each person carries at once; capacity = headcount x deals_per_person."""
    monthly_cost: Annotated[float, MONEY.bounds()] = 0.0
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
    retention: Probability = 0.0
    """Share retained against defects (质保金): recognised as revenue at final acceptance,
    paid ``retention_days`` after it (plus the payment lag)."""
    retention_days: Days = fixed(365.0)
    """Days from final acceptance until the retention is due (the defect period)."""
    delivery_at: Probability = 0.7
    """Point of the implementation duration at which delivery happens (0.7 = 70% through)."""
    lag_days: Days = fixed(60.0)
    """Days from a milestone to the cash arriving, drawn per deal and milestone."""

    @model_validator(mode="after")
    def _sum_to_one(self) -> Self:
        total = self.signing + self.delivery + self.acceptance + self.retention
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"signing + delivery + acceptance + retention = {total:g}, must be 1")
        return self

    @property
    def shares(self) -> tuple[float, float, float, float]:
        """Shares of the milestones in order: signing, delivery, acceptance, retention."""
        return self.signing, self.delivery, self.acceptance, self.retention


class Assumption(Strict):
    """A low-confidence number: the range it may plausibly take and where it comes from."""

    low: Annotated[float, Field(allow_inf_nan=False)]
    """Lowest plausible value."""
    high: Annotated[float, Field(allow_inf_nan=False)]
    """Highest plausible value."""
    source: str = "judgement"
    """Where the range comes from: a docs/sources.md section, or "judgement"."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}")
        return self


def _single_grade() -> dict[GradeKey, Grade]:
    return {"A": Grade(share=1.0, value=Fixed(value=1e6))}


class Scenario(Strict):
    """A complete, validated scenario: calendar, leads, grades, stages, pools, payments, policy."""

    schema_version: Annotated[int, Field(ge=1, le=1)] = 1
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
    relationship: Relationship = Relationship()
    """Relationship state of new deals and executive visits."""
    competition: Competition = Competition()
    """Criteria shaping, rivals, price fights, withdrawal."""
    contract: Contract = Contract()
    """Contract approval."""
    implementation: Implementation = Implementation()
    """Delivery duration, change orders and acceptance."""
    repeat: Repeat = Repeat()
    """Follow-on leads from accepted projects."""
    period_end: PeriodEnd = PeriodEnd()
    """Period-end effects."""
    focus: Focus = Focus()
    """Attention dilution of account managers carrying many deals."""
    policy: Policy = Policy()
    """The levers management pulls (see ``kamsim.policies``)."""
    extensions: Annotated[
        dict[str, SerializeAsAny[ExtensionParams]],
        BeforeValidator(validate_extensions, json_schema_input_type=dict[str, dict[str, Any]]),
    ] = Field(default_factory=dict)
    """Steps registered through ``kamsim.extensions``, each placed in a stage."""
    assumptions: dict[str, Assumption] = Field(default_factory=dict)
    """Low-confidence numbers by dotted key (``"stages.tender.odds.executive"``), each with
    its plausible range and source; ``kamsim check`` lists them and sensitivity analyses vary
    them."""
    uncertainty: dict[str, Distribution] = Field(default_factory=dict)
    """Settings drawn once per replication, by dotted key (``"arrivals.rate_per_month" =
    { dist = "gamma", shape = 120.5, scale = 0.1 }``), so that the spread of results carries
    the uncertainty of estimated parameters (see ``kamsim.uncertainty``). A key names a real
    number or a per-grade table (one draw for every grade); the distribution must draw only
    values the setting accepts. The draws replace the values set, which ``kamsim check``
    uses."""

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
            missing = [g for g in self.grades if g not in stage.pass_probability]
            if missing:
                problems.append(
                    f"stages.{key}.pass_probability: no value for grade(s) " + ", ".join(missing)
                )
            for pool in stage.pools:
                if self.resources[pool].capacity < 1:
                    problems.append(
                        f"resources.{pool}.headcount: stage {key} needs this pool, "
                        "headcount must be at least 1"
                    )
        if self.stages.implementation.patience is not None:
            problems.append(
                "stages.implementation.patience: a signed customer does not go cold; remove it"
            )
        if self.stages.implementation.stall_half_life_days is not None:
            problems.append(
                "stages.implementation.stall_half_life_days: a signed project does not stall "
                "out of the pipeline; remove it"
            )
        if self.focus.odds_per_deal != 1.0 and not self.resources.account_managers.ownership:
            problems.append(
                "focus.odds_per_deal: attention dilution needs named account managers; "
                "set resources.account_managers.ownership = true"
            )
        problems.extend(self._assumption_keys())
        problems.extend(uncertainty_problems(self))
        pol = self.policy
        engage = pol.executive_engagement != "none" and pol.executive_wait == "wait"
        rescue = pol.pipeline_review.every_days is not None and (
            pol.pipeline_review.action == "rescue"
        )
        needs: dict[PoolKey, bool] = {
            "executives": engage,
            "approvers": self.contract.approval_days is not None,
        }
        if rescue and self.resources.executives.capacity < 1:
            problems.append(
                "policy.pipeline_review.action: rescue needs executives; "
                "resources.executives.headcount must be at least 1"
            )
        for pool, needed in needs.items():
            if needed and self.resources[pool].capacity < 1:
                problems.append(
                    f"resources.{pool}.headcount: the policy or contract approval needs this "
                    "pool, headcount must be at least 1"
                )
        if pol.discount_authority is not None and self.contract.approval_days is None:
            problems.append(
                "policy.discount_authority: escalations need contract approval; "
                "set contract.approval_days"
            )
        ams = self.resources.account_managers
        if ams.ownership and ams.capacity < 1:
            problems.append(
                "resources.account_managers.headcount: ownership is on, headcount must be "
                "at least 1"
            )
        problems.extend(self._runnable())
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _assumption_keys(self) -> list[str]:
        """Each assumption must name a setting of this scenario."""
        data = self.model_dump(mode="json", exclude={"assumptions", "uncertainty"})
        problems = []
        for key in self.assumptions:
            try:
                setting(data, key)
            except KeyError:
                problems.append(f"assumptions.{key}: names no setting of this scenario")
        return problems

    def _runnable(self) -> list[str]:
        """Problems that would stop the run from finishing: too much work, dates past the
        calendar's end (see ``kamsim.limits``)."""
        problems: list[str] = []
        leads = self.expected_leads()
        if leads > MAX_EXPECTED_LEADS:
            problems.append(
                f"arrivals.rate_per_month: about {leads:,.6g} leads expected in one replication "
                f"(follow-on leads included), more than the limit of {MAX_EXPECTED_LEADS:,}"
            )
        cal = self.calendar
        months = cal.horizon_months + (MAX_DRAIN_MONTHS if cal.drain else 0)
        if (dt.date.max - cal.start).days < months * DAYS_PER_MONTH:
            what = (
                f"the horizon and a drain of up to {MAX_DRAIN_MONTHS} months"
                if cal.drain
                else "the horizon"
            )
            problems.append(f"calendar.start: {what} would run past {dt.date.max}")
        return problems

    def arrival_months(self) -> tuple[np.ndarray[Any, Any], ...]:
        """The arrival window as model months: each month's start and length in days, and
        the lead rate per day inside it (``rate_per_month`` times the month's seasonality
        factor, the factors rescaled to average 1). The last month may be partial."""
        arr = self.arrivals
        until = self.calendar.arrivals_until_days
        n_months = int(np.ceil(until / DAYS_PER_MONTH - 1e-12))
        starts = np.arange(n_months) * DAYS_PER_MONTH
        lengths = np.minimum(starts + DAYS_PER_MONTH, until) - starts
        factors = np.ones(12)
        if arr.seasonality is not None:
            factors = np.asarray(arr.seasonality, dtype=float)
            factors = factors * 12 / factors.sum()
        month_of_year = (self.calendar.start.month - 1 + np.arange(n_months)) % 12
        rates = arr.rate_per_month / DAYS_PER_MONTH * factors[month_of_year]
        return starts, lengths, rates

    def expected_leads(self) -> float:
        """Expected leads of one replication: new leads over the arrival window, times the
        largest number of follow-on generations they can bring (an upper bound)."""
        with np.errstate(over="ignore"):  # an absurd rate gives inf, which the cap refuses
            _, lengths, rates = self.arrival_months()
            new = float(np.dot(rates, lengths))
        p = self.repeat.probability
        return new * sum(p**g for g in range(MAX_FOLLOW_ON_GENERATIONS + 1))

    @property
    def grade_keys(self) -> tuple[GradeKey, ...]:
        return tuple(g for g in GRADES if g in self.grades)

    def __init__(self, **data: Any) -> None:
        """Validate keyword fields; problems raise :class:`ScenarioError`, one line each."""
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ScenarioError(problems_from_validation(err)) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate a mapping (e.g. parsed TOML); problems raise :class:`ScenarioError`."""
        check_depth(obj)
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as err:
            raise ScenarioError(problems_from_validation(err)) from None

    def with_overrides(self, overrides: Overrides) -> Scenario:
        """A new validated copy with overrides applied: ``"key=value"`` strings (values are
        TOML literals, as with ``--set``), a mapping from dotted key to value, or one string."""
        data = self.model_dump(mode="json", by_alias=True)
        return Scenario.model_validate(apply_overrides(data, overrides))
