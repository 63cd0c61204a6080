"""The levers management pulls, kept apart from the scenario's description of the world.

A scenario's ``[policy]`` table is validated into :class:`Policy`. Every lever's default is
neutral (the plain funnel), so switching one on is an explicit, visible choice. Staffing levels
are not policies here: they are plain overrides of ``resources.<pool>.headcount``. An unknown
value is an error that lists the valid ones.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from kamsim.limits import MAX_DAYS, MAX_DEALS_PER_PERSON, MIN_REVIEW_DAYS
from kamsim.validation import MARGIN_BAR, MONEY, Probability, Range, Strict
from kamsim.vocabulary import GradeKey

EngagementStage = Literal["none", "approval", "proposal", "tender", "negotiation", "implementation"]
QueueOrder = Literal["fifo", "grade", "value", "oldest"]


class Qualification(Strict):
    """Project approval (立项) rejects deals below these bars with ``not_approved``."""

    min_grade: GradeKey = "D"
    """Lowest account grade approved ("B" approves A and B accounts only)."""
    min_margin: Annotated[float, MARGIN_BAR.bounds()] | None = None
    """Lowest expected gross margin approved (fraction); empty: no bar."""
    min_value: Annotated[float, MONEY.bounds()] | None = None
    """Lowest expected contract value approved; empty: no bar."""


class Priority(Strict):
    """Queue order for presales and delivery: ``fifo`` (first come), ``grade`` (A first),
    ``value`` (largest first) or ``oldest`` (earliest lead first)."""

    presales: QueueOrder = "fifo"
    """Order of the presales queue."""
    delivery: QueueOrder = "fifo"
    """Order of the delivery queue."""


class PipelineReview(Strict):
    """Periodic management review of stalled deals (异常现象)."""

    every_days: Annotated[float, Range(MIN_REVIEW_DAYS, MAX_DAYS).bounds()] | None = None
    """Days between reviews (at least 1); empty: no review."""
    stale_after_days: Annotated[float, Range(0.0, MAX_DAYS, low_open=True).bounds()] = 90.0
    """A deal in one pre-signing stage for longer than this is stalled."""
    action: Literal["close", "rescue"] = "close"
    """``close`` ends stalled deals (exit ``stalled``); ``rescue`` sends a free executive for
    a visit, giving the deal an executive relationship."""


def _one_for_both(v: Any) -> Any:
    return {"presales": v, "delivery": v} if isinstance(v, str) else v


class Policy(Strict):
    """Policy levers."""

    executive_engagement: EngagementStage = "none"
    """Stage at whose start an executive visits the customer (holding an ``executives`` slot
    for ``relationship.executive_visit_days``); the relationship then raises later chances.
    ``implementation`` meets the customer's executives after signing, the easiest time: it
    raises no chance of this deal but builds the account's tie and its repeat business."""
    executive_wait: Literal["wait", "skip"] = "wait"
    """When every executive is busy: ``wait`` for one, or ``skip`` the engagement."""
    qualification: Qualification = Qualification()
    """Bars applied at project approval."""
    bid_min_margin: Annotated[float, MARGIN_BAR.bounds()] | None = None
    """Bid only when the expected margin after the expected price-fight discount reaches this;
    otherwise exit ``no_bid`` before using presales time. Empty: always bid."""
    priority: Annotated[
        Priority, BeforeValidator(_one_for_both, json_schema_input_type=QueueOrder | Priority)
    ] = Priority()
    """Queue order of presales and delivery; a single word sets both."""
    am_active_deal_cap: Annotated[int, Field(ge=1, le=MAX_DEALS_PER_PERSON)] | None = None
    """WIP limit: at most this many active deals per account manager (lowers their
    ``deals_per_person``)."""
    pipeline_review: PipelineReview = PipelineReview()
    """Periodic review of stalled deals."""
    discount_authority: Probability | None = None
    """Largest total discount signed without a second contract approval; empty: any."""
