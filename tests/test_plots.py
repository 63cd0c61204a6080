"""Plots draw the data they are given: every figure is read back through its artists' gids
and compared with figures computed here from the run's own tables (the deals, events and
timeseries), not with what the plotting code computed.

Every figure is rendered to PNG, so a missing glyph (matplotlib warns, and the suite turns
warnings into errors) fails the test: Chinese figures must find the bundled CJK font.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE, OUTCOMES, POOLS, STAGES
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import kamsim
from kamsim import fonts, plots
from kamsim.comparison import compare, flips
from kamsim.experiment import experiment, grid
from kamsim.sweep import sensitivity_variants, sweep_table, tornado

SEED = 5
REPS = 3
SHORT = {
    "calendar.horizon_months": 18,
    "calendar.warmup_months": 6,
    "resources.presales.headcount": 5,  # presales over capacity: queues and waits to draw
}
AXES = {"resources.presales.headcount": [5, 7], "resources.account_managers.headcount": [10, 11]}
PARAMS = {"arrivals.rate_per_month": (20.0, 40.0), "stages.tender.odds.shaped": (1.5, 3.0)}
CJK_FILE = "NotoSansCJKsc-Regular.otf"


# -- fixtures: small runs, once per module ------------------------------------------------------


@pytest.fixture(scope="module")
def scenario() -> kamsim.Scenario:
    return kamsim.load_scenario(BASELINE, SHORT)


@pytest.fixture(scope="module")
def result(scenario: kamsim.Scenario) -> kamsim.Result:
    return kamsim.run(scenario, reps=REPS, seed=SEED)


@pytest.fixture(scope="module")
def roomier(scenario: kamsim.Scenario) -> kamsim.Result:
    """The same customers with more presales engineers (same seed)."""
    return kamsim.run(
        scenario.with_overrides({"resources.presales.headcount": 8}), reps=REPS, seed=SEED
    )


@pytest.fixture(scope="module")
def pair(scenario: kamsim.Scenario) -> Any:
    variants = {
        "base": scenario,
        "early": scenario.with_overrides({"policy.executive_engagement": "proposal"}),
    }
    return experiment(variants, reps=REPS, seed=SEED, workers=1, progress=False, deals=True)


@pytest.fixture(scope="module")
def sweep(scenario: kamsim.Scenario) -> Any:
    return experiment(grid(AXES), reps=2, seed=SEED, base=scenario, workers=1, progress=False)


@pytest.fixture(scope="module")
def sensitivity(scenario: kamsim.Scenario) -> Any:
    variants = sensitivity_variants(scenario, PARAMS)
    return experiment(variants, reps=2, seed=SEED, base=scenario, workers=1, progress=False)


@pytest.fixture(scope="module")
def check(scenario: kamsim.Scenario) -> kamsim.Check:
    return kamsim.check(scenario)


# -- reading a figure back ----------------------------------------------------------------------


def rendered(fig: Figure) -> Figure:
    """Render to PNG: every glyph is looked up (a missing one warns, an error here)."""
    assert isinstance(fig, Figure)
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    return fig


def by_gid(fig: Figure, prefix: str) -> dict[str, Any]:
    found: dict[str, Artist] = {}
    for artist in fig.findobj(lambda a: str(a.get_gid() or "").startswith(prefix)):
        gid = str(artist.get_gid())
        assert gid not in found, f"two artists with gid {gid}"
        found[gid] = artist
    return found


def line_y(artist: Line2D) -> np.ndarray:
    return np.asarray(artist.get_ydata(), dtype=float)


def vertices(collection: Any) -> np.ndarray:
    return np.concatenate([p.vertices for p in collection.get_paths()])


def per_x(points: np.ndarray, xs: np.ndarray, reduce: Callable[..., Any]) -> np.ndarray:
    """``reduce`` of the y values of a polygon's vertices at each x."""
    return np.array([reduce(points[np.isclose(points[:, 0], x), 1]) for x in xs])


def month_dates(table: pd.DataFrame) -> np.ndarray:
    firsts = table.groupby("month", sort=True)["date"].first()
    return np.asarray(date2num(list(firsts)))


