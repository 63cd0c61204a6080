"""Plots of runs, experiments, comparisons, sweeps and single deals, in English or Chinese.

Every function takes the package's own objects (a :class:`~kamsim.results.Result`, an
:class:`~kamsim.experiment.Experiment`, the tables of :mod:`kamsim.comparison` and
:mod:`kamsim.sweep`, :class:`~kamsim.flips.Flips`) and returns a
``matplotlib.figure.Figure`` built with the object API: nothing goes through pyplot's
global state, so figures never leak into each other, and the caller saves or shows them
(``fig.savefig("funnel.png")``).

``lang="zh"`` labels in Chinese with a bundled CJK font (:mod:`kamsim.fonts`); keys in data
stay English. Titles say what was simulated (scenario, replications, seed); axes carry units
and the scenario's currency; large numbers print with thousands separators and K/M/B (万/亿
in Chinese). Artists that carry data have a ``gid`` (``"funnel:all:tender:bid_lost"``), the
same in every language, so a figure can be read back (tests do) or styled in SVG.

Only this module imports matplotlib's drawing classes; the command line never imports it at
start.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter, SymmetricalLogLocator

from kamsim import kpis as registry
from kamsim.analytic import Check
from kamsim.experiment import Experiment
from kamsim.flips import Flips
from kamsim.fonts import typeset
from kamsim.labels import label
from kamsim.results import Result
from kamsim.vocabulary import (
    DEFAULT_EXIT_REASONS,
    GRADES,
    MECHANISM_EXITS,
    POOLS,
    STAGES,
)

__all__ = [
    "capacity",
    "fan",
    "fit_arrivals",
    "fit_calendar",
    "fit_survival",
    "fit_win_rate",
    "flips_bar",
    "forest",
    "funnel",
    "heatmap",
    "journey",
    "short_number",
    "times",
    "tornado_chart",
    "wip",
]

MONEY_SERIES: Final = ("bookings", "revenue", "cash")
"""The ``timeseries`` columns :func:`fan` draws: money flows per month."""
FLIP_COUNTS: Final = (
    "lost_to_won",
    "won_to_lost",
    "open_to_won",
    "won_to_open",
    "repeat_gained",
    "repeat_lost",
)
"""The deal flips :func:`flips_bar` counts (the deals that changed, not those that did not)."""
FLIP_VALUES: Final = ("value_gained", "value_lost", "net_value")
"""The booked value :func:`flips_bar` shows beside the counts."""

# Colours: Tableau 10, fixed per key so a stage, pool or exit reason keeps its colour across
# every plot of a report.
_TAB10: Final = [tuple(c) for c in colormaps["tab10"].colors]  # type: ignore[attr-defined]
_STAGE_COLOURS: Final = dict(zip(STAGES, _TAB10, strict=False))
_DARK2: Final = [tuple(c) for c in colormaps["Dark2"].colors]  # type: ignore[attr-defined]
_POOL_COLOURS: Final = dict(zip(POOLS, _DARK2, strict=False))
_PASSED: Final = "#59a14f"
_STILL_OPEN: Final = "#bab0ac"
_EXIT_ORDER: Final = (
    *(r for r in DEFAULT_EXIT_REASONS.values() if r != "cancelled"),
    *MECHANISM_EXITS,
)
_EXIT_PALETTE: Final = (
    "#e15759",
    "#f28e2b",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#4e79a7",
    "#76b7b2",
    "#9c755f",
    "#d37295",
    "#a0cbe8",
)
_BETTER, _WORSE, _UNCLEAR = "#2e7d32", "#c62828", "#8c8c8c"
_LOW, _HIGH = "#4e79a7", "#f28e2b"
_MARKERS: Final = ("o", "s", "^", "D", "v", "P")
_WIDTH: Final = 10.0
"""Figure width in inches: fits a report page and a laptop screen at 100 dpi."""


# -- shared helpers: numbers, units, titles, figures -------------------------------------------


_STEPS: Final = {
    "en": ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "K")),
    "zh": ((1e8, 1e8, "亿"), (1e4, 1e4, "万")),
}
"""(from, unit, suffix): abbreviations from the largest down; thousands from ten thousand."""


def short_number(x: float, lang: str = "en") -> str:
    """``x`` with about three significant digits and no exponent: in full with thousands
    separators below ten thousand (``1,092``), then K/M/B (English) or 万/亿 (Chinese):
    ``58.2K``, ``5.82M``, ``5.82亿``."""
    if not math.isfinite(x):
        return "-" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    for start, size, suffix in _STEPS["zh" if lang == "zh" else "en"]:
        if abs(x) >= start:
            return _digits(x / size) + suffix
    return _digits(x)


def _digits(x: float) -> str:
    if x == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(x))))  # three significant digits
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _number_axis(axis: Axis, lang: str, unit: str = "plain") -> None:
    """One tick format for every axis: shares as percentages, anything else short."""
    if unit == "share":
        axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    else:
        axis.set_major_formatter(FuncFormatter(lambda v, _: short_number(v, lang)))


def _value_text(unit: str, x: float, lang: str) -> str:
    """A value in a cell or beside a bar, in its unit's form."""
    if unit == "share":
        return "-" if math.isnan(x) else f"{100 * x:.1f}%"
    return short_number(x, lang)


def _unit_text(unit: str, currency: str, lang: str) -> str:
    return currency if unit == "currency" else label(unit, lang)


def _kpi_unit(kpi: str) -> str:
    entry = registry.lookup(kpi)
    return entry.unit if entry else "plain"


def _kpi_axis(kpi: str, currency: str, lang: str) -> str:
    """A KPI's name with its unit: ``Bookings (CNY)``, ``Win rate (%)``."""
    unit = _kpi_unit(kpi)
    if unit == "plain":
        return label(kpi, lang)
    return label("axis.kpi_unit", lang).format(
        kpi=label(kpi, lang), unit=_unit_text(unit, currency, lang)
    )


@dataclass(frozen=True)
class _Simulated:
    """What was simulated, for the title's second line."""

    name: str
    reps: int
    seed: int

    def line(self, lang: str) -> str:
        return label("title.run", lang).format(name=self.name, reps=self.reps, seed=self.seed)


