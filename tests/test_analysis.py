"""``kamsim.analysis``: KPI tables with the mean, its interval and the spread across
replications; intervals inside each KPI's range and none from too few replications; paired
differences (with Bonferroni) refuse unpaired or foreign tables; KPI tables print readably
while staying numeric.

The interval oracle is the suite's one Student-t interval (``helpers.interval``: numpy and
scipy) on tables written out by hand, never kamsim; the KPIs' ranges are written out here
from their documented definitions.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE, KPI_COLUMNS
from helpers import interval
from mechanics_helpers import build, fixed, stream

import kamsim
from kamsim.analysis import describe, format_kpi, kpi_bounds, paired_difference, summarise
from kamsim.cli import format_summary

STATISTICS = ["mean", "half_width", "low", "high"]
SPREAD = ["sd", "p10", "p50", "p90"]
SUMMARY = ["kpi", "n", *STATISTICS, "note"]
DESCRIPTION = ["kpi", "n", *STATISTICS, *SPREAD, "note"]
DIFFERENCE = ["kpi", "n", *STATISTICS, *SPREAD, "level", "comparisons", "note"]
TOO_FEW = "too few replications for an interval"
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
    assert list(table.columns) == DIFFERENCE[1:]
    assert (table["level"] == 0.95).all() and (table["comparisons"] == 1).all()
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
        assert row["sd"] == pytest.approx(float(np.std(d, ddof=1)), rel=1e-12)
        assert row["p50"] == pytest.approx(float(np.median(d)), rel=1e-12)
        assert row["note"] == ""


def test_paired_difference_at_another_level() -> None:
    table = paired_difference(VARIANT, REFERENCE, level=0.9).set_index("kpi")
    d = (VARIANT["bookings"] - REFERENCE["bookings"]).to_numpy(dtype=float)
    hw = interval(d, level=0.9).half_width
    assert table.loc["bookings", "half_width"] == pytest.approx(hw, rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_paired_difference_widens_for_multiple_comparisons(k: int) -> None:
    table = paired_difference(VARIANT, REFERENCE, comparisons=k).set_index("kpi")
    single = paired_difference(VARIANT, REFERENCE).set_index("kpi")
    np.testing.assert_allclose(table["level"], 1 - 0.05 / k, rtol=1e-15)
    assert (table["comparisons"] == k).all()
    for kpi in ("bookings", "win_rate", "deals_won"):
        d = VARIANT[kpi].to_numpy(dtype=float) - REFERENCE[kpi].to_numpy(dtype=float)
        hw = interval(d, level=1 - 0.05 / k).half_width
        assert table.loc[kpi, "half_width"] == pytest.approx(hw, rel=1e-12)
        assert table.loc[kpi, "half_width"] > single.loc[kpi, "half_width"]
        assert table.loc[kpi, "mean"] == single.loc[kpi, "mean"]


def test_a_family_level_and_comparisons_combine() -> None:
    table = paired_difference(VARIANT, REFERENCE, level=0.9, comparisons=4).set_index("kpi")
    d = (VARIANT["bookings"] - REFERENCE["bookings"]).to_numpy(dtype=float)
    hw = interval(d, level=1 - 0.1 / 4).half_width
    assert table.loc["bookings", "half_width"] == pytest.approx(hw, rel=1e-12)


@pytest.mark.parametrize("comparisons", [0, -1, 2.5, True, "2"])
def test_refuses_comparisons_that_are_not_a_count(comparisons: object) -> None:
    with pytest.raises(ValueError, match="comparisons"):
        paired_difference(VARIANT, REFERENCE, comparisons=comparisons)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [0.0, 1.0, 95])
def test_refuses_a_level_outside_zero_to_one(level: float) -> None:
    for call in (
        lambda: paired_difference(VARIANT, REFERENCE, level=level),
        lambda: describe(VARIANT, level=level),
        lambda: summarise(VARIANT, level=level),
    ):
        with pytest.raises(ValueError, match="level"):
            call()


def test_the_refusals_hold_with_comparisons() -> None:
    with pytest.raises(ValueError, match="not paired"):
        paired_difference(VARIANT, REFERENCE.assign(seed=8), comparisons=3)
    with pytest.raises(ValueError, match="not a KPI table"):
        paired_difference(VARIANT, REFERENCE.drop(columns="seed"), comparisons=3)


def test_a_paired_difference_is_not_clipped_at_zero() -> None:
    """Differences of non-negative KPIs can be negative; a share's difference lies in
    [-1, 1]."""
    table = paired_difference(REFERENCE, VARIANT).set_index("kpi")
    assert table.loc["bookings", "mean"] < 0 and table.loc["bookings", "low"] < 0
    assert table.loc["win_rate", "high"] < 0 and table.loc["win_rate", "note"] == ""
    wild = kpis(7, [0, 1, 2], [0.0, 0.0, 0.0], [0.9, 0.95, 0.1])
    flat = kpis(7, [0, 1, 2], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    row = paired_difference(wild, flat).set_index("kpi").loc["win_rate"]
    assert row["mean"] + row["half_width"] > 1  # the t interval reaches past +100 points
    assert row["high"] == 1.0 and row["note"] == "high clipped at 100.0%"


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


# -- describe: the mean, its estimation error and the risk across replications ------------------


def test_describe_matches_a_hand_computation() -> None:
    table = describe(VARIANT)
    assert list(table.columns) == DESCRIPTION
    assert list(table["kpi"]) == ["bookings", "win_rate", "deals_won"]
    for row in table.to_dict("records"):
        x = VARIANT[row["kpi"]].to_numpy(dtype=float)
        ci = interval(x)
        assert row["n"] == 4
        assert row["mean"] == pytest.approx(ci.mean, rel=1e-12)
        assert row["half_width"] == pytest.approx(ci.half_width, rel=1e-12)
        assert row["sd"] == pytest.approx(float(np.std(x, ddof=1)), rel=1e-12)
        # Four values: the 10th percentile lies 0.3 of the way from the lowest to the second.
        s = np.sort(x)
        assert row["p10"] == pytest.approx(s[0] + 0.3 * (s[1] - s[0]), rel=1e-12)
        assert row["p50"] == pytest.approx((s[1] + s[2]) / 2, rel=1e-12)
        assert row["p90"] == pytest.approx(s[2] + 0.7 * (s[3] - s[2]), rel=1e-12)


def test_summarise_keeps_its_columns_and_agrees_with_describe() -> None:
    summary, description = summarise(VARIANT), describe(VARIANT)
    assert list(summary.columns) == SUMMARY
    pd.testing.assert_frame_equal(summary, description[SUMMARY])


def test_risk_stays_while_the_estimation_error_shrinks() -> None:
    """Four times the replications (the same values repeated): the spread across
    replications is about the same, the interval of the mean about half as wide."""
    many = pd.concat([VARIANT.assign(replication=VARIANT["replication"] + 4 * i) for i in range(4)])
    few, more = describe(VARIANT).set_index("kpi"), describe(many).set_index("kpi")
    for kpi in ("bookings", "win_rate"):
        assert more.loc[kpi, "sd"] == pytest.approx(few.loc[kpi, "sd"], rel=0.15)
        assert more.loc[kpi, "p10"] == pytest.approx(few.loc[kpi, "p10"], rel=0.15)
        ratio = more.loc[kpi, "half_width"] / few.loc[kpi, "half_width"]
        # 1/sqrt(4) x t(0.975, 15) / t(0.975, 3) x the sd's ratio sqrt((16/15) / (4/3))
        assert ratio == pytest.approx(0.5 * 2.131450 / 3.182446 * math.sqrt(0.8), rel=1e-6)


def test_two_replications_give_no_interval() -> None:
    """``kamsim run --reps 2`` used to print utilisation as "[-2.9%, 149.6%]"."""
    two = pd.DataFrame(
        {
            "replication": [0, 1],
            "seed": [0, 0],
            "util_presales": [0.04, 0.93],
            "bookings": [1.0e6, 3.0e6],
        }
    )
    ci = interval(two["util_presales"])
    assert ci.mean - ci.half_width < 0 and ci.mean + ci.half_width > 1  # what it used to be
    for table in (describe(two), summarise(two)):
        for row in table.to_dict("records"):
            assert row["n"] == 2 and row["note"] == TOO_FEW
            assert math.isnan(row["half_width"]) and math.isnan(row["low"])
            assert math.isnan(row["high"])
            assert not math.isnan(row["mean"])
    text = format_summary(summarise(two), "CNY")
    util = next(line for line in text.splitlines() if line.startswith("util_presales"))
    assert "-" in util.split() and "%," not in util  # no interval, whatever note follows
    three = pd.concat([two, two.iloc[[0]].assign(replication=2)])  # negative control
    assert describe(three)["half_width"].notna().all()


def test_undefined_kpis_have_no_values_and_no_interval() -> None:
    table = describe(VARIANT.assign(util_executives=math.nan)).set_index("kpi")
    row = table.loc["util_executives"]
    assert row["n"] == 0 and math.isnan(row["mean"]) and math.isnan(row["high"])
    assert row["note"] == "no values"


def test_intervals_stay_inside_each_kpis_range() -> None:
    table = pd.DataFrame(
        {
            "replication": [0, 1, 2],
            "seed": [0, 0, 0],
            "util_presales": [0.97, 0.99, 0.999],
            "win_rate": [0.0, 0.01, 0.12],
            "bookings": [1.0e4, 2.0e4, 9.0e5],
            "cycle_time_days": [3.0, 4.0, 90.0],
            "gross_margin": [-5.0e5, 1.0e4, 9.0e5],
            "bids": [0.01, 0.02, 0.9],
        }
    )
    rows = describe(table).set_index("kpi")
    plain = {kpi: interval(table[kpi]) for kpi in rows.index}
    assert rows.loc["util_presales", "high"] == 1.0
    assert rows.loc["util_presales", "note"] == "high clipped at 100.0%"
    for kpi, note in (
        ("win_rate", "low clipped at 0.0%"),
        ("bookings", "low clipped at 0"),
        ("cycle_time_days", "low clipped at 0.0"),
    ):
        assert plain[kpi].mean - plain[kpi].half_width < 0  # the t interval goes below 0
        assert rows.loc[kpi, "low"] == 0.0 and rows.loc[kpi, "note"] == note
        assert rows.loc[kpi, "high"] == pytest.approx(plain[kpi].mean + plain[kpi].half_width)
    # Negative controls: gross margin can be negative, and a name that is not a KPI has no
    # known range, so neither is clipped.
    for kpi in ("gross_margin", "bids"):
        assert rows.loc[kpi, "low"] == pytest.approx(plain[kpi].mean - plain[kpi].half_width)
        assert rows.loc[kpi, "low"] < 0 and rows.loc[kpi, "note"] == ""


def test_the_command_prints_a_clipped_interval_inside_the_range() -> None:
    table = pd.DataFrame(
        {"replication": [0, 1, 2], "seed": [0, 0, 0], "util_presales": [0.97, 0.99, 0.999]}
    )
    text = format_summary(summarise(table), "CNY")
    ci = interval(table["util_presales"])
    low = format_kpi("util_presales", ci.mean - ci.half_width)
    assert ci.mean + ci.half_width > 1
    assert f" [{low}, 100.0%]" in text.splitlines()[1], text


# -- every KPI's range --------------------------------------------------------------------------

UNBOUNDED = (-math.inf, math.inf)
SIGNED = {"gross_margin": UNBOUNDED, "contribution": UNBOUNDED, "gross_margin_pct": (-math.inf, 1)}
"""Gross margin and contribution are negative for loss-making deals; a booked margin is
1 - (1 - margin) / price, below 1 but below -1 when a discount meets a negative margin."""


def expected_range(kpi: str) -> tuple[float, float]:
    """Each KPI's range from its definition (docs/kpis.md), written out independently."""
    if kpi in SIGNED:
        return SIGNED[kpi]
    if kpi.startswith("util_") or kpi.endswith(("_rate", "_share", "_30d")):
        return (0.0, 1.0)
    if kpi in ("lead_conversion", "approval_to_signed"):
        return (0.0, 1.0)
    return (0.0, math.inf)  # money, days, waits, deal counts, executive days


