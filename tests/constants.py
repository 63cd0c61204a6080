"""The suite's constants: paths, the model month and the domain's contracts, written out once.

The keys and names below are the documented contract (README, DOMAIN.md), spelled out here
rather than imported from ``kamsim``, so the tests stay an independent oracle: a renamed KPI,
pool or exit reason in the code under test fails a test instead of silently moving the oracle.
Test modules import them from here (``helpers`` re-exports the ones it used to define).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root folder."""
SCENARIOS = ROOT / "scenarios"
"""The bundled scenarios."""
BASELINE = SCENARIOS / "baseline.toml"
"""The bundled baseline scenario."""
CRM_SAMPLE = ROOT.parent / "shared" / "data" / "crm-sales-opportunities" / "sales_pipeline.csv"
"""The public CRM data set's opportunity file, where the checkout sits beside ``shared``
(tests that need it are marked ``helpers.needs_sample`` and skip without it)."""

DAYS_PER_MONTH = 365 / 12
"""The model month by definition (README: "per month" means per 365/12 days)."""

STAGES = ("development", "approval", "proposal", "tender", "negotiation", "implementation")
"""The stages in the order a deal moves through them."""
POOLS = ("account_managers", "presales", "delivery", "approvers", "executives")
"""The resource pools in their documented order."""
GRADES = ("A", "B", "C", "D")
"""Account grades, best first."""
OUTCOMES = ("won", "lost", "open")
"""A deal's outcome in the deals table."""

KPI_COLUMNS = [
    "replication",
    "seed",
    # money
    "bookings",
    "revenue",
    "cash",
    "gross_margin",
    "cost_of_sale",
    "contribution",
    # rates and shares
    "gross_margin_pct",
    "win_rate",
    "lead_conversion",
    "tender_win_rate",
    "approval_to_signed",
    "no_decision_share",
    "award_to_signature_30d",
    "q4_acceptance_share",
    # times and waits
    "cycle_time_days",
    "dso_days",
    *(f"wait_{p}" for p in POOLS),
    # deal counts
    "deals_won",
    "deals_lost",
    "deals_open",
    # the load on people
    "executive_days_per_month",
    *(f"util_{p}" for p in POOLS),
]
"""The columns of the KPI table, in order: the run's keys, then the KPI names."""
KPI_BY_YEAR_COLUMNS = [*KPI_COLUMNS[:2], "year", *KPI_COLUMNS[2:]]
"""The columns of the KPIs-by-calendar-year table: the keys, the year, then the KPIs."""

STAGE_EXIT_REASONS = {
    "development": "disqualified",
    "approval": "not_shortlisted",
    "proposal": "customer_dropped",
    "tender": "bid_lost",
    "negotiation": "negotiation_failed",
}
"""Why a deal is lost when it fails a stage's pass draw, unless the scenario renames it.
Failing implementation does not lose the deal: its visit ends ``CANCELLED`` and it stays won."""
CANCELLED = "cancelled"
"""The result of an implementation visit that failed; the deal's ``cancelled`` flag is set."""
MECHANISM_EXIT_REASONS = ("went_cold", "no_bid", "withdrew", "not_approved", "stalled")
"""Exit reasons of the mechanisms: patience ran out, no bid below the margin bar, withdrawal
when the criteria favour a rival, rejected by qualification, closed by a pipeline review."""
PRE_SIGNING = STAGES[:-1]
"""The stages before signing (a deal can be lost only in these)."""
EXIT_STAGES = {
    **{reason: {stage} for stage, reason in STAGE_EXIT_REASONS.items()},
    "no_bid": {"tender"},
    "withdrew": {"tender"},
    "not_approved": {"approval"},
    "went_cold": set(PRE_SIGNING),
    "stalled": set(PRE_SIGNING),
}
"""Where each exit reason of a lost deal can occur (DOMAIN.md's stage table and the levers)."""

RUN_FILES = [
    "deals.parquet",
    "events.parquet",
    "timeseries.parquet",
    "kpis.csv",
    "kpis_by_year.csv",
    "manifest.json",
]
"""The files a written run holds: every table in registry order, then the manifest."""
VARIANT_FILES = RUN_FILES[:-1]
"""The tables in each variant's folder of a command's output (run, compare, sweep, ...)."""
OUTPUT_FILES = ["check.json", "manifest.json", "summary.csv"]
"""The files every experiment command writes at the top of its output folder."""