def _simulated(result: Result) -> _Simulated:
    reps = int(result.kpis["replication"].nunique()) if len(result.kpis) else 0
    return _Simulated(result.scenario.name, reps, result.seed)


def _figure(height: float, width: float = _WIDTH) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _title(fig: Figure, what: str, detail: str) -> None:
    """Two lines on top: what the plot shows, then what was simulated."""
    detail = textwrap.fill(detail, 110)
    fig.suptitle(f"{what}\n{detail}", fontsize="medium")


def _finish(fig: Figure) -> Figure:
    """Lay the figure out while the language's fonts are set: tick labels are made lazily,
    and each new one copies the first, so the first must exist before the fonts are reset."""
    fig.draw_without_rendering()
    return fig


def _months(table: pd.DataFrame) -> list[Any]:
    """The calendar date that starts each model month of a ``timeseries`` table."""
    return list(table.groupby("month", sort=True)["date"].first())


def _warmup(ax: Axes, dates: Sequence[Any], months: int, lang: str) -> None:
    if 0 < months < len(dates):
        ax.axvspan(
            dates[0],
            dates[months],
            color="0.5",
            alpha=0.12,
            lw=0,
            label=label("legend.warmup", lang),
        )


def _interval(
    ax: Axes, at: float, low: float, high: float, gid: str, colour: Any, vertical: bool = False
) -> None:
    """An interval as a line from low to high at ``at`` (horizontal unless ``vertical``)."""
    xs, ys = ([at, at], [low, high]) if vertical else ([low, high], [at, at])
    ax.plot(xs, ys, color=colour, lw=1.6, solid_capstyle="butt", gid=gid)


def _stage_visits(result: Result) -> pd.DataFrame:
    events = result.events
    if events.empty:
        raise ValueError("this plot reads the events table; the result has none")
    return events[events["pool"].isna()]


def _pool_rows(result: Result) -> pd.DataFrame:
    events = result.events
    if events.empty:
        raise ValueError("this plot reads the events table; the result has none")
    return events[events["pool"].notna()]


def _check_result(result: object, what: str = "result") -> Result:
    if not isinstance(result, Result):
        raise ValueError(f"{what}: expected a kamsim.Result, not {type(result).__name__}")
    return result


# -- funnel -----------------------------------------------------------------------------------


def _flows(results: Iterable[str]) -> list[str]:
    """How visits ended, in reading order: passed, the stages' exits, the mechanisms' exits,
    any exit a scenario named itself, cancelled, still in the stage."""
    present = {str(r) for r in results}
    known = ["passed", *_EXIT_ORDER]
    own = sorted(present - {*known, "cancelled", "open"})
    return [f for f in [*known, *own, "cancelled", "open"] if f in present]


def _flow_colour(flow: str) -> Any:
    if flow == "passed":
        return _PASSED
    if flow == "open":
        return _STILL_OPEN
    if flow == "cancelled":
        return "#404040"
    index = _EXIT_ORDER.index(flow) if flow in _EXIT_ORDER else len(_EXIT_ORDER)
    return _EXIT_PALETTE[index % len(_EXIT_PALETTE)]


def _flow_label(flow: str, lang: str) -> str:
    return label("legend.still_open" if flow == "open" else flow, lang)


def funnel(result: Result, by_grade: bool = False, lang: str = "en") -> Figure:
    """Deals entering each stage (the bar's length) and how they left it: passed, each exit
    reason, or still there at the end, as mean deals per replication; ``by_grade`` draws one
    panel per account grade."""
    result = _check_result(result)
    visits = _stage_visits(result)
    reps = max(1, int(result.kpis["replication"].nunique()))
    if by_grade:
        grades = result.deals[["replication", "deal_id", "grade"]]
        visits = visits.merge(grades, on=["replication", "deal_id"], how="left")
    flows = _flows(visits["result"].astype(str).unique())
    with typeset(lang) as lang:
        fig = _figure(8.0 if by_grade else 5.0)
        groups: list[tuple[str, pd.DataFrame]]
        if by_grade:
            axes = list(fig.subplots(2, 2, sharex=True, sharey=True).flat)
            groups = [(g, visits[visits["grade"].astype(str) == g]) for g in GRADES]
        else:
            axes = [fig.subplots()]
            groups = [("all", visits)]
        y = np.arange(len(STAGES))
        for ax, (group, rows) in zip(axes, groups, strict=True):
            counts = (
                pd.crosstab(rows["stage"].astype(str), rows["result"].astype(str))
                .reindex(index=list(STAGES), columns=flows, fill_value=0)
                .astype(float)
                / reps
            )
            left = np.zeros(len(STAGES))
            for flow in flows:
                widths = counts[flow].to_numpy()
                bars = ax.barh(
                    y,
                    widths,
                    left=left,
                    height=0.7,
                    color=_flow_colour(flow),
                    label=_flow_label(flow, lang),
                )
                for patch, stage in zip(bars.patches, STAGES, strict=True):
                    patch.set_gid(f"funnel:{group}:{stage}:{flow}")
                left += widths
            for yi, total in zip(y, left, strict=True):
                text = label("note.entered", lang).format(n=short_number(total, lang))
                ax.annotate(
                    text,
                    (total, yi),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize="small",
                )
            ax.set_yticks(y, [label(s, lang) for s in STAGES])
            ax.set_ylim(len(STAGES) - 0.5, -0.5)  # the first stage on top (shared axes too)
            ax.margins(x=0.18)
            _number_axis(ax.xaxis, lang)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
            if by_grade:
                ax.set_title(label(group, lang), fontsize="medium")
            ax.grid(axis="x", alpha=0.3)
        for ax in axes[-2:] if by_grade else axes:
            ax.set_xlabel(label("axis.deals_per_rep", lang))
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=min(6, len(names)))
        _title(fig, label("title.funnel", lang), _simulated(result).line(lang))
        return _finish(fig)


# -- money over time ----------------------------------------------------------------------


def _series_of(data: Result | Experiment) -> tuple[list[tuple[str, pd.DataFrame]], _Simulated]:
    """(label, timeseries) per variant, and what was simulated."""
    if isinstance(data, Result):
        return [(data.scenario.name, data.timeseries)], _simulated(data)
    if isinstance(data, Experiment):
        names = ", ".join(data.labels)
        return [(v, data.table_of("timeseries", v)) for v in data.labels], _Simulated(
            names, data.reps, data.seed
        )
    raise ValueError(f"expected a kamsim.Result or Experiment, not {type(data).__name__}")