def test_every_kpi_has_its_range() -> None:
    kpi_names = KPI_COLUMNS[2:]
    for kpi in kpi_names:
        bounds = kpi_bounds(kpi)
        assert (bounds.low, bounds.high) == expected_range(kpi), kpi
    assert (kpi_bounds("bids").low, kpi_bounds("bids").high) == UNBOUNDED


def assert_inside_ranges(kpis_table: pd.DataFrame) -> None:
    for kpi in KPI_COLUMNS[2:]:
        x = kpis_table[kpi].dropna().to_numpy(dtype=float)
        bounds = kpi_bounds(kpi)
        assert ((x >= bounds.low) & (x <= bounds.high)).all(), (kpi, x)


def test_simulated_kpis_lie_inside_their_ranges(
    short_runs: tuple[kamsim.Result, kamsim.Result],
) -> None:
    for result in short_runs:
        assert_inside_ranges(result.kpis)


def test_loss_making_deals_leave_the_share_range() -> None:
    """Margin -90% and a 50% price-fight discount: booked margin 1 - 1.9 / 0.5 = -280%. The
    margin KPIs fall outside what their units alone would allow, inside their own ranges."""
    data = stream(
        20,
        3,
        grades={"A": {"share": 1.0, "value": fixed(1.0e6), "margin": fixed(-0.9)}},
        competition={"price_fight_discount": fixed(0.5)},
    )
    result = kamsim.run(build(data), reps=3, seed=4)
    assert_inside_ranges(result.kpis)
    np.testing.assert_allclose(result.kpis["gross_margin_pct"], -2.8, rtol=1e-12)
    assert (result.kpis["gross_margin"] < 0).all() and (result.kpis["contribution"] < 0).all()
    rows = describe(result.kpis).set_index("kpi")
    assert (
        rows.loc["gross_margin_pct", "note"] == "all replications equal: the interval has no width"
    )
    assert rows.loc["gross_margin", "high"] < 0
