"""The domain's fixed words: stage, pool, grade, outcome and exit-reason keys.

Keys never change with the display language; localised display labels (English, Chinese)
will map these keys, never replace them.
"""

from __future__ import annotations

from typing import Final, Literal

StageKey = Literal["development", "approval", "proposal", "tender", "negotiation", "implementation"]
PoolKey = Literal["account_managers", "presales", "delivery", "approvers", "executives"]
GradeKey = Literal["A", "B", "C", "D"]

STAGES: Final[tuple[StageKey, ...]] = (
    "development",
    "approval",
    "proposal",
    "tender",
    "negotiation",
    "implementation",
)
"""Stages in the order a deal moves through them; signing completes ``negotiation``."""

POOLS: Final[tuple[PoolKey, ...]] = (
    "account_managers",
    "presales",
    "delivery",
    "approvers",
    "executives",
)
"""Resource pools; a deal needing several pools takes them in this order (no deadlock)."""

GRADES: Final[tuple[GradeKey, ...]] = ("A", "B", "C", "D")

OUTCOMES: Final[tuple[str, ...]] = ("won", "lost", "open")

DEFAULT_EXIT_REASONS: Final[dict[StageKey, str]] = {
    "development": "disqualified",
    "approval": "not_shortlisted",
    "proposal": "customer_dropped",
    "tender": "bid_lost",
    "negotiation": "negotiation_failed",
    "implementation": "cancelled",
}
"""Why a deal leaves when it fails a stage's pass draw, unless the scenario renames it."""

MECHANISM_EXITS: Final[tuple[str, ...]] = (
    "went_cold",
    "no_bid",
    "withdrew",
    "not_approved",
    "stalled",
)
"""Exit reasons of the mechanisms: customer patience ran out, no bid below the margin bar,
withdrawal when criteria favour a rival, rejected by qualification, closed by a review."""

DAYS_PER_MONTH: Final[float] = 365.0 / 12.0
"""The model's time unit is the day; a rate "per month" means per 365/12 days."""