def _scenario_of(data: Result | Experiment) -> Any:
    return data.scenario if isinstance(data, Result) else next(iter(data.scenarios.values()))


def fan(
    data: Result | Experiment, kpi: str = "bookings", cumulative: bool = False, lang: str = "en"
) -> Figure:
    """Bookings, revenue or cash per month (or cumulated): the median over replications as a
    line, P10 to P90 as a band; an experiment's variants share the chart, one colour each."""
    if kpi not in MONEY_SERIES:
        raise ValueError(f"kpi: {kpi!r} is not a monthly money series; use one of {MONEY_SERIES}")
    series, simulated = _series_of(data)
    scenario = _scenario_of(data)
    with typeset(lang) as lang:
        fig = _figure(5.2)
        ax = fig.subplots()
        dates: list[Any] = []
        for i, (name, table) in enumerate(series):
            wide = table.pivot_table(
                index="month", columns="replication", values=kpi, aggfunc="first"
            ).sort_index()
            if cumulative:
                wide = wide.cumsum()
            dates = _months(table)
            low, mid, high = (wide.quantile(q, axis=1).to_numpy() for q in (0.1, 0.5, 0.9))
            colour = _TAB10[i % len(_TAB10)]
            single = len(series) == 1
            ax.fill_between(
                dates,
                low,
                high,
                color=colour,
                alpha=0.22,
                lw=0,
                gid=f"band:{name}",
                label=label("legend.band", lang).format(n=wide.shape[1]) if single else None,
            )
            ax.plot(
                dates,
                mid,
                color=colour,
                lw=2,
                gid=f"median:{name}",
                label=label("legend.median", lang) if single else name,
            )
        _warmup(ax, dates, scenario.calendar.warmup_months, lang)
        unit = scenario.calendar.currency
        axis_key = "axis.cumulative" if cumulative else "axis.per_month"
        ax.set_ylabel(label(axis_key, lang).format(kpi=label(kpi, lang), unit=unit))
        ax.set_xlabel(label("axis.month", lang))
        _number_axis(ax.yaxis, lang)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        what = label("title.fan_cumulative" if cumulative else "title.fan", lang)
        _title(fig, what.format(kpi=label(kpi, lang)), simulated.line(lang))
        return _finish(fig)


def wip(result: Result, lang: str = "en") -> Figure:
    """Deals in each stage over time, stacked (mean over replications, so the stack adds up)."""
    result = _check_result(result)
    table = result.timeseries
    columns = [f"wip_{s}" for s in STAGES]
    means = table.groupby("month", sort=True)[columns].mean()
    reps = int(table["replication"].nunique())
    with typeset(lang) as lang:
        fig = _figure(5.2)
        ax = fig.subplots()
        dates = _months(table)
        areas = ax.stackplot(
            dates,
            *(means[c].to_numpy() for c in columns),
            labels=[label(s, lang) for s in STAGES],
            colors=[_STAGE_COLOURS[s] for s in STAGES],
            alpha=0.85,
        )
        for area, stage in zip(areas, STAGES, strict=True):
            area.set_gid(f"wip:{stage}")
        _warmup(ax, dates, result.scenario.calendar.warmup_months, lang)
        ax.set_ylabel(label("axis.wip", lang).format(n=reps))
        ax.set_xlabel(label("axis.month", lang))
        _number_axis(ax.yaxis, lang)
        ax.margins(x=0)
        ax.grid(alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], names[::-1], loc="upper left", fontsize="small")
        _title(fig, label("title.wip", lang), _simulated(result).line(lang))
        return _finish(fig)


def capacity(result: Result, check: Check | None = None, lang: str = "en") -> Figure:
    """Utilisation and queue of every pool per month (median over replications), each with the
    analytic check's figure dashed: offered load per slot above, mean queue below. A pool
    whose line climbs away from its dashed line is building a queue."""
    result = _check_result(result)
    if check is None:
        from kamsim.analytic import check as analytic_check

        check = analytic_check(result.scenario)
    elif check.scenario != result.scenario.name:
        raise ValueError(
            f"check: it is of scenario {check.scenario!r}, the result of {result.scenario.name!r}"
        )
    table = result.timeseries
    offered_load = _by_pool(check, "offered_load")
    mean_queue = _by_pool(check, "mean_queue")
    medians = table.groupby("month", sort=True).median(numeric_only=True)
    with typeset(lang) as lang:
        fig = _figure(7.5)
        top, bottom = fig.subplots(2, 1, sharex=True)
        dates = _months(table)
        for pool in POOLS:
            colour = _POOL_COLOURS[pool]
            top.plot(dates, medians[f"util_{pool}"], color=colour, lw=1.8, label=label(pool, lang))
            top.lines[-1].set_gid(f"util:{pool}")
            bottom.plot(dates, medians[f"queue_{pool}"], color=colour, lw=1.8)
            bottom.lines[-1].set_gid(f"queue:{pool}")
            offered = offered_load[pool]
            if math.isfinite(offered):
                top.axhline(offered, color=colour, ls="--", lw=1.2, gid=f"offered:{pool}")
            queue = mean_queue[pool]
            if math.isfinite(queue):
                bottom.axhline(queue, color=colour, ls="--", lw=1.2, gid=f"analytic_queue:{pool}")
        months = result.scenario.calendar.warmup_months
        for ax in (top, bottom):
            _warmup(ax, dates, months, lang)
            ax.grid(alpha=0.3)
            ax.margins(x=0)
        top.set_ylabel(label("axis.utilisation", lang))
        _number_axis(top.yaxis, lang, "share")
        top.set_ylim(bottom=0)
        bottom.set_ylabel(label("axis.queue", lang))
        _number_axis(bottom.yaxis, lang)
        bottom.set_ylim(bottom=0)
        bottom.set_xlabel(label("axis.month", lang))
        handles, names = top.get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.3", ls="--"))
        names.append(label("legend.offered", lang))
        outside: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
        top.legend(handles, names, fontsize="small", **outside)
        queue_proxy = Line2D([], [], color="0.3", ls="--")
        bottom.legend(
            [queue_proxy], [label("legend.analytic_queue", lang)], fontsize="small", **outside
        )
        detail = _simulated(result).line(lang)
        over = [label(p, lang) for p in POOLS if offered_load[p] >= 1.0]
        if over:
            detail += "; " + label("title.overloaded", lang).format(pools=", ".join(over))
        _title(fig, label("title.capacity", lang), detail)
        return _finish(fig)