def monthly(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Months x replications of one timeseries column."""
    return table.pivot_table(index="month", columns="replication", values=column).sort_index()


# -- funnel -------------------------------------------------------------------------------------


def funnel_oracle(deals: pd.DataFrame, reps: int) -> dict[tuple[str, str], float]:
    """Per (stage, how the visit ended): deals per replication, from the deals table alone.

    Stages are sequential, so a deal entered every stage up to its last; it passed those
    before, and in its last it was lost (its exit reason), still there (open), or, for a won
    deal in implementation, accepted (passed), cancelled, or still delivering."""
    last = deals["last_stage"].astype(str).map(STAGES.index).to_numpy()
    outcome = deals["outcome"].astype(str).to_numpy()
    reason = deals["exit_reason"].fillna("").astype(str).to_numpy()
    accepted = deals["accepted_at"].notna().to_numpy()
    cancelled = deals["cancelled"].to_numpy(bool)
    counts: dict[tuple[str, str], float] = {}
    for i, stage in enumerate(STAGES):
        here = last == i
        ended = {"passed": int((last > i).sum())}
        if stage == "implementation":
            ended["passed"] += int((here & accepted).sum())
            ended["cancelled"] = int((here & cancelled).sum())
            ended["open"] = int((here & ~accepted & ~cancelled).sum())
        else:
            ended["open"] = int((here & (outcome == "open")).sum())
            for r in set(reason[here & (outcome == "lost")]):
                ended[str(r)] = int((here & (outcome == "lost") & (reason == r)).sum())
        counts |= {(stage, flow): n / reps for flow, n in ended.items() if n}
    return counts


def funnel_drawn(fig: Figure, group: str) -> dict[tuple[str, str], float]:
    drawn = {}
    for gid, patch in by_gid(fig, f"funnel:{group}:").items():
        _, _, stage, flow = gid.split(":")
        if patch.get_width() > 0:
            drawn[(stage, flow)] = patch.get_width()
    return drawn


def test_funnel_bars_are_the_deals_entering_and_leaving_each_stage(result: kamsim.Result) -> None:
    fig = rendered(plots.funnel(result))
    expected = funnel_oracle(result.deals, REPS)
    drawn = funnel_drawn(fig, "all")
    assert drawn.keys() == expected.keys()
    for key, value in expected.items():
        assert drawn[key] == pytest.approx(value), key
    # each stage's bar starts where the previous flow ended: its length is the deals entering
    for stage in STAGES:
        patches = [p for g, p in by_gid(fig, f"funnel:all:{stage}:").items()]
        right = max(p.get_x() + p.get_width() for p in patches)
        entered = sum(v for (s, _), v in expected.items() if s == stage)
        assert right == pytest.approx(entered)
    assert f"{REPS} replications, seed {SEED}" in fig.get_suptitle()


def test_funnel_by_grade_splits_the_same_counts(result: kamsim.Result) -> None:
    fig = rendered(plots.funnel(result, by_grade=True))
    for grade in ("A", "B", "C", "D"):
        deals = result.deals[result.deals["grade"].astype(str) == grade]
        expected = funnel_oracle(deals, REPS)
        drawn = funnel_drawn(fig, grade)
        assert drawn.keys() == expected.keys(), grade
        assert all(drawn[k] == pytest.approx(v) for k, v in expected.items()), grade


# -- money over time ----------------------------------------------------------------------------


@pytest.mark.parametrize("kpi", ["bookings", "cash"])
def test_fan_draws_the_monthly_median_and_p10_to_p90(result: kamsim.Result, kpi: str) -> None:
    fig = rendered(plots.fan(result, kpi=kpi))
    table = monthly(result.timeseries, kpi)
    name = result.scenario.name
    median = by_gid(fig, f"median:{name}")[f"median:{name}"]
    np.testing.assert_allclose(line_y(median), table.median(axis=1).to_numpy())
    np.testing.assert_allclose(date2num(median.get_xdata()), month_dates(result.timeseries))
    band = vertices(by_gid(fig, f"band:{name}")[f"band:{name}"])
    xs = month_dates(result.timeseries)
    np.testing.assert_allclose(per_x(band, xs, np.min), np.percentile(table, 10, axis=1))
    np.testing.assert_allclose(per_x(band, xs, np.max), np.percentile(table, 90, axis=1))
    assert result.scenario.calendar.currency in fig.axes[0].get_ylabel()


def test_fan_of_an_experiment_has_every_variant_cumulated(pair: Any) -> None:
    fig = rendered(plots.fan(pair, kpi="revenue", cumulative=True))
    lines = by_gid(fig, "median:")
    assert sorted(lines) == sorted(f"median:{v}" for v in pair.labels)
    colours = {tuple(line.get_color()) for line in lines.values()}
    assert len(colours) == len(pair.labels)
    for variant in pair.labels:
        table = monthly(pair.timeseries[pair.timeseries["variant"] == variant], "revenue")
        np.testing.assert_allclose(
            line_y(lines[f"median:{variant}"]), table.cumsum().median(axis=1).to_numpy()
        )
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert set(pair.labels) <= set(legend)


def test_fan_refuses_a_column_that_is_not_money(result: kamsim.Result) -> None:
    with pytest.raises(ValueError, match="kpi"):
        plots.fan(result, kpi="win_rate")


def test_wip_stacks_the_mean_deals_in_each_stage(result: kamsim.Result) -> None:
    fig = rendered(plots.wip(result))
    means = result.timeseries.groupby("month", sort=True)[[f"wip_{s}" for s in STAGES]].mean()
    tops = means.cumsum(axis=1).to_numpy()
    xs = month_dates(result.timeseries)
    areas = by_gid(fig, "wip:")
    assert sorted(areas) == sorted(f"wip:{s}" for s in STAGES)
    for i, stage in enumerate(STAGES):
        points = vertices(areas[f"wip:{stage}"])
        np.testing.assert_allclose(per_x(points, xs, np.max), tops[:, i], atol=1e-9)
        below = tops[:, i - 1] if i else np.zeros(len(xs))
        np.testing.assert_allclose(per_x(points, xs, np.min), below, atol=1e-9)


def test_capacity_draws_the_median_load_and_the_checks_offered_load(
    result: kamsim.Result, check: kamsim.Check
) -> None:
    fig = rendered(plots.capacity(result))  # computes the check itself
    pools = check.pools.set_index("pool")
    offered = by_gid(fig, "offered:")
    assert sorted(offered) == sorted(f"offered:{p}" for p in POOLS)
    for pool in POOLS:
        np.testing.assert_allclose(
            line_y(offered[f"offered:{pool}"]), pools.loc[pool, "offered_load"]
        )
        for kind in ("util", "queue"):
            line = by_gid(fig, f"{kind}:{pool}")[f"{kind}:{pool}"]
            median = monthly(result.timeseries, f"{kind}_{pool}").median(axis=1)
            np.testing.assert_allclose(line_y(line), median.to_numpy())
    # presales is over capacity here: the title says so
    assert pools.loc["presales", "offered_load"] >= 1
    assert "over capacity: Presales" in fig.get_suptitle()


def test_capacity_takes_a_given_check(result: kamsim.Result, check: kamsim.Check) -> None:
    fig = rendered(plots.capacity(result, check=check))
    queue = by_gid(fig, "analytic_queue:presales")["analytic_queue:presales"]
    presales = check.pools.set_index("pool").loc["presales"]
    assert line_y(queue)[0] == pytest.approx(presales["mean_queue"])
    with pytest.raises(ValueError, match="check"):
        plots.capacity(result, check=replace(check, scenario="exec-early"))


# -- times --------------------------------------------------------------------------------------


def test_times_boxes_have_the_median_days_in_stage_and_waits(result: kamsim.Result) -> None:
    fig = rendered(plots.times(result))
    medians = by_gid(fig, "median:")
    events = result.events
    visits = events[events["pool"].isna() & (events["result"].astype(str) != "open")]
    for stage in STAGES:
        days = (visits["ended_at"] - visits["queued_at"])[visits["stage"] == stage]
        assert line_y(medians[f"median:stage:{stage}"])[0] == pytest.approx(np.median(days))
    won = result.deals[result.deals["outcome"] == "won"]
    cycle = np.median(won["signed_at"] - won["arrived_at"])
    assert line_y(medians["median:stage:cycle"])[0] == pytest.approx(cycle)
    holds = events[events["pool"].notna()]
    waited = holds["started_at"].fillna(holds["ended_at"]) - holds["queued_at"]
    for pool in POOLS:
        mine = waited[(holds["pool"] == pool) & (waited > 0)]
        if len(mine):
            assert line_y(medians[f"median:pool:{pool}"])[0] == pytest.approx(np.median(mine))
        else:
            assert f"median:pool:{pool}" not in medians
    assert len(waited[(holds["pool"] == "presales") & (waited > 0)]) > 0  # something was drawn
    ticks = " ".join(t.get_text() for t in fig.axes[1].get_xticklabels())
    assert f"{int((waited[holds['pool'] == 'presales'] > 0).sum()):,} waited" in ticks


# -- comparisons --------------------------------------------------------------------------------


def test_forest_draws_each_kpis_relative_change_with_its_interval(pair: Any) -> None:
    table = compare(pair, "base")
    fig = rendered(plots.forest(table, base="base"))
    effects, intervals = by_gid(fig, "effect:early:"), by_gid(fig, "interval:early:")
    shown = table[np.isfinite(table["relative"]) & np.isfinite(table["low"])]
    assert sorted(effects) == sorted(f"effect:early:{k}" for k in shown["kpi"])
    registry = kamsim.kpis.KPIS
    for row in shown.to_dict("records"):
        kpi, base = row["kpi"], row["base"]
        point = effects[f"effect:early:{kpi}"]
        assert point.get_xdata()[0] == pytest.approx(100 * row["difference"] / base)
        ends = sorted([100 * row["low"] / base, 100 * row["high"] / base])
        assert sorted(intervals[f"interval:early:{kpi}"].get_xdata()) == pytest.approx(ends)
        better = registry[kpi].better
        clear = row["low"] > 0 or row["high"] < 0
        if better is None or not clear:
            colour = "#8c8c8c"
        else:
            up = row["difference"] > 0
            colour = "#2e7d32" if up == (better == "higher") else "#c62828"
        assert matplotlib.colors.same_color(point.get_color(), colour), kpi
    hidden = table[~table["kpi"].isin(shown["kpi"])]["kpi"]
    footnote = fig.get_supxlabel()
    for kpi in hidden:
        assert kamsim.label(kpi) in footnote
    assert "%" in fig.axes[0].get_xlabel() and "base" in fig.axes[0].get_xlabel()


def test_flips_bars_are_the_mean_flips_per_replication(pair: Any) -> None:
    found = flips(pair, "base")
    fig = rendered(plots.flips_bar(found, base="base"))
    bars, cis = by_gid(fig, "flip:early:"), by_gid(fig, "flip_ci:early:")
    per_rep = found["early"].per_replication
    summary = found["early"].summary.set_index("measure")
    for measure in (*plots.FLIP_COUNTS, *plots.FLIP_VALUES):
        assert bars[f"flip:early:{measure}"].get_height() == pytest.approx(per_rep[measure].mean())
        line = cis.get(f"flip_ci:early:{measure}")
        if line is not None:
            expected = summary.loc[measure, ["low", "high"]].to_numpy(float)
            np.testing.assert_allclose(line_y(line), expected)
    assert per_rep["lost_to_won"].sum() > 0  # the comparison moved deals
    assert "CNY" in fig.axes[1].get_ylabel()


# -- sweeps and sensitivity ---------------------------------------------------------------------


def test_heatmap_cells_are_the_sweep_means(sweep: Any) -> None:
    table = sweep_table(sweep, AXES)
    fig = rendered(plots.heatmap(table, "contribution"))
    image = next(a for a in fig.findobj(AxesImage))
    values = np.asarray(image.get_array())
    ax = fig.axes[0]
    xs = [int(t.get_text()) for t in ax.get_xticklabels()]
    ys = [int(t.get_text()) for t in ax.get_yticklabels()]
    assert "headcount" in ax.get_xlabel().lower() and "headcount" in ax.get_ylabel().lower()
    x_key, y_key = (
        ("resources.presales.headcount", "resources.account_managers.headcount")
        if "Presales" in ax.get_xlabel()
        else ("resources.account_managers.headcount", "resources.presales.headcount")
    )
    assert values.shape == (len(ys), len(xs)) == (2, 2)
    cells = by_gid(fig, "cell:")
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            label = next(k for k, s in grid(AXES).items() if s[x_key] == x and s[y_key] == y)
            mean = sweep.table_of("kpis", label)["contribution"].mean()
            assert values[i, j] == pytest.approx(mean)
            text = cells[f"cell:{i}:{j}"].get_text()
            assert text.startswith(plots.short_number(mean))


def test_heatmap_needs_two_factors(sweep: Any) -> None:
    table = sweep_table(sweep, AXES).drop(columns="resources.presales.headcount")
    with pytest.raises(ValueError, match="two factors"):
        plots.heatmap(table, "bookings")


def test_tornado_bars_are_the_paired_effects_widest_first(sensitivity: Any) -> None:
    table = tornado(sensitivity, list(PARAMS), "bookings")
    fig = rendered(plots.tornado_chart(table, "bookings"))
    base = sensitivity.table_of("kpis", "base")["bookings"].to_numpy()
    swings = {}
    bars = by_gid(fig, "tornado:")
    for param in PARAMS:
        for end in ("low", "high"):
            other = sensitivity.table_of("kpis", f"{param}={end}")["bookings"].to_numpy()
            bar = bars[f"tornado:{param}:{end}"]
            assert bar.get_width() == pytest.approx(np.mean(other - base))
        swings[param] = abs(
            bars[f"tornado:{param}:high"].get_width() - bars[f"tornado:{param}:low"].get_width()
        )
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == sorted(PARAMS, key=lambda p: -swings[p])  # drawn top down


# -- one deal -----------------------------------------------------------------------------------


def a_deal_that_waited(result: kamsim.Result) -> int:
    events = result.events
    waited = events[
        (events["replication"] == 1)
        & (events["pool"] == "presales")
        & (events["started_at"] > events["queued_at"])
        & events["ended_at"].notna()
    ]
    assert len(waited), "no deal waited for presales"
    return int(waited["deal_id"].iloc[0])


def assert_journey(ax_patches: dict[str, Rectangle], events: pd.DataFrame) -> None:
    for r in events.to_dict("records"):
        stage = str(r["stage"])
        if pd.isna(r["pool"]):
            bar = ax_patches[f"stage:{stage}"]
            assert bar.get_x() == pytest.approx(r["queued_at"])
            assert bar.get_x() + bar.get_width() == pytest.approx(r["ended_at"])
            continue
        pool = str(r["pool"])
        if r["started_at"] > r["queued_at"]:
            wait = ax_patches[f"wait:{pool}:{stage}"]
            assert wait.get_x() == pytest.approx(r["queued_at"])
            assert wait.get_width() == pytest.approx(r["started_at"] - r["queued_at"])
        else:
            assert f"wait:{pool}:{stage}" not in ax_patches
        hold = ax_patches[f"hold:{pool}:{stage}"]
        assert hold.get_x() == pytest.approx(r["started_at"])
        assert hold.get_width() == pytest.approx(r["ended_at"] - r["started_at"])


def patches_of(ax: Any) -> dict[str, Rectangle]:
    return {str(p.get_gid()): p for p in ax.patches if p.get_gid()}


def test_journey_draws_the_deals_events(result: kamsim.Result) -> None:
    deal = a_deal_that_waited(result)
    events = result.events
    mine = events[(events["replication"] == 1) & (events["deal_id"] == deal)]
    fig = rendered(plots.journey(result, deal, replication=1))
    assert_journey(patches_of(fig.axes[0]), mine)
    assert any("wait:presales:" in g for g in patches_of(fig.axes[0]))


def test_journey_beside_another_policy_is_the_same_customer(
    result: kamsim.Result, roomier: kamsim.Result
) -> None:
    deal = a_deal_that_waited(result)
    fig = rendered(plots.journey(result, deal, replication=1, other=roomier, names=["5", "8"]))
    assert len(fig.axes) == 2
    for ax, run in zip(fig.axes, (result, roomier), strict=True):
        events = run.events
        mine = events[(events["replication"] == 1) & (events["deal_id"] == deal)]
        assert_journey(patches_of(ax), mine)
    outcomes = [ax.get_title(loc="left") for ax in fig.axes]
    assert outcomes[0].startswith("5: ") and outcomes[1].startswith("8: ")
    assert all(any(kamsim.label(o).lower() in t.lower() for o in OUTCOMES) for t in outcomes)


def test_journey_refuses_runs_that_are_not_paired(
    scenario: kamsim.Scenario, result: kamsim.Result
) -> None:
    other = kamsim.run(scenario.with_overrides({"calendar.horizon_months": 8}), reps=2, seed=6)
    with pytest.raises(ValueError, match="seed"):
        plots.journey(result, 0, other=other)
    with pytest.raises(ValueError, match="deal_id"):
        plots.journey(result, 10**9)


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        (582_111_600.0, "en", "582M"),
        (5_821_116_00.0, "zh", "5.82亿"),
        (1_092.0, "en", "1,092"),
        (12_345.0, "en", "12.3K"),
        (12_345.0, "zh", "1.23万"),
        (-2_500_000.0, "en", "-2.5M"),
        (2.5e9, "en", "2.5B"),
        (0.0, "en", "0"),
        (0.5, "en", "0.5"),
        (96.2, "en", "96.2"),
        (float("nan"), "en", "-"),
    ],
)
def test_short_numbers_have_no_exponent(value: float, lang: str, text: str) -> None:
    assert plots.short_number(value, lang) == text


# -- Chinese ------------------------------------------------------------------------------------


def _cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK") for c in text)


def all_plots(
    result: kamsim.Result, pair: Any, sweep: Any, sensitivity: Any, check: kamsim.Check
) -> dict[str, Callable[[str], Figure]]:
    deal = a_deal_that_waited(result)
    table = compare(pair, "base")
    found = flips(pair, "base")
    swept = sweep_table(sweep, AXES)
    ranked = tornado(sensitivity, list(PARAMS), "bookings")
    return {
        "funnel": lambda lang: plots.funnel(result, by_grade=True, lang=lang),
        "fan": lambda lang: plots.fan(pair, lang=lang),
        "wip": lambda lang: plots.wip(result, lang=lang),
        "capacity": lambda lang: plots.capacity(result, check=check, lang=lang),
        "times": lambda lang: plots.times(result, lang=lang),
        "forest": lambda lang: plots.forest(table, lang=lang),
        "flips": lambda lang: plots.flips_bar(found, lang=lang),
        "heatmap": lambda lang: plots.heatmap(swept, "win_rate", lang=lang),
        "tornado": lambda lang: plots.tornado_chart(ranked, lang=lang),
        "journey": lambda lang: plots.journey(result, deal, replication=1, lang=lang),
    }


PLOTS = [
    "funnel",
    "fan",
    "wip",
    "capacity",
    "times",
    "forest",
    "flips",
    "heatmap",
    "tornado",
    "journey",
]


@pytest.mark.parametrize("name", PLOTS)
def test_chinese_plots_use_the_bundled_cjk_font(
    name: str, result: kamsim.Result, pair: Any, sweep: Any, sensitivity: Any, check: kamsim.Check
) -> None:
    fig = rendered(all_plots(result, pair, sweep, sensitivity, check)[name]("zh"))
    font = fonts.cjk_font()
    assert font is not None and font.path.name == CJK_FILE
    assert font.path.parent.parent.name == "mplfonts"  # from the pip-installed bundle
    chinese = [t for t in fig.findobj(Text) if _cjk(t.get_text())]
    assert chinese, "no Chinese text: the plot fell back to English"
    for text in chinese:
        found = Path(
            str(font_manager.findfont(text.get_fontproperties(), fallback_to_default=False))
        )
        assert found == font.path, (text.get_text(), found)
    assert _cjk(fig.get_suptitle())


def test_chinese_falls_back_to_english_without_a_cjk_font(
    result: kamsim.Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    with pytest.warns(UserWarning, match="no CJK font found; labels in English"):
        fig = rendered(plots.funnel(result, lang="zh"))
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [kamsim.label(s, "en") for s in STAGES]
    assert not any(_cjk(t.get_text()) for t in fig.findobj(Text))


def test_a_bad_language_is_refused(result: kamsim.Result) -> None:
    with pytest.raises(ValueError, match="'en'"):
        plots.wip(result, lang="de")
