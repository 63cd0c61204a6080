"""``kamsim.analysis``: paired differences refuse unpaired or foreign tables, and KPI tables
print readably while staying numeric.

The interval oracle is the suite's one Student-t interval (``helpers.interval``: numpy and
scipy) on tables written out by hand, never kamsim.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE, KPI_COLUMNS
from helpers import interval

import kamsim
from kamsim.analysis import format_kpi, paired_difference, summarise
from kamsim.cli import format_summary

STATISTICS = ["mean", "half_width", "low", "high"]
THOUSANDS = re.compile(r"\d,\d{3}")


def kpis(seed: int, reps: list[int], bookings: list[float], wins: list[float]) -> pd.DataFrame:
    """A hand-made KPI table with three KPIs (money, rate, count)."""
    return pd.DataFrame(
        {
            "replication": pd.Series(reps, dtype="int64"),
            "seed": pd.Series([seed] * len(reps), dtype="int64"),
            "bookings": bookings,
            "win_rate": wins,
            "deals_won": pd.Series([10 * w for w in wins]).round().astype("int64"),
        }
    )


VARIANT = kpis(7, [0, 1, 2, 3], [1.2e6, 2.5e6, 0.9e6, 3.1e6], [0.31, 0.42, 0.28, 0.50])
REFERENCE = kpis(7, [0, 1, 2, 3], [1.0e6, 2.6e6, 0.7e6, 2.8e6], [0.30, 0.35, 0.21, 0.44])


@pytest.fixture(scope="module")
def short_runs() -> tuple[kamsim.Result, kamsim.Result]:
    """Six months of the baseline (3 replications, seed 1) and of a variant of it."""
    scenario = kamsim.load_scenario(
        BASELINE, ["calendar.horizon_months=6", "calendar.warmup_months=0"]
    )
    variant = scenario.with_overrides(["resources.presales.headcount=6"])
    return kamsim.run(variant, reps=3, seed=1), kamsim.run(scenario, reps=3, seed=1)


# -- a correct pair -----------------------------------------------------------------------------


def test_paired_difference_matches_a_t_interval_computed_by_hand() -> None:
    reference = REFERENCE.iloc[[2, 0, 3, 1]].reset_index(drop=True)  # order does not matter
    table = paired_difference(VARIANT, reference).set_index("kpi")
    assert list(table.index) == ["bookings", "win_rate", "deals_won"]
    assert list(table.columns) == ["n", *STATISTICS]
    for kpi in ("bookings", "win_rate", "deals_won"):
        d = VARIANT[kpi].to_numpy(dtype=float) - REFERENCE[kpi].to_numpy(dtype=float)
        ci = interval(d)
        mean, hw = ci.mean, ci.half_width
        row = table.loc[kpi]
        assert row["n"] == 4
        assert row["mean"] == pytest.approx(mean, rel=1e-12)
        assert row["half_width"] == pytest.approx(hw, rel=1e-12)
        assert row["low"] == pytest.approx(mean - hw, rel=1e-12)
        assert row["high"] == pytest.approx(mean + hw, rel=1e-12)


def test_paired_difference_at_another_level() -> None:
    table = paired_difference(VARIANT, REFERENCE, level=0.9).set_index("kpi")
    d = (VARIANT["bookings"] - REFERENCE["bookings"]).to_numpy(dtype=float)
    hw = interval(d, level=0.9).half_width
    assert table.loc["bookings", "half_width"] == pytest.approx(hw, rel=1e-12)


def test_extra_numeric_metrics_are_compared_too() -> None:
    variant = VARIANT.assign(bids=[5, 6, 7, 8])
    reference = REFERENCE.assign(bids=[4, 6, 5, 8])
    table = paired_difference(variant, reference).set_index("kpi")
    assert table.loc["bids", "mean"] == pytest.approx(0.75)


# -- refusals -----------------------------------------------------------------------------------


def refuses(variant: pd.DataFrame, reference: pd.DataFrame, *patterns: str) -> str:
    with pytest.raises(ValueError) as info:
        paired_difference(variant, reference)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    return message


@pytest.mark.parametrize("table", ["deals", "timeseries", "events"])
def test_refuses_a_table_that_is_not_a_kpi_table(
    short_runs: tuple[kamsim.Result, kamsim.Result], table: str
) -> None:
    variant, reference = short_runs
    refuses(variant.kpis, getattr(reference, table), "reference is not a KPI table", "seed")
    refuses(getattr(variant, table), reference.kpis, "variant is not a KPI table", "seed")


@pytest.mark.parametrize("key", ["replication", "seed"])
def test_refuses_a_table_without_replication_or_seed(key: str) -> None:
    refuses(VARIANT.drop(columns=key), REFERENCE, "variant is not a KPI table", f"no {key}")


def test_refuses_a_non_numeric_kpi_column() -> None:
    text = REFERENCE.assign(win_rate=REFERENCE["win_rate"].map(lambda x: f"{x:.0%}"))
    refuses(VARIANT, text, "reference is not a KPI table", "win_rate", "not numeric")


def test_refuses_a_table_without_any_kpi() -> None:
    other = REFERENCE[["replication", "seed"]].assign(month=[0, 1, 2, 3])
    refuses(VARIANT, other, "reference is not a KPI table", "none of its columns is a KPI")


def test_refuses_something_that_is_not_a_table() -> None:
    refuses(VARIANT, REFERENCE.to_dict(), "reference is not a KPI table", "DataFrame")  # type: ignore[arg-type]


def test_refuses_different_seeds() -> None:
    other = REFERENCE.assign(seed=8)
    refuses(VARIANT, other, "not paired", r"\(seed, replication\)", "seed 7", "seed 8")


def test_refuses_different_replications() -> None:
    refuses(
        VARIANT, REFERENCE.iloc[:3], "not paired", r"only in variant: \(seed 7, replication 3\)"
    )
    shifted = REFERENCE.assign(replication=[1, 2, 3, 4])
    refuses(VARIANT, shifted, "not paired", "replication 0", "replication 4")


def test_refuses_stacked_runs() -> None:
    stacked = pd.concat([VARIANT, VARIANT], ignore_index=True)
    refuses(stacked, REFERENCE, "variant holds a replication more than once", "replication 0")
    refuses(stacked, stacked, "variant holds a replication more than once")


def test_refuses_different_kpi_columns() -> None:
    refuses(
        VARIANT.drop(columns="deals_won"),
        REFERENCE,
        "different KPI columns",
        "only in reference: deals_won",
    )


def test_refuses_an_empty_table() -> None:
    refuses(VARIANT.iloc[:0], REFERENCE.iloc[:0], "variant has no replications")


def test_refuses_unpaired_runs_of_the_library(
    short_runs: tuple[kamsim.Result, kamsim.Result], baseline: kamsim.Scenario
) -> None:
    variant, _ = short_runs
    other_seed = kamsim.run(
        baseline.with_overrides(["calendar.horizon_months=6", "calendar.warmup_months=0"]),
        reps=3,
        seed=2,
    )
    refuses(variant.kpis, other_seed.kpis, "not paired", "seed 1", "seed 2")


# -- readable and still numeric ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kpi", "value", "text"),
    [
        ("bookings", 5.821116e08, "582,111,600"),
        ("cost_of_sale", -1234.4, "-1,234"),
        ("win_rate", 0.35214, "35.2%"),
        ("gross_margin_pct", -0.0001, "0.0%"),
        ("util_presales", 0.5, "50.0%"),
        ("deals_won", 1234.56, "1,234.6"),
        ("cycle_time_days", 156.04, "156.0"),
        ("win_rate", math.nan, "-"),
        ("wait_presales", 12.345, "12.3"),
        ("queue_presales", 12.345, "12.35"),
        ("queue_presales", 0.000123, "0.000123"),
        ("bids", 123456.7, "123,457"),
    ],
)
def test_format_kpi(kpi: str, value: float, text: str) -> None:
    assert format_kpi(kpi, value) == text


def test_every_kpi_prints_without_an_exponent() -> None:
    for kpi in KPI_COLUMNS:
        for value in (1e-9, 0.123, 5.821116e08, 1e15, -3e7):
            assert "e" not in format_kpi(kpi, value).lower(), (kpi, value)


def readable(text: str) -> None:
    assert "e+" not in text and "e-" not in text, text
    assert THOUSANDS.search(text), text


def test_summaries_print_readably(short_runs: tuple[kamsim.Result, kamsim.Result]) -> None:
    variant, reference = short_runs
    for table in (summarise(reference.kpis), paired_difference(variant.kpis, reference.kpis)):
        for text in (repr(table), str(table), table.to_string(), table._repr_html_() or ""):
            readable(text)
        readable(repr(table.set_index("kpi")))
        readable(repr(table[["kpi", "mean"]]))
        head = table.head(3)
        assert type(head) is type(table)
        assert "e+" not in repr(head)
    bookings = summarise(reference.kpis).set_index("kpi").loc["bookings", "mean"]
    assert format_kpi("bookings", bookings) in repr(summarise(reference.kpis))


def test_summaries_stay_numeric(short_runs: tuple[kamsim.Result, kamsim.Result]) -> None:
    variant, reference = short_runs
    for table in (summarise(reference.kpis), paired_difference(variant.kpis, reference.kpis)):
        assert isinstance(table, pd.DataFrame)
        for col in STATISTICS:
            assert table[col].dtype == np.float64, col
        assert pd.api.types.is_integer_dtype(table["n"])
        records = table.to_dict("records")
        assert all(isinstance(r["mean"], float) for r in records)
        doubled = table["mean"] * 2
        assert doubled.dtype == np.float64
        np.testing.assert_allclose(doubled.to_numpy(), 2 * table["mean"].to_numpy())
        plain = pd.DataFrame(table.to_dict("list"))
        pd.testing.assert_frame_equal(table, plain)
        pd.testing.assert_frame_equal(pd.DataFrame(table), plain)


def test_summarise_matches_a_hand_computation() -> None:
    table = summarise(VARIANT).set_index("kpi")
    x = VARIANT["bookings"].to_numpy(dtype=float)
    ci = interval(x)
    assert table.loc["bookings", "mean"] == pytest.approx(ci.mean, rel=1e-12)
    assert table.loc["bookings", "half_width"] == pytest.approx(ci.half_width, rel=1e-12)
    assert "replication" not in table.index and "seed" not in table.index


def test_the_command_prints_with_the_same_rule(
    short_runs: tuple[kamsim.Result, kamsim.Result],
) -> None:
    _, reference = short_runs
    summary = summarise(reference.kpis)
    text = format_summary(summary, "EUR")
    readable(text)
    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "(EUR)" in rows["bookings"] and "(EUR)" not in rows["win_rate"]
    for row in summary.to_dict("records"):
        assert format_kpi(str(row["kpi"]), float(row["mean"])) in rows[str(row["kpi"])]