def _by_pool(check: Check, column: str) -> dict[str, float]:
    """One column of the check's pool table by pool (NaN for a pool it lacks)."""
    table = check.pools
    found = dict(zip(table["pool"].astype(str), table[column].astype(float), strict=True))
    return {pool: float(found.get(pool, math.nan)) for pool in POOLS}


# -- times -------------------------------------------------------------------------------------


def _wrapped(text: str, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(text, width)) if " " in text else text


def _stage_days(result: Result) -> dict[str, np.ndarray[Any, Any]]:
    """Days in each stage per visit that ended (queueing for people included), by stage."""
    visits = _stage_visits(result)
    ended = visits[visits["result"].astype(str) != "open"]
    days = (ended["ended_at"] - ended["queued_at"]).to_numpy(float)
    stages = ended["stage"].astype(str).to_numpy()
    return {s: days[stages == s] for s in STAGES}


def _pool_waits(result: Result) -> dict[str, tuple[np.ndarray[Any, Any], int]]:
    """Per pool: the days of every wait that ended (served or gone cold) and was longer than
    zero, and the number of holds asked of the pool (the share that waited is their ratio)."""
    rows = _pool_rows(result)
    start = rows["started_at"].fillna(rows["ended_at"])
    wait = (start - rows["queued_at"]).to_numpy(float)
    pools = rows["pool"].astype(str).to_numpy()
    out: dict[str, tuple[np.ndarray[Any, Any], int]] = {}
    for pool in POOLS:
        mine = pools == pool
        days = wait[mine]
        out[pool] = (days[np.isfinite(days) & (days > 0)], int(mine.sum()))
    return out


def times(result: Result, lang: str = "en") -> Figure:
    """How long deals spend in each stage, and how long they wait when a pool is busy: box
    plots over every visit and wait of the run (the line is the median)."""
    result = _check_result(result)
    by_stage = _stage_days(result)
    won = result.deals[result.deals["outcome"].astype(str) == "won"]
    cycle = (won["signed_at"] - won["arrived_at"]).to_numpy(float)
    waits = _pool_waits(result)
    with typeset(lang) as lang:
        fig = _figure(5.8, 12.0)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [7, 5]})
        keys = [*STAGES, "cycle"]
        data = [*(by_stage[s] for s in STAGES), cycle]
        names = [
            *(_wrapped(label(s, lang)) for s in STAGES),
            _wrapped(label("legend.lead_to_signature", lang)),
        ]
        _boxes(left, keys, data, "stage", [*(_STAGE_COLOURS[s] for s in STAGES), "0.55"])
        left.set_xticks(range(1, len(keys) + 1), names, fontsize="small")
        left.axvline(len(STAGES) + 0.5, color="0.6", lw=0.8, ls=":")  # stages | whole cycle
        left.set_ylabel(label("axis.stage_days", lang))
        pool_names = []
        for pool in POOLS:
            days, holds = waits[pool]
            share = f"{100 * len(days) / holds:.1f}%" if holds else "-"
            note = (
                label("note.waited", lang).format(n=f"{len(days):,}", share=share)
                if len(days)
                else label("note.no_waits", lang)
            )
            pool_names.append(f"{_wrapped(label(pool, lang))}\n{note}")
        _boxes(
            right,
            list(POOLS),
            [waits[p][0] for p in POOLS],
            "pool",
            [_POOL_COLOURS[p] for p in POOLS],
        )
        right.set_xticks(range(1, len(POOLS) + 1), pool_names, fontsize="x-small")
        right.set_ylabel(label("axis.wait_days", lang))
        for ax in (left, right):
            _number_axis(ax.yaxis, lang)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", alpha=0.3)
        _title(fig, label("title.times", lang), _simulated(result).line(lang))
        return _finish(fig)


def _boxes(
    ax: Axes, keys: Sequence[str], data: Sequence[np.ndarray[Any, Any]], kind: str, colours: Any
) -> None:
    """Vertical box plots at 1..n; empty groups get no box. Median lines carry the gid
    ``median:<kind>:<key>``."""
    shown = [i for i, d in enumerate(data) if len(d)]
    if not shown:
        return
    drawn = ax.boxplot(
        [data[i] for i in shown],
        positions=[i + 1 for i in shown],
        widths=0.6,
        patch_artist=True,
        flierprops={"markersize": 2, "alpha": 0.4},
        medianprops={"color": "black"},
    )
    for j, i in enumerate(shown):
        drawn["boxes"][j].set_facecolor(colours[i])
        drawn["boxes"][j].set_alpha(0.75)
        drawn["medians"][j].set_gid(f"median:{kind}:{keys[i]}")


# -- comparisons --------------------------------------------------------------------------


def _verdict(kpi: str, low: float, high: float, difference: float) -> str:
    entry = registry.lookup(kpi)
    if entry is None or entry.better is None or low <= 0 <= high:
        return "unclear"
    up = difference > 0
    return "better" if up == (entry.better == "higher") else "worse"


_VERDICT_COLOURS: Final = {"better": _BETTER, "worse": _WORSE, "unclear": _UNCLEAR}


def forest(comparison: pd.DataFrame, base: str | None = None, lang: str = "en") -> Figure:
    """Every KPI's paired difference against the base with its interval, as a share of the
    base's mean (so money, rates and days share one axis): green where the variant is better
    beyond doubt, red where worse, grey otherwise. KPIs without a base mean or interval are
    listed underneath."""
    needed = {"variant", "kpi", "base", "difference", "low", "high", "relative", "n", "level"}
    if not needed <= set(comparison.columns):
        raise ValueError("comparison: expected the table of kamsim.comparison.compare")
    table = comparison.copy()
    scale = table["base"].to_numpy(float)
    ok = np.isfinite(scale) & (scale != 0) & np.isfinite(table["low"].to_numpy(float))
    ends = np.stack([table["low"] / table["base"], table["high"] / table["base"]]) * 100
    table["pct"] = table["relative"] * 100
    table["pct_low"], table["pct_high"] = ends.min(axis=0), ends.max(axis=0)
    shown, hidden = table[ok], table[~ok]
    variants = list(dict.fromkeys(table["variant"].astype(str)))
    kpis = list(dict.fromkeys(shown["kpi"].astype(str)))
    with typeset(lang) as lang:
        fig = _figure(1.6 + 0.28 * max(len(kpis), 4))
        ax = fig.subplots()
        y = {k: i for i, k in enumerate(kpis)}
        step = 0.6 / max(1, len(variants))
        for j, variant in enumerate(variants):
            rows = shown[shown["variant"].astype(str) == variant]
            offset = (j - (len(variants) - 1) / 2) * step
            for r in rows.to_dict("records"):
                kpi = str(r["kpi"])
                at = y[kpi] + offset
                colour = _VERDICT_COLOURS[_verdict(kpi, r["low"], r["high"], r["difference"])]
                _interval(ax, at, r["pct_low"], r["pct_high"], f"interval:{variant}:{kpi}", colour)
                ax.plot(
                    [r["pct"]],
                    [at],
                    marker=_MARKERS[j % len(_MARKERS)],
                    color=colour,
                    ms=5,
                    ls="none",
                    gid=f"effect:{variant}:{kpi}",
                )
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks(range(len(kpis)), [label(k, lang) for k in kpis], fontsize="small")
        ax.invert_yaxis()
        spread = np.abs(shown[["pct_low", "pct_high"]].to_numpy(float))
        if spread.size and np.nanmax(spread) > 100:
            # Effects of several hundred percent (executive time) beside a few percent:
            # linear within +-10%, logarithmic beyond, so both stay readable.
            ax.set_xscale("symlog", linthresh=10)
            ax.xaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=10, subs=[1, 3]))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        levels = sorted({float(v) for v in table["level"]})
        level = ", ".join(f"{100 * v:g}%" for v in levels)
        xlabel = label("axis.relative", lang).format(level=level)
        if ax.get_xscale() == "symlog":
            xlabel += label("axis.symlog", lang)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
        handles: list[Any] = [
            Line2D([], [], color=c, marker="o", label=label(f"legend.{v}", lang))
            for v, c in _VERDICT_COLOURS.items()
        ]
        if len(variants) > 1:
            handles += [
                Line2D([], [], color="0.3", marker=_MARKERS[j % len(_MARKERS)], ls="none", label=v)
                for j, v in enumerate(variants)
            ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        ax.margins(x=0.04)
        if len(hidden):
            names = label("list.sep", lang).join(
                dict.fromkeys(label(str(k), lang) for k in hidden["kpi"])
            )
            note = label("note.not_shown", lang).format(kpis=names)
            fig.supxlabel(textwrap.fill(note, 130), fontsize="x-small", color="0.35")
        what = (
            label("title.forest", lang).format(base=base)
            if base
            else label("title.forest_any", lang)
        )
        n = int(table["n"].max()) if len(table) else 0
        detail = label("title.compared", lang).format(variants=", ".join(variants), n=n)
        _title(fig, what, detail)
        return _finish(fig)


def flips_bar(
    flips: Flips | Mapping[str, Flips], base: str | None = None, lang: str = "en"
) -> Figure:
    """Which deals flipped, mean per replication with 95% intervals: the counts of deals that
    changed outcome (and repeat leads gained or lost) on the left, their booked value on the
    right; several variants (``kamsim.comparison.flips``) side by side."""
    groups = {"variant": flips} if isinstance(flips, Flips) else dict(flips)
    if not groups or not all(isinstance(f, Flips) for f in groups.values()):
        raise ValueError("flips: expected a kamsim.flips.Flips or a mapping of them")
    first = next(iter(groups.values()))
    with typeset(lang) as lang:
        fig = _figure(5.4, 12.0)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        width = 0.8 / len(groups)
        for j, (name, f) in enumerate(groups.items()):
            summary = {str(m["measure"]): m for m in f.summary.to_dict("records")}
            colour = _TAB10[j % len(_TAB10)]
            for ax, measures in ((left, FLIP_COUNTS), (right, FLIP_VALUES)):
                x = np.arange(len(measures)) + (j - (len(groups) - 1) / 2) * width
                means = np.array([float(summary[m]["mean"]) for m in measures])
                bars = ax.bar(x, means, width=width * 0.9, color=colour, alpha=0.8, label=name)
                for patch, xi, measure in zip(bars.patches, x, measures, strict=True):
                    patch.set_gid(f"flip:{name}:{measure}")
                    low, high = float(summary[measure]["low"]), float(summary[measure]["high"])
                    if math.isfinite(low) and math.isfinite(high):
                        _interval(ax, xi, low, high, f"flip_ci:{name}:{measure}", "0.15", True)
        left.set_xticks(
            range(len(FLIP_COUNTS)), [_wrapped(label(m, lang), 12) for m in FLIP_COUNTS]
        )
        right.set_xticks(
            range(len(FLIP_VALUES)), [_wrapped(label(m, lang), 12) for m in FLIP_VALUES]
        )
        left.set_ylabel(label("axis.flip_counts", lang))
        right.set_ylabel(label("axis.flip_values", lang).format(unit=first.currency))
        for ax in (left, right):
            ax.axhline(0, color="0.3", lw=0.8)
            _number_axis(ax.yaxis, lang)
            ax.grid(axis="y", alpha=0.3)
        if len(groups) > 1:
            left.legend(fontsize="small")
        what = (
            label("title.flips", lang).format(base=base) if base else label("title.flips_any", lang)
        )
        n = len(first.per_replication)
        detail = label("title.paired", lang).format(
            variants=", ".join(groups), n=n, seed=first.seed
        )
        _title(fig, what, detail)
        return _finish(fig)


# -- sweeps and sensitivity ------------------------------------------------------------------

_HEADCOUNT = re.compile(r"resources\.(\w+)\.headcount")


def _setting_label(key: str, lang: str) -> str:
    match = _HEADCOUNT.fullmatch(key)
    if match:
        return label("axis.headcount", lang).format(pool=label(match.group(1), lang))
    return key


def heatmap(
    sweep: pd.DataFrame,
    kpi: str = "bookings",
    x: str | None = None,
    y: str | None = None,
    currency: str = "CNY",
    lang: str = "en",
) -> Figure:
    """A two-factor sweep (:func:`kamsim.sweep.sweep_table`) as a grid of one KPI's means,
    each cell annotated with its mean and 95% half-width; brighter is better. ``x`` and ``y``
    name the factors (default: the table's two); ``currency`` is the scenario's, for money."""
    columns = list(sweep.columns)
    if "point" not in columns or "kpi" not in columns:
        raise ValueError("sweep: expected the table of kamsim.sweep.sweep_table")
    factors = columns[columns.index("point") + 1 : columns.index("kpi")]
    if x is None and y is None:
        if len(factors) != 2:
            raise ValueError(f"sweep: a heatmap needs two factors, this sweep has {factors}")
        y, x = factors
    if x not in factors or y not in factors or x == y:
        raise ValueError(f"x, y: name two different factors of the sweep ({factors})")
    rows = sweep[sweep["kpi"] == kpi]
    if rows.empty:
        raise ValueError(f"kpi: {kpi!r} is not in the sweep table")
    means = rows.pivot_table(index=y, columns=x, values="mean", aggfunc="first").sort_index()
    means = means[sorted(means.columns)]
    halves = rows.pivot_table(index=y, columns=x, values="half_width", aggfunc="first")
    halves = halves.reindex(index=means.index, columns=means.columns)
    unit = _kpi_unit(kpi)
    entry = registry.lookup(kpi)
    cmap = "viridis_r" if entry is not None and entry.better == "lower" else "viridis"
    with typeset(lang) as lang:
        fig = _figure(5.6, 8.5)
        ax = fig.subplots()
        values = means.to_numpy(float)
        errors = halves.to_numpy(float)
        image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, gid=f"heatmap:{kpi}")
        finite = values[np.isfinite(values)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v, h = values[i, j], errors[i, j]
                text = _value_text(unit, v, lang)
                if math.isfinite(h):
                    text += f"\n± {_value_text(unit, h, lang)}"
                dark = v < middle if cmap == "viridis" else v > middle
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if dark else "black",
                    gid=f"cell:{i}:{j}",
                )
        ax.set_xticks(range(values.shape[1]), [str(v) for v in means.columns])
        ax.set_yticks(range(values.shape[0]), [str(v) for v in means.index])
        ax.set_xlabel(_setting_label(x, lang))
        ax.set_ylabel(_setting_label(y, lang))
        bar = fig.colorbar(image, ax=ax)
        bar.set_label(_kpi_axis(kpi, currency, lang))
        _number_axis(bar.ax.yaxis, lang, unit)
        n = int(rows["n"].max())
        what = label("title.heatmap", lang).format(kpi=label(kpi, lang))
        _title(fig, what, label("title.sweep", lang).format(n=n))
        return _finish(fig)


def tornado_chart(
    tornado: pd.DataFrame, kpi: str = "bookings", currency: str = "CNY", lang: str = "en"
) -> Figure:
    """The sensitivity of one KPI (:func:`kamsim.sweep.tornado`): per parameter, the paired
    effect of its low and of its high value against the base with 95% intervals, the widest
    swing on top. ``currency`` is the scenario's, for money."""
    needed = {"param", "kpi", "low_effect", "high_effect", "rank"}
    if not needed <= set(tornado.columns):
        raise ValueError("tornado: expected the table of kamsim.sweep.tornado")
    rows = tornado[tornado["kpi"] == kpi].sort_values("rank")
    if rows.empty:
        raise ValueError(f"kpi: {kpi!r} is not in the tornado table")
    unit = _kpi_unit(kpi)
    with typeset(lang) as lang:
        fig = _figure(1.8 + 0.42 * len(rows))
        ax = fig.subplots()
        y = np.arange(len(rows))
        for end, colour, shift in (("low", _LOW, -0.2), ("high", _HIGH, 0.2)):
            effects = rows[f"{end}_effect"].to_numpy(float)
            bars = ax.barh(
                y + shift, effects, height=0.38, color=colour, label=label(f"legend.{end}", lang)
            )
            for patch, r in zip(bars.patches, rows.to_dict("records"), strict=True):
                patch.set_gid(f"tornado:{r['param']}:{end}")
                low, high = r[f"{end}_low"], r[f"{end}_high"]
                if math.isfinite(low) and math.isfinite(high):
                    at = float(patch.get_y() + patch.get_height() / 2)
                    _interval(ax, at, low, high, f"tornado_ci:{r['param']}:{end}", "0.15")
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks(y, list(rows["param"].astype(str)), fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel(
            label("axis.effect", lang).format(
                kpi=label(kpi, lang), unit=_unit_text(unit, currency, lang)
            )
        )
        _number_axis(ax.xaxis, lang, unit)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
        _title(
            fig,
            label("title.tornado", lang).format(kpi=label(kpi, lang)),
            label("note.ranked", lang),
        )
        return _finish(fig)


# -- one deal ----------------------------------------------------------------------------------


def journey(
    result: Result,
    deal_id: int,
    replication: int = 0,
    other: Result | None = None,
    names: Sequence[str] | None = None,
    lang: str = "en",
) -> Figure:
    """One deal's path from the events table: each stage's span, and per pool the wait
    (hatched, with its days) and the hold. With ``other`` (the same seed under another policy:
    common random numbers make it the same customer) the two journeys are drawn one above the
    other on one time axis; ``names`` labels the runs (default: their scenario names)."""
    runs = [_check_result(result)]
    if other is not None:
        runs.append(_check_result(other, "other"))
        if other.seed != result.seed:
            raise ValueError(
                f"other: seed {other.seed} differs from the result's {result.seed}; the same "
                "deal id is the same customer only under the same seed"
            )
    paths = [_deal_events(run, deal_id, replication) for run in runs]
    if len(runs) == 2:
        arrivals = [_deal_row(run, deal_id, replication)["arrived_at"] for run in runs]
        if not math.isclose(float(arrivals[0]), float(arrivals[1])):
            raise ValueError(
                f"other: deal {deal_id} arrives at day {arrivals[1]:.1f} there and "
                f"{arrivals[0]:.1f} here: the runs do not share their customers"
            )
    titles = list(names) if names is not None else [run.scenario.name for run in runs]
    if len(titles) != len(runs):
        raise ValueError(f"names: expected {len(runs)} names, got {len(titles)}")
    used = {str(p) for path in paths for p in path["pool"].dropna()}
    pools = [p for p in POOLS if p in used]
    rows: list[str] = [*STAGES, *pools]
    where = {key: i for i, key in enumerate(rows)}
    with typeset(lang) as lang:
        fig = _figure(1.6 + (0.36 * len(rows) + 0.9) * len(runs))
        axes = list(np.atleast_1d(fig.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]))
        for ax, run, path, title in zip(axes, runs, paths, titles, strict=True):
            end = run.scenario.calendar.horizon_days
            last = float(np.nanmax(path[["queued_at", "started_at", "ended_at"]].to_numpy(float)))
            end = max(end, last)
            for r in path.to_dict("records"):
                stage = str(r["stage"])
                finish = r["ended_at"] if math.isfinite(r["ended_at"]) else end
                if pd.isna(r["pool"]):
                    ax.barh(
                        where[stage],
                        finish - r["queued_at"],
                        left=r["queued_at"],
                        height=0.6,
                        color=_STAGE_COLOURS[stage],
                    ).patches[0].set_gid(f"stage:{stage}")
                    continue
                pool = str(r["pool"])
                start = r["started_at"] if math.isfinite(r["started_at"]) else finish
                if start > r["queued_at"]:
                    ax.barh(
                        where[pool],
                        start - r["queued_at"],
                        left=r["queued_at"],
                        height=0.6,
                        facecolor="white",
                        edgecolor=_POOL_COLOURS[pool],
                        hatch="////",
                    ).patches[0].set_gid(f"wait:{pool}:{stage}")
                    days = _digits(float(start - r["queued_at"]))
                    ax.annotate(
                        label("note.wait", lang).format(days=days),
                        (float(r["queued_at"]), where[pool] - 0.32),
                        fontsize="x-small",
                        va="bottom",
                    )
                if finish > start:
                    ax.barh(
                        where[pool],
                        finish - start,
                        left=start,
                        height=0.36,
                        color=_POOL_COLOURS[pool],
                        alpha=0.8,
                    ).patches[0].set_gid(f"hold:{pool}:{stage}")
            deal = _deal_row(run, deal_id, replication)
            ax.axvline(float(deal["arrived_at"]), color="0.3", lw=0.8, ls=":")
            ax.set_yticks(range(len(rows)), [label(k, lang) for k in rows], fontsize="small")
            ax.set_ylim(len(rows) - 0.5, -0.5)
            if pools:
                ax.axhline(len(STAGES) - 0.5, color="0.6", lw=0.6)
            ax.grid(axis="x", alpha=0.3)
            ax.margins(x=0.02)
            ax.set_title(
                label("title.named", lang).format(name=title, what=_outcome_text(deal, run, lang)),
                fontsize="medium",
                loc="left",
            )
        start_date = runs[0].scenario.calendar.start.isoformat()
        axes[-1].set_xlabel(label("axis.day", lang).format(start=start_date))
        _number_axis(axes[-1].xaxis, lang)
        proxies = [
            Patch(
                facecolor="white", edgecolor="0.3", hatch="////", label=label("legend.wait", lang)
            ),
        ]
        axes[0].legend(handles=proxies, loc="lower right", fontsize="small")
        what = label("title.journey", lang).format(deal=deal_id, rep=replication)
        _title(fig, what, _simulated(runs[0]).line(lang))
        return _finish(fig)


def _deal_events(result: Result, deal_id: int, replication: int) -> pd.DataFrame:
    events = result.events
    if events.empty:
        raise ValueError("journey reads the events table; the result has none")
    mine = events[(events["replication"] == replication) & (events["deal_id"] == deal_id)]
    if mine.empty:
        raise ValueError(
            f"deal_id: deal {deal_id} is not in replication {replication} of {result.scenario.name}"
        )
    return mine


def _deal_row(result: Result, deal_id: int, replication: int) -> pd.Series:
    deals = result.deals
    row = deals[(deals["replication"] == replication) & (deals["deal_id"] == deal_id)]
    if row.empty:
        raise ValueError(f"deal_id: deal {deal_id} is not in replication {replication}")
    return row.iloc[0]


def _outcome_text(deal: pd.Series, result: Result, lang: str) -> str:
    outcome = str(deal["outcome"])
    if outcome == "won":
        value = short_number(float(deal["booked_value"]), lang)
        return label("note.outcome_won", lang).format(
            value=f"{value} {result.scenario.calendar.currency}"
        )
    if outcome == "lost":
        return label("note.outcome_lost", lang).format(
            stage=label(str(deal["last_stage"]), lang), reason=label(str(deal["exit_reason"]), lang)
        )
    return label("note.outcome_open", lang)


# -- calibration: observed against fitted ------------------------------------------------------

_OBSERVED, _FITTED, _FLAT = "#4e79a7", "#e15759", "0.45"


def _needs(table: pd.DataFrame, columns: set[str], what: str) -> None:
    if not columns <= set(table.columns):
        raise ValueError(f"{what}: expected the {what} table of kamsim.fit_tables")


def fit_arrivals(arrivals: pd.DataFrame, lang: str = "en") -> Figure:
    """Deals created per full month (bars) against the fitted rate (line) and the 95% band a
    Poisson count at that rate falls in: a bar outside the band is more than noise."""
    _needs(arrivals, {"month", "observed", "fitted", "low", "high"}, "arrivals")
    with typeset(lang) as lang:
        fig = _figure(3.6)
        ax = fig.subplots()
        x = np.arange(len(arrivals))
        bars = ax.bar(
            x,
            arrivals["observed"],
            width=0.7,
            color=_OBSERVED,
            alpha=0.85,
            label=label("legend.observed", lang),
        )
        for patch, month in zip(bars.patches, arrivals["month"], strict=True):
            patch.set_gid(f"arrivals:observed:{month}")
        # Each month's band and fitted count span its whole bar.
        edges = np.column_stack([x - 0.5, x + 0.5]).ravel()
        ax.fill_between(
            edges,
            np.repeat(arrivals["low"].to_numpy(float), 2),
            np.repeat(arrivals["high"].to_numpy(float), 2),
            color=_FITTED,
            alpha=0.15,
            lw=0,
            zorder=0,
            label=label("legend.poisson_band", lang),
            gid="arrivals:band",
        )
        ax.plot(
            edges,
            np.repeat(arrivals["fitted"].to_numpy(float), 2),
            color=_FITTED,
            lw=1.8,
            label=label("legend.fitted", lang),
            gid="arrivals:fitted",
        )
        ax.set_xticks(x, list(arrivals["month"].astype(str)), rotation=45, fontsize="small")
        ax.set_xlabel(label("axis.month", lang))
        ax.set_ylabel(label("axis.deals_created", lang))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        _title(fig, label("title.fit_arrivals", lang), label("title.fit_detail", lang))
        return _finish(fig)


def fit_survival(survival: pd.DataFrame, lang: str = "en") -> Figure:
    """The Aalen-Johansen curves of the export (steps: the share of deals still open, and the
    share won, by days since creation; censoring and late entry accounted for) against the
    fitted cycle (smooth): the scenario's deals stay open for the fitted cycle, then win with
    the fitted probability."""
    _needs(
        survival, {"day", "open_observed", "won_observed", "open_fitted", "won_fitted"}, "survival"
    )
    with typeset(lang) as lang:
        fig = _figure(4.0)
        ax = fig.subplots()
        day = survival["day"].to_numpy(float)
        for curve, colour in (("open", _OBSERVED), ("won", _PASSED)):
            ax.step(
                day,
                survival[f"{curve}_observed"],
                where="post",
                color=colour,
                lw=1.6,
                label=label(f"legend.{curve}_observed", lang),
                gid=f"survival:{curve}:observed",
            )
            ax.plot(
                day,
                survival[f"{curve}_fitted"],
                color=colour,
                lw=1.6,
                ls="--",
                label=label(f"legend.{curve}_fitted", lang),
                gid=f"survival:{curve}:fitted",
            )
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.set_xlabel(label("axis.days_since_created", lang))
        ax.set_ylabel(label("axis.share_of_deals", lang))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        _title(fig, label("title.fit_survival", lang), label("title.fit_detail", lang))
        return _finish(fig)


def fit_win_rate(win_rate: pd.DataFrame, lang: str = "en") -> Figure:
    """Each segment's win probability in the export (censoring-aware, with its bootstrap 95%
    interval) against its grade's calibrated win probability (the diamond)."""
    _needs(win_rate, {"segment", "grade", "observed", "low", "high", "fitted"}, "win_rate")
    with typeset(lang) as lang:
        fig = _figure(1.6 + 0.4 * max(len(win_rate), 3))
        ax = fig.subplots()
        for i, r in enumerate(win_rate.to_dict("records")):
            seg = str(r["segment"])
            _interval(ax, i, r["low"], r["high"], f"win_rate:interval:{seg}", _OBSERVED)
            ax.plot([r["observed"]], [i], "o", color=_OBSERVED, gid=f"win_rate:observed:{seg}")
            ax.plot([r["fitted"]], [i], "D", color=_FITTED, ms=6, gid=f"win_rate:fitted:{seg}")
        names = [
            f"{s} ({label('legend.grade', lang)} {g})" if isinstance(g, str) and g else str(s)
            for s, g in zip(win_rate["segment"], win_rate["grade"], strict=True)
        ]
        ax.set_yticks(range(len(win_rate)), names, fontsize="small")
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.set_xlabel(label("axis.win_probability", lang))
        ax.grid(axis="x", alpha=0.3)
        handles = [
            Line2D([], [], color=_OBSERVED, marker="o", label=label("legend.observed_ci", lang)),
            Line2D(
                [], [], color=_FITTED, marker="D", ls="none", label=label("legend.fitted", lang)
            ),
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        _title(fig, label("title.fit_win_rate", lang), label("title.fit_detail", lang))
        return _finish(fig)


def fit_calendar(calendar: pd.DataFrame, lang: str = "en") -> Figure:
    """Closes by month of the quarter, wins and losses side by side: observed (bars) against
    flat (closes spread by the days of each month, with its Poisson 95% band) and against the
    fitted effect (diamonds; on the flat counts when the scenario simulates none)."""
    _needs(
        calendar,
        {"outcome", "month_of_quarter", "observed", "flat", "low", "high", "fitted"},
        "calendar",
    )
    outcomes = list(dict.fromkeys(calendar["outcome"].astype(str)))
    with typeset(lang) as lang:
        fig = _figure(3.6)
        axes = fig.subplots(1, max(len(outcomes), 1), squeeze=False)[0]
        for ax, outcome in zip(axes, outcomes, strict=False):
            rows = calendar[calendar["outcome"].astype(str) == outcome]
            x = rows["month_of_quarter"].to_numpy(int)
            bars = ax.bar(
                x,
                rows["observed"],
                width=0.5,
                color=_OBSERVED,
                label=label("legend.observed", lang),
            )
            for patch, m in zip(bars.patches, x, strict=True):
                patch.set_gid(f"calendar:{outcome}:observed:{m}")
            for r in rows.to_dict("records"):
                m = int(r["month_of_quarter"])
                _interval(
                    ax, m + 0.35, r["low"], r["high"], f"calendar:{outcome}:band:{m}", _FLAT, True
                )
                ax.plot(
                    [m + 0.35],
                    [r["flat"]],
                    "_",
                    ms=12,
                    color=_FLAT,
                    gid=f"calendar:{outcome}:flat:{m}",
                )
                ax.plot(
                    [m], [r["fitted"]], "D", color=_FITTED, gid=f"calendar:{outcome}:fitted:{m}"
                )
            ax.set_xticks([1, 2, 3], [label(f"axis.month_of_quarter.{m}", lang) for m in (1, 2, 3)])
            ax.set_title(label(outcome, lang), fontsize="medium")
            ax.set_ylabel(label("axis.closes", lang))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(axis="y", alpha=0.3)
        handles = [
            Patch(color=_OBSERVED, label=label("legend.observed", lang)),
            Line2D([], [], color=_FLAT, marker="_", ms=12, label=label("legend.flat_band", lang)),
            Line2D(
                [], [], color=_FITTED, marker="D", ls="none", label=label("legend.fitted", lang)
            ),
        ]
        axes[-1].legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small"
        )
        _title(fig, label("title.fit_calendar", lang), label("title.fit_detail", lang))
        return _finish(fig)
