"""The training workshop: an ipywidgets app that a trainer projects to a room of salespeople.

The room changes a few levers (headcount per pool, when executives engage, how hard we
qualify, the bid margin, a WIP cap), presses Run, and sees within seconds what the pipeline
does, always against the baseline drawn as a grey ghost (Littlefield's "do-nothing team",
Zensimu's "vs. R1"). What the best teaching simulations do in a room is here: the same
customers in every run (common random numbers, the seed on screen, a "new market" button),
a named scenario log with deltas, a time cursor that scrubs over a run already computed,
four fixed debrief views, one deal followed under two policies, short scripted acts with a
question to predict before the reveal, and a facilitator panel with a preset per act, reset
and export.

How it is built, and why:

- Every callback is a thin wrapper over a plain method of :class:`Workshop` (``run``,
  ``new_market``, ``preset``, ``reset``, ``export``, ``figures``), so tests drive the app in
  plain pytest by setting widget values and calling ``button.click()``, then read the log
  and the figures' artists; no browser is needed.
- Results are cached in memory, least recently used first out, by (settings, seed) (and the
  scenario and replications, so one cache can serve several workshops): every lever is
  discrete, so going back to a setting is a lookup, and :meth:`Workshop.precompute` warms
  the acts and the debrief grids before the room arrives.
- Charts are matplotlib figures built with the object API and rendered to PNG into
  ``ipywidgets.Image`` widgets: no pyplot state, no dependence on the kernel's plotting
  backend, the same in JupyterLab, Voilà and pytest, and no flicker on redraw. Only the view
  on screen is redrawn; the others when their tab is opened.
- This is the only module that imports ipywidgets (the ``notebooks`` extra), so
  ``import kamsim`` stays lean.
"""

from __future__ import annotations

import html
import io
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from kamsim import kpis as registry
from kamsim.fonts import typeset
from kamsim.io import load_scenario, scenario_hash
from kamsim.labels import LANGS, Lang, label
from kamsim.plots import (
    _EXIT_ORDER,
    _STAGE_COLOURS,
    _deal_events,
    _figure,
    _finish,
    _flow_colour,
    _kpi_axis,
    _kpi_unit,
    _number_axis,
    _title,
    _value_text,
    journey,
    short_number,
)
from kamsim.results import Result
from kamsim.scenario import Scenario
from kamsim.simulation import run as simulate_run
from kamsim.vocabulary import DAYS_PER_MONTH, POOLS, STAGES

__all__ = [
    "ACTS",
    "HEADLINE",
    "LOG_KPIS",
    "VIEWS",
    "Act",
    "DealPick",
    "QueuesView",
    "ResultCache",
    "Run",
    "Settings",
    "Workshop",
    "build_workshop",
    "deal_trace",
    "executive_figure",
    "hockey_figure",
    "interesting_deals",
    "lost_by_stage",
    "lost_figure",
    "png",
    "queue_by_stage",
    "queues_figure",
    "wip_by_stage",
]

QUALIFICATIONS: Final[dict[str, tuple[str, float | None]]] = {
    "all": ("D", None),
    "a_to_c": ("C", None),
    "ab": ("B", None),
    "ab_margin": ("B", 0.15),
}
"""Qualification strictness, loosest first: the lowest grade approved and a margin bar."""
ENGAGEMENTS: Final[tuple[str, ...]] = (
    "none",
    "approval",
    "proposal",
    "tender",
    "negotiation",
    "implementation",
)
"""Where executives may engage (``policy.executive_engagement``)."""
BID_MARGINS: Final[tuple[float | None, ...]] = (None, 0.0, 0.05, 0.10, 0.15, 0.20)
"""Bid/no-bid bars offered (``policy.bid_min_margin``); ``None`` always bids."""
WIP_CAPS: Final[tuple[int | None, ...]] = (None, 10, 12, 15, 18)
"""Active deals per account manager offered (``policy.am_active_deal_cap``); ``None``: no cap."""
HEADLINE: Final[tuple[str, ...]] = (
    "bookings",
    "contribution",
    "win_rate",
    "deals_won",
    "cycle_time_days",
)
"""The KPIs on the headline cards, each with its delta against the baseline."""
LOG_KPIS: Final[tuple[str, ...]] = (
    *HEADLINE,
    "wait_presales",
    "wait_executives",
    "executive_days_per_month",
)
"""The KPIs of the scenario log (each with a ``<kpi>_delta`` column)."""
VIEWS: Final[tuple[str, ...]] = ("queues", "hockey", "lost", "executive", "journey")
"""The chart views, in tab order (the scenario log is the last tab)."""
VIEW_CACHE: Final = 16
"""Queues charts kept laid out (each a figure with its saved background)."""
RANK_KPI: Final = "contribution"
"""The log ranks runs by this KPI's delta: what the business keeps after paying its people,
so a hire is priced and cannot win by headcount alone."""

_RUN: Final = "#1f77b4"
_GHOST: Final = "0.62"
_LOG_POINT: Final = "#ff7f0e"


# -- settings: the levers the room controls ------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """One position of every lever the room controls; hashable, so it keys the cache."""

    account_managers: int
    presales: int
    delivery: int
    approvers: int
    executives: int
    executive_engagement: str = "negotiation"
    executive_wait: str = "wait"
    qualification: str = "all"
    """A key of :data:`QUALIFICATIONS`, or ``"scenario"``: the scenario's own bars."""
    bid_min_margin: float | None = None
    wip_cap: int | None = None

    @classmethod
    def of(cls, scenario: Scenario) -> Settings:
        """The levers as ``scenario`` sets them (the baseline's settings)."""
        policy = scenario.policy
        q = policy.qualification
        qualification = "scenario"
        if q.min_value is None:
            for key, (grade, margin) in QUALIFICATIONS.items():
                if q.min_grade == grade and q.min_margin == margin:
                    qualification = key
        return cls(
            **{pool: scenario.resources[pool].headcount for pool in POOLS},
            executive_engagement=policy.executive_engagement,
            executive_wait=policy.executive_wait,
            qualification=qualification,
            bid_min_margin=policy.bid_min_margin,
            wip_cap=policy.am_active_deal_cap,
        )

    def overrides(self) -> dict[str, Any]:
        """The scenario overrides (dotted keys) that put every lever in this position."""
        out: dict[str, Any] = {f"resources.{p}.headcount": getattr(self, p) for p in POOLS}
        out["policy.executive_engagement"] = self.executive_engagement
        out["policy.executive_wait"] = self.executive_wait
        if self.qualification != "scenario":
            grade, margin = QUALIFICATIONS[self.qualification]
            out["policy.qualification.min_grade"] = grade
            out["policy.qualification.min_margin"] = margin
        out["policy.bid_min_margin"] = self.bid_min_margin
        out["policy.am_active_deal_cap"] = self.wip_cap
        return out

    def changes(self, base: Settings, lang: str = "en") -> list[str]:
        """What differs from ``base``, in words (``"Presales engineers 5"``): a run's name
        when the room gives none."""
        out = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(base, f.name)
            if mine != theirs:
                out.append(f"{_setting_name(f.name, lang)} {_setting_value(f.name, mine, lang)}")
        return out


def _setting_name(name: str, lang: str) -> str:
    keys = {
        "executive_engagement": "workshop.engagement",
        "executive_wait": "workshop.executive_wait",
        "qualification": "workshop.qualification",
        "bid_min_margin": "workshop.bid_margin",
        "wip_cap": "workshop.wip_cap",
    }
    return label(keys.get(name, name), lang)


def _setting_value(name: str, value: Any, lang: str) -> str:
    if name == "executive_engagement":
        return label("workshop.never" if value == "none" else str(value), lang)
    if name == "executive_wait":
        return label(f"workshop.{value}", lang)
    if name == "qualification":
        return label(f"workshop.qualification.{value}", lang)
    if name == "bid_min_margin":
        return label("workshop.always_bid", lang) if value is None else f"{100 * value:g}%"
    if name == "wip_cap":
        return label("workshop.no_cap", lang) if value is None else str(value)
    return str(value)


# -- acts: the facilitator's presets -------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    """A facilitator preset: the levers for one act of the session, the view to open, and
    the question to put to the room before the run is revealed."""

    key: str
    view: str
    change: Callable[[Settings], Mapping[str, Any]]

    def settings(self, base: Settings) -> Settings:
        return replace(base, **self.change(base))

    @property
    def title(self) -> str:
        """The label key of the act's name (its prompt is ``<title>.prompt``)."""
        return f"workshop.{self.key}"


def _short_presales(base: Settings) -> dict[str, Any]:
    return {"presales": max(1, base.presales - 3)}


ACTS: Final[tuple[Act, ...]] = (
    Act("act1", "queues", lambda base: {}),
    Act("act2", "queues", _short_presales),
    Act("act3", "journey", _short_presales),
    Act(
        "act4",
        "executive",
        lambda base: {"executive_engagement": "proposal", "executive_wait": "wait"},
    ),
    Act("act5", "lost", lambda base: {"wip_cap": 15}),
)
"""The session's acts, each under ten minutes: the baseline; presales short by three;
the same shortage followed deal by deal; executives engaging at the proposal; a WIP cap of
15, after which each table tries its own policy."""


# -- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Run:
    """One run of the log: its name, levers, market (seed) and tables."""

    number: int
    name: str
    settings: Settings
    seed: int
    result: Result
    seconds: float
    """Time to get the result: the simulation, or the cache lookup."""
    cached: bool

    @property
    def kpis(self) -> pd.Series:
        """Mean of every KPI over the replications."""
        return _kpi_means(self.result)


def _kpi_means(result: Result) -> pd.Series:
    return result.kpis.drop(columns=["replication", "seed"]).mean(numeric_only=True)


def _reps(result: Result) -> int:
    return max(1, int(result.kpis["replication"].nunique()))


# -- tables the views read -----------------------------------------------------------------------


def _month_edges(result: Result) -> np.ndarray[Any, Any]:
    months = int(result.timeseries["month"].max()) + 1
    return np.arange(months + 1) * DAYS_PER_MONTH


def queue_by_stage(result: Result) -> pd.DataFrame:
    """Mean number of deals waiting for one of our pools, by model month (rows) and stage
    (columns), time-weighted within the month and averaged over replications.

    Read from the events table (every wait from ``queued_at`` to its start, or to the
    customer giving up, or to the end of the run), because the pools' own queue series do not
    say in which stage a deal waits: presales serves the proposal and the tender alike."""
    edges = _month_edges(result)
    events = result.events
    holds = events[events["pool"].notna()]
    start = holds["queued_at"].to_numpy(float)
    end = holds["started_at"].fillna(holds["ended_at"]).fillna(edges[-1]).to_numpy(float)
    waited = end > start
    start, end = start[waited], end[waited]
    stages = holds["stage"].astype(str).to_numpy()[waited]
    overlap = np.clip(
        np.minimum(end[:, None], edges[None, 1:]) - np.maximum(start[:, None], edges[None, :-1]),
        0.0,
        None,
    )
    scale = np.diff(edges) * _reps(result)
    table = pd.DataFrame(
        {stage: overlap[stages == stage].sum(axis=0) / scale for stage in STAGES},
        index=pd.RangeIndex(len(edges) - 1, name="month"),
    )
    return table


def wip_by_stage(result: Result) -> pd.DataFrame:
    """Mean deals in each stage by model month (the engine's time-weighted levels)."""
    columns = {f"wip_{s}": s for s in STAGES}
    means = result.timeseries.groupby("month", sort=True)[list(columns)].mean()
    return means.rename(columns=columns)


def lost_by_stage(result: Result) -> pd.DataFrame:
    """Deals lost after the warm-up per replication (mean), by last stage (rows, in stage
    order) and exit reason (columns); the total is the ``deals_lost`` KPI's mean."""
    deals = result.deals
    warm = result.scenario.calendar.warmup_days
    lost = deals[(deals["outcome"].astype(str) == "lost") & (deals["closed_at"] >= warm)]
    table = pd.crosstab(lost["last_stage"].astype(str), lost["exit_reason"].astype(str))
    present = [str(c) for c in table.columns]
    order = [r for r in _EXIT_ORDER if r in present] + sorted(set(present) - set(_EXIT_ORDER))
    table = table.reindex(index=list(STAGES), columns=order, fill_value=0)
    return table.astype(float) / _reps(result)


def _went_cold(result: Result) -> float:
    table = lost_by_stage(result)
    return float(table["went_cold"].sum()) if "went_cold" in table else 0.0


# -- figures -------------------------------------------------------------------------------------

ROOM_FONT_SIZE: Final = 11.0
"""Points: text that reads from the back of a training room when a chart fills the screen."""


@contextmanager
def _drawing(lang: str) -> Iterator[Lang]:
    """The language's fonts (:func:`kamsim.fonts.typeset`) at the room's size."""
    with typeset(lang) as shown, rc_context({"font.size": ROOM_FONT_SIZE}):
        yield shown


def _compared(run_name: str, result: Result, base: Result, lang: str) -> str:
    """The title's second line: the run against the baseline, or the baseline alone."""
    key = "title.run" if result is base else "workshop.title.compared"
    return label(key, lang).format(name=run_name, reps=_reps(result), seed=result.seed)


def _kpi_text(kpi: str, value: float, lang: str) -> str:
    """A KPI's value in its unit: ``16.5%``, ``217 d``, ``429M``."""
    unit = _kpi_unit(kpi)
    text = _value_text(unit, value, lang)
    return label("workshop.note.days", lang).format(days=text) if unit == "days" else text


def _delta_text(kpi: str, delta: float, lang: str) -> str:
    """A difference in its KPI's unit, signed: ``+12.3M``, ``+2.4 pp``, ``-3.1 d``."""
    if not math.isfinite(delta):
        return "-"
    sign = "+" if delta > 0 else ("-" if delta < 0 else "±")
    unit = _kpi_unit(kpi)
    if unit == "share":
        return sign + label("workshop.note.points", lang).format(points=f"{100 * abs(delta):.1f}")
    if unit == "days":
        return sign + label("workshop.note.days", lang).format(days=short_number(abs(delta), lang))
    return sign + short_number(abs(delta), lang)


class QueuesView:
    """Deals waiting per stage over the months (one small panel per stage, the baseline
    grey), with a time cursor: left of it the run is drawn strong, right of it faint, so
    scrubbing shows the queues building. Beside them the pipeline board at the cursor: deals
    in each stage, the waiting part dark, the baseline's as a grey dashed outline.

    Built once per run; :meth:`move` changes only the artists that follow the cursor, and
    :meth:`frame` redraws only those over a saved background (blitting), so a step of the
    Play control costs tens of milliseconds instead of a full redraw. The layout is fixed
    by hand rather than by the constrained layout engine, which would dominate the time."""

    def __init__(self, result: Result, base: Result, name: str = "", lang: str = "en") -> None:
        self.queue, self.base_queue = queue_by_stage(result), queue_by_stage(base)
        self.wip, self.base_wip = wip_by_stage(result), wip_by_stage(base)
        self.last = len(self.queue) - 1
        self.month = self.last
        warm = min(result.scenario.calendar.warmup_months, self.last)
        months = np.arange(len(self.queue))
        self._background: Any = None
        self._dpi = 0.0
        with _drawing(lang) as lang:
            self.lang = lang
            fig = self.fig = Figure(figsize=(12.0, 6.4))
            outer = fig.add_gridspec(
                1,
                2,
                width_ratios=[2.0, 1.0],
                left=0.065,
                right=0.975,
                top=0.83,
                bottom=0.16,
                wspace=0.5,
            )
            grid = outer[0].subgridspec(2, 3, hspace=0.38, wspace=0.12)
            first: Axes | None = None
            self.lines: dict[str, Line2D] = {}
            self.cursors: dict[str, Line2D] = {}
            for i, stage in enumerate(STAGES):
                ax = fig.add_subplot(grid[i // 3, i % 3], sharex=first, sharey=first)
                first = first or ax
                colour = _STAGE_COLOURS[stage]
                ax.plot(months, self.base_queue[stage], color=_GHOST, lw=1.6, gid=f"ghost:{stage}")
                ax.plot(months, self.queue[stage], color=colour, lw=1.2, alpha=0.3)
                (self.lines[stage],) = ax.plot([], [], color=colour, lw=2.4, gid=f"queue:{stage}")
                self.cursors[stage] = ax.axvline(
                    0, color="0.2", lw=1.0, ls=":", gid=f"cursor:{stage}"
                )
                ax.set_title(label(stage, lang), fontsize="medium")
                delta = float(
                    self.queue[stage][warm:].mean() - self.base_queue[stage][warm:].mean()
                )
                ax.text(
                    0.04,
                    0.92,
                    label("workshop.note.delta", lang).format(delta=_signed(delta, lang)),
                    transform=ax.transAxes,
                    va="top",
                    fontsize="small",
                    color=colour,
                    gid=f"queue_delta:{stage}",
                )
                ax.grid(alpha=0.3)
                ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
                if i % 3:
                    ax.tick_params(labelleft=False)
                else:
                    ax.set_ylabel(label("workshop.axis.queue", lang))
                if i // 3:
                    ax.set_xlabel(label("axis.month", lang))
                else:
                    ax.tick_params(labelbottom=False)
            assert first is not None
            top = float(np.nanmax([self.queue.to_numpy(), self.base_queue.to_numpy()]))
            first.set_ylim(0, max(1.0, top * 1.1))
            first.set_xlim(0, self.last)
            _number_axis(first.yaxis, lang)
            board = self.board = fig.add_subplot(outer[1])
            y = np.arange(len(STAGES))
            colours = [_STAGE_COLOURS[s] for s in STAGES]
            zeros = np.zeros(len(STAGES))
            self.bars = board.barh(y, zeros, height=0.6, color=colours, alpha=0.45).patches
            self.waiting = board.barh(y, zeros, height=0.6, color=colours).patches
            self.ghosts = board.barh(
                y, zeros, height=0.8, facecolor="none", edgecolor=_GHOST, lw=1.6, ls="--"
            ).patches
            self.notes = [
                board.annotate(
                    "",
                    (0.0, float(yi)),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize="small",
                )
                for yi in y
            ]
            for stage, a, b, c in zip(STAGES, self.bars, self.waiting, self.ghosts, strict=True):
                a.set_gid(f"board:{stage}")
                b.set_gid(f"board_waiting:{stage}")
                c.set_gid(f"board_ghost:{stage}")
            board.set_yticks(y, [label(s, lang) for s in STAGES])
            board.set_ylim(len(STAGES) - 0.5, -0.5)
            widest = max(float(self.wip.to_numpy().max()), float(self.base_wip.to_numpy().max()))
            board.set_xlim(0, max(1.0, widest) * 1.2)
            board.set_xlabel(label("workshop.axis.deals_in_stage", lang))
            _number_axis(board.xaxis, lang)
            board.grid(axis="x", alpha=0.3)
            handles = [
                Patch(color="0.3", label=label("workshop.legend.waiting", lang)),
                Patch(color="0.3", alpha=0.45, label=label("workshop.legend.working", lang)),
                Patch(
                    facecolor="none",
                    edgecolor=_GHOST,
                    ls="--",
                    label=label("workshop.legend.baseline", lang),
                ),
            ]
            fig.legend(handles=handles, loc="lower right", ncols=3, fontsize="small")
            _title(fig, label("workshop.title.queues", lang), _compared(name, result, base, lang))
            self.move(self.last)
        self._moving: list[Any] = [
            *self.lines.values(),
            *self.cursors.values(),
            *self.bars,
            *self.waiting,
            *self.ghosts,
            *self.notes,
            board.title,
        ]

    def move(self, month: int) -> None:
        """Put the cursor at ``month`` (clipped to the run)."""
        cursor = self.month = min(max(int(month), 0), self.last)
        for stage in STAGES:
            self.lines[stage].set_data(
                np.arange(cursor + 1), self.queue[stage].to_numpy()[: cursor + 1]
            )
            self.cursors[stage].set_xdata([cursor, cursor])
        in_stage = self.wip.iloc[cursor].to_numpy(float)
        waiting = np.minimum(self.queue.iloc[cursor].to_numpy(float), in_stage)
        ghost = self.base_wip.iloc[cursor].to_numpy(float)
        for i in range(len(STAGES)):
            self.bars[i].set_width(in_stage[i])
            self.waiting[i].set_width(waiting[i])
            self.ghosts[i].set_width(ghost[i])
            self.notes[i].xy = (float(max(in_stage[i], ghost[i])), float(i))
            self.notes[i].set_text(short_number(float(in_stage[i]), self.lang))
        self.board.set_title(
            label("workshop.title.board", self.lang).format(month=cursor), fontsize="medium"
        )

    def frame(self, month: int, dpi: float = 80.0) -> bytes:
        """The chart with the cursor at ``month`` as PNG, redrawing only what moved."""
        self.move(month)
        canvas = self.fig.canvas
        if self._background is None or dpi != self._dpi:
            self.fig.set_dpi(dpi)
            canvas = FigureCanvasAgg(self.fig)
            for artist in self._moving:
                artist.set_animated(True)
            with _drawing(self.lang):
                canvas.draw()  # type: ignore[no-untyped-call]
            for artist in self._moving:
                artist.set_animated(False)
            self._background = canvas.copy_from_bbox(self.fig.bbox)  # type: ignore[no-untyped-call]
            self._dpi = dpi
        assert isinstance(canvas, FigureCanvasAgg)
        canvas.restore_region(self._background)  # type: ignore[no-untyped-call]
        with _drawing(self.lang):
            for artist in self._moving:
                self.fig.draw_artist(artist)
        buffer = io.BytesIO()
        pixels = np.asarray(canvas.buffer_rgba())  # type: ignore[no-untyped-call]
        imsave(buffer, pixels, format="png", pil_kwargs={"compress_level": 1})
        return buffer.getvalue()


def queues_figure(
    result: Result,
    base: Result,
    month: int | None = None,
    name: str = "",
    lang: str = "en",
) -> Figure:
    """The queues-building chart (:class:`QueuesView`) with its cursor at ``month`` (default:
    the last month)."""
    view = QueuesView(result, base, name, lang)
    if month is not None:
        view.move(month)
    with _drawing(lang):
        return _finish(view.fig)


def _mean(result: Result, kpi: str) -> float:
    return float(result.kpis[kpi].mean())


def _log_points(ax: Axes, runs: Sequence[tuple[str, Result]], x: str, y: str, lang: str) -> None:
    """The runs of the scenario log as numbered squares at their mean ``x`` and ``y``."""
    if not runs:
        return
    ax.plot(
        [_mean(r, x) for _, r in runs],
        [_mean(r, y) for _, r in runs],
        ls="none",
        marker="s",
        ms=6,
        color=_LOG_POINT,
        alpha=0.8,
        gid="runs",
        label=label("workshop.legend.runs", lang),
    )
    for n, r in runs:
        ax.annotate(
            n,
            (_mean(r, x), _mean(r, y)),
            xytext=(5, -10),
            textcoords="offset points",
            fontsize="x-small",
            color=_LOG_POINT,
        )


def hockey_figure(
    pool: str,
    grid: Sequence[tuple[int, Result]],
    base: Result,
    runs: Sequence[tuple[str, Result]] = (),
    current: tuple[str, Result] | None = None,
    lang: str = "en",
) -> Figure:
    """The hockey stick: mean wait for ``pool`` against its utilisation. A staffing grid
    (``(headcount, result)`` at the baseline's policy) draws the curve, flat while the pool
    has room and steep as it fills; the log's runs are points on it, the baseline grey and
    the current run large."""
    util, wait = f"util_{pool}", f"wait_{pool}"
    with _drawing(lang) as lang:
        fig = _figure(5.6, 10.0)
        ax = fig.subplots()
        points = sorted(((_mean(r, util), _mean(r, wait), n) for n, r in grid), key=lambda p: p[0])
        points = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
        if points:
            xs, ys, _ = zip(*points, strict=True)
            counts = [n for n, _ in grid]
            ax.plot(
                xs,
                ys,
                color=_GHOST,
                lw=1.4,
                marker="o",
                ms=5,
                gid="grid",
                label=label("workshop.legend.grid", lang).format(
                    pool=label(pool, lang), low=min(counts), high=max(counts)
                ),
            )
            for x, y, n in points:
                ax.annotate(
                    str(n),
                    (x, y),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize="x-small",
                    color="0.4",
                )
        _log_points(
            ax, [(n, r) for n, r in runs if math.isfinite(_mean(r, wait))], util, wait, lang
        )
        _ghost_point(ax, base, util, wait, lang)
        _current_point(ax, base, current, util, wait, lang)
        ax.set_xlabel(label("workshop.axis.util", lang).format(pool=label(pool, lang)))
        ax.set_ylabel(label("workshop.axis.wait", lang).format(pool=label(pool, lang)))
        _number_axis(ax.xaxis, lang, "share")
        _number_axis(ax.yaxis, lang)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        what = label("workshop.title.hockey", lang).format(pool=label(pool, lang))
        detail = label("workshop.title.market", lang).format(seed=base.seed, reps=_reps(base))
        _title(fig, what, detail)
        return _finish(fig)


def _current_point(
    ax: Axes, base: Result, current: tuple[str, Result] | None, x: str, y: str, lang: str
) -> None:
    """The current run as a large point, with its difference from the baseline beside it."""
    if current is None:
        return
    name, result = current
    cx, cy = _mean(result, x), _mean(result, y)
    if not (math.isfinite(cx) and math.isfinite(cy)):
        return
    ax.plot(
        [cx],
        [cy],
        marker="o",
        ms=11,
        color=_RUN,
        ls="none",
        gid="current",
        label=label("workshop.legend.this_run", lang) + f": {name}",
    )
    dx, dy = cx - _mean(base, x), cy - _mean(base, y)
    low, high = ax.dataLim.intervalx
    right = cx > (low + high) / 2  # write the difference towards the middle of the chart
    ax.annotate(
        f"Δ {_delta_text(x, dx, lang)}, {_delta_text(y, dy, lang)}",
        (cx, cy),
        xytext=(-12 if right else 12, 8),
        textcoords="offset points",
        ha="right" if right else "left",
        fontsize="small",
        color=_RUN,
        gid="current_delta",
    )


def _ghost_point(ax: Axes, base: Result, x: str, y: str, lang: str) -> None:
    bx, by = _mean(base, x), _mean(base, y)
    if math.isfinite(bx) and math.isfinite(by):
        ax.plot(
            [bx],
            [by],
            marker="o",
            ms=11,
            color=_GHOST,
            ls="none",
            gid="baseline",
            label=label("workshop.legend.baseline", lang),
        )


def lost_figure(result: Result, base: Result, name: str = "", lang: str = "en") -> Figure:
    """Deals lost after the warm-up, by stage and exit reason (mean per replication): the
    run's bars stacked by reason, the baseline's total as a grey bar above each, and the
    difference written at the end."""
    table, base_table = lost_by_stage(result), lost_by_stage(base)
    totals, base_totals = table.sum(axis=1), base_table.sum(axis=1)
    with _drawing(lang) as lang:
        fig = _figure(5.8, 12.0)
        ax = fig.subplots()
        y = np.arange(len(STAGES))
        ghost = ax.barh(y - 0.3, base_totals.to_numpy(), height=0.22, color=_GHOST)
        for patch, stage in zip(ghost.patches, STAGES, strict=True):
            patch.set_gid(f"lost_ghost:{stage}")
        left = np.zeros(len(STAGES))
        for reason in table.columns:
            widths = table[reason].to_numpy()
            if not widths.any():
                continue
            bars = ax.barh(
                y + 0.08,
                widths,
                left=left,
                height=0.5,
                color=_flow_colour(str(reason)),
                label=label(str(reason), lang),
            )
            for patch, stage in zip(bars.patches, STAGES, strict=True):
                patch.set_gid(f"lost:{stage}:{reason}")
            left += widths
        for yi, stage in zip(y, STAGES, strict=True):
            delta = float(totals[stage] - base_totals[stage])
            text = f"{short_number(float(totals[stage]), lang)}  ({_signed(delta, lang)})"
            ax.annotate(
                text,
                (float(max(totals[stage], base_totals[stage])), float(yi)),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
                gid=f"lost_delta:{stage}",
            )
        ax.set_yticks(y, [label(s, lang) for s in STAGES])
        ax.set_ylim(len(STAGES) - 0.5, -0.6)
        # Explicit limits: zero-width segments at the end of a stack are sticky edges that
        # would stop a margin from making room for the numbers written beyond the bars.
        ax.set_xlim(0, max(1.0, float(totals.max()), float(base_totals.max())) * 1.2)
        ax.set_xlabel(label("workshop.axis.lost", lang))
        _number_axis(ax.xaxis, lang)
        ax.grid(axis="x", alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        handles.insert(0, Patch(color=_GHOST))
        names.insert(0, label("workshop.legend.baseline", lang))
        ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        _title(fig, label("workshop.title.lost", lang), _compared(name, result, base, lang))
        return _finish(fig)


def _signed(x: float, lang: str) -> str:
    """A signed difference with three significant digits; below 0.005 it is none."""
    if not math.isfinite(x) or abs(x) < 0.005:
        return "±0"
    return ("+" if x > 0 else "-") + short_number(abs(x), lang)


def executive_figure(
    base: Result,
    grid: Sequence[tuple[str, Result]] = (),
    runs: Sequence[tuple[str, Result]] = (),
    current: tuple[str, Result] | None = None,
    lang: str = "en",
) -> Figure:
    """Executive days with customers per month against the win rate: what executive time
    buys. A grid of engagement stages (at the baseline's staffing) traces the options; the
    log's runs are points, the baseline grey, the current run large with its deltas."""
    x, y = "executive_days_per_month", "win_rate"
    with _drawing(lang) as lang:
        fig = _figure(5.6, 10.0)
        ax = fig.subplots()
        if grid:
            gx = [_mean(r, x) for _, r in grid]
            gy = [_mean(r, y) for _, r in grid]
            ax.plot(
                gx,
                gy,
                ls="none",
                marker="D",
                ms=6,
                color=_GHOST,
                gid="grid",
                label=label("workshop.legend.engagement", lang),
            )
            for i, ((stage, _), px, py) in enumerate(zip(grid, gx, gy, strict=True)):
                text = label("workshop.never" if stage == "none" else stage, lang)
                ax.annotate(
                    text,
                    (px, py),
                    xytext=(6, 4 if i % 2 else -12),
                    textcoords="offset points",
                    fontsize="x-small",
                    color="0.4",
                )
        _log_points(ax, runs, x, y, lang)
        _ghost_point(ax, base, x, y, lang)
        _current_point(ax, base, current, x, y, lang)
        ax.set_xlabel(label("workshop.axis.exec_days", lang))
        ax.set_ylabel(_kpi_axis(y, base.scenario.calendar.currency, lang))
        _number_axis(ax.yaxis, lang, "share")
        _number_axis(ax.xaxis, lang)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
        detail = label("workshop.title.market", lang).format(seed=base.seed, reps=_reps(base))
        _title(fig, label("workshop.title.executive", lang), detail)
        return _finish(fig)


# -- one deal ------------------------------------------------------------------------------------


def deal_trace(
    result: Result, deal_id: int, replication: int = 0, lang: str = "en"
) -> pd.DataFrame:
    """One deal's journey as steps in time order (``day``, ``stage``, ``event`` in words):
    each stage entered, each wait for our people and how it ended, and how each stage ended
    (passed, lost with its reason, or still open). At one moment a stage ends before the
    next begins, and a wait before the work it waited for."""
    events = _deal_events(result, deal_id, replication)
    end = result.scenario.calendar.horizon_days
    steps: list[tuple[float, int, str, str]] = []
    for r in events.to_dict("records"):
        stage = str(r["stage"])
        where = label(stage, lang)
        queued, started, ended = (float(r[k]) for k in ("queued_at", "started_at", "ended_at"))
        if pd.isna(r["pool"]):
            steps.append(
                (queued, 1, stage, label("workshop.trace.enter", lang).format(stage=where))
            )
            outcome = str(r["result"])
            if outcome == "passed":
                text = label("workshop.trace.passed", lang).format(stage=where)
            elif outcome == "open":
                text = label("workshop.trace.open", lang).format(stage=where)
            else:
                text = label("workshop.trace.lost", lang).format(
                    stage=where, reason=label(outcome, lang)
                )
            steps.append((ended if math.isfinite(ended) else end, 0, stage, text))
            continue
        who = label(str(r["pool"]), lang)
        if math.isfinite(started):
            days = started - queued
            if days > 1e-9:
                steps.append(
                    (queued, 2, stage, label("workshop.trace.wait", lang).format(pool=who))
                )
                text = label("workshop.trace.start_after", lang).format(
                    pool=who, days=short_number(days, lang)
                )
            else:
                text = label("workshop.trace.start", lang).format(pool=who)
            steps.append((started, 3, stage, text))
        elif math.isfinite(ended):
            steps.append((queued, 2, stage, label("workshop.trace.wait", lang).format(pool=who)))
            text = label("workshop.trace.gave_up", lang).format(
                pool=who, days=short_number(ended - queued, lang)
            )
            steps.append((ended, 3, stage, text))
        else:
            text = label("workshop.trace.still_waiting", lang).format(pool=who)
            steps.append((queued, 2, stage, text))
    steps.sort(key=lambda s: (s[0], s[1]))
    return pd.DataFrame(
        {
            "day": [round(s[0], 1) for s in steps],
            "stage": [s[2] for s in steps],
            "event": [s[3] for s in steps],
        }
    )


@dataclass(frozen=True)
class DealPick:
    """A deal worth following: the same customer in the baseline and in the run."""

    deal_id: int
    text: str


def _outcome_word(deal: pd.Series, lang: str) -> str:
    outcome = str(deal["outcome"])
    if outcome == "lost":
        return label("workshop.outcome.lost", lang).format(
            reason=label(str(deal["exit_reason"]), lang)
        )
    return label(f"workshop.outcome.{outcome}", lang)


def interesting_deals(
    base: Result, result: Result, limit: int = 8, lang: str = "en"
) -> list[DealPick]:
    """A handful of deals of replication 0 to follow, most telling first: won in the
    baseline but lost in the run (largest first), then the reverse, then deals that went
    cold, lost at the tender, and won in both."""
    columns = ["deal_id", "grade", "value", "outcome", "exit_reason", "last_stage"]
    b = base.deals[base.deals["replication"] == 0][columns]
    r = result.deals[result.deals["replication"] == 0][columns]
    both = b.merge(r, on="deal_id", suffixes=("_b", "_r"))
    outcome_b, outcome_r = both["outcome_b"].astype(str), both["outcome_r"].astype(str)
    reason_r = both["exit_reason_r"].astype(str)
    groups = [
        (outcome_b == "won") & (outcome_r == "lost"),
        (outcome_b == "lost") & (outcome_r == "won"),
        reason_r == "went_cold",
        (outcome_r == "lost") & (reason_r == "bid_lost"),
        (outcome_b == "won") & (outcome_r == "won"),
    ]
    quotas = (3, 2, 2, 1, 1)
    picked: list[int] = []
    for rows, quota in zip(groups, quotas, strict=True):
        chosen = both[rows & ~both["deal_id"].isin(picked)].nlargest(quota, "value_r")
        picked += [int(d) for d in chosen["deal_id"]]
    out = []
    by_id: dict[Any, dict[Any, Any]] = both.set_index("deal_id").loc[picked].to_dict("index")
    for deal_id in picked[:limit]:
        row = by_id[deal_id]
        b_row = pd.Series({k: row[f"{k}_b"] for k in ("outcome", "exit_reason")})
        r_row = pd.Series({k: row[f"{k}_r"] for k in ("outcome", "exit_reason")})
        text = label("workshop.deal_option", lang).format(
            deal=deal_id,
            grade=label(str(row["grade_r"]), lang),
            value=short_number(float(row["value_r"]), lang),
            base=_outcome_word(b_row, lang),
            run=_outcome_word(r_row, lang),
        )
        out.append(DealPick(deal_id, text))
    return out


# -- the workshop --------------------------------------------------------------------------------


def _table_html(table: pd.DataFrame) -> str:
    """A plain HTML table with inline styles: the widget shows HTML as given, without the
    notebook's stylesheet for tables."""
    cell = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd;vertical-align:top"
    head = "".join(f'<th style="{cell}">{html.escape(str(c))}</th>' for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{html.escape(str(v))}</td>' for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return (
        f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def png(fig: Figure, dpi: float = 80.0) -> bytes:
    """The figure as PNG bytes (what an ``Image`` widget shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _options(defaults: Sequence[Any], value: Any) -> tuple[Any, ...]:
    """The offered values, with the scenario's own added in order if it is not offered."""
    if value in defaults:
        return tuple(defaults)
    known = [v for v in defaults if v is not None]
    ordered = sorted([*known, value])
    return (None, *ordered) if None in defaults else tuple(ordered)


def _headcount_range(base: int) -> tuple[int, int]:
    return max(1, base // 2), base + max(3, base // 2)


@dataclass
class _Widgets:
    """Every control, button and display of the app (built once, by :class:`Workshop`)."""

    headcount: dict[str, widgets.IntSlider]
    engagement: widgets.Dropdown
    executive_wait: widgets.ToggleButtons
    qualification: widgets.Dropdown
    bid_margin: widgets.Dropdown
    wip_cap: widgets.Dropdown
    name: widgets.Text
    run: widgets.Button
    new_market: widgets.Button
    seed: widgets.HTML
    headline: widgets.HTML
    status: widgets.HTML
    month: widgets.IntSlider
    play: widgets.Play
    pool: widgets.Dropdown
    deal: widgets.Dropdown
    trace: widgets.HTML
    log: widgets.HTML
    images: dict[str, widgets.Image]
    tabs: widgets.Tab
    results: widgets.Box
    hidden: widgets.HTML
    hide: widgets.Checkbox
    reveal: widgets.Button
    presets: dict[str, widgets.Button]
    prompt: widgets.HTML
    reset: widgets.Button
    export_folder: widgets.Text
    export: widgets.Button
    app: widgets.Box = field(init=False)


class ResultCache:
    """Simulated runs, least recently used dropped first, by (scenario, replications,
    settings, seed). Every lever is discrete, so a room keeps coming back to the same
    settings; one cache may serve several workshops (an English and a Chinese screen) and
    never mixes their scenarios."""

    def __init__(self, size: int = 48) -> None:
        self.size = size
        self._runs: OrderedDict[tuple[str, int, Settings, int], Result] = OrderedDict()

    def get(self, key: tuple[str, int, Settings, int]) -> Result | None:
        found = self._runs.get(key)
        if found is not None:
            self._runs.move_to_end(key)
        return found

    def put(self, key: tuple[str, int, Settings, int], result: Result) -> None:
        self._runs[key] = result
        self._runs.move_to_end(key)
        while len(self._runs) > self.size:
            self._runs.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._runs

    def __len__(self) -> int:
        return len(self._runs)


class Workshop:
    """The workshop on one scenario: the plain methods below do the work, and the widgets
    (``w``, shown by :attr:`app`) call them.

    ``reps`` replications of ``horizon_months`` months per run (the scenario's warm-up is
    kept) keep a redraw within a few seconds on a laptop; ``seed`` is the first market;
    ``cache`` keeps the runs (a new :class:`ResultCache` unless one is shared).
    """

    def __init__(
        self,
        scenario: Scenario,
        reps: int = 4,
        horizon_months: int | None = 36,
        seed: int = 1,
        lang: str = "en",
        cache: ResultCache | None = None,
        export_folder: str | Path = "workshop-export",
        dpi: float = 80.0,
    ) -> None:
        if lang not in LANGS:
            raise ValueError(f"lang: {lang!r} is not a display language; use one of {LANGS}")
        if horizon_months is not None and horizon_months != scenario.calendar.horizon_months:
            warmup = scenario.calendar.warmup_months
            if horizon_months <= warmup:
                raise ValueError(
                    f"horizon_months: {horizon_months} must exceed the warm-up ({warmup})"
                )
            scenario = scenario.with_overrides({"calendar.horizon_months": horizon_months})
        self.scenario = scenario
        self.reps = reps
        self.lang = lang
        self.dpi = dpi
        self.first_seed = seed
        self.seed = seed
        self.base = Settings.of(scenario)
        self.cache = ResultCache() if cache is None else cache
        self._digest = scenario_hash(scenario)
        self.simulations = 0
        """Simulations run (cache misses): a cache hit or a scrub adds none."""
        self.callbacks = 0
        """Widget callbacks handled: building and displaying the app fires none."""
        self.runs: list[Run] = []
        self.current: Run
        self.shown: dict[str, Figure] = {}
        """The figure last drawn into each view's image."""
        self.last_seconds = 0.0
        """Seconds the last callback took, simulation and drawing included."""
        self._stale: set[str] = set(VIEWS)
        self._queues: QueuesView | None = None
        self._views: OrderedDict[tuple[Settings, int, str], QueuesView] = OrderedDict()
        """Queues charts already laid out, so going back to a run redraws at once."""
        self._quiet = False
        self._started = time.perf_counter()
        self.w = self._build(export_folder)
        self._log_baseline()
        self._show_current()

    # -- plain methods: what the buttons do ---------------------------------------------------

    def result(self, settings: Settings, seed: int | None = None) -> Result:
        """The run of ``settings`` in market ``seed`` (default: the current one): from the
        cache, or simulated and cached (least recently used dropped first)."""
        key = self._key(settings, seed)
        found = self.cache.get(key)
        if found is None:
            scenario = self.scenario.with_overrides(settings.overrides())
            found = simulate_run(scenario, reps=self.reps, seed=key[-1])
            self.simulations += 1
            self.cache.put(key, found)
        return found

    def cached(self, settings: Settings, seed: int | None = None) -> bool:
        """Whether ``settings`` in market ``seed`` would come from the cache."""
        return self._key(settings, seed) in self.cache

    def _key(self, settings: Settings, seed: int | None) -> tuple[str, int, Settings, int]:
        return (self._digest, self.reps, settings, self.seed if seed is None else seed)

    def run(self, settings: Settings, name: str = "") -> Run:
        """Run ``settings`` in the current market, log it and make it the current run."""
        started = time.perf_counter()
        hit = self.cached(settings)
        result = self.result(settings)
        seconds = time.perf_counter() - started
        if not name.strip():
            changes = settings.changes(self.base, self.lang)
            name = ", ".join(changes) if changes else label("workshop.baseline", self.lang)
        record = Run(len(self.runs), name.strip(), settings, self.seed, result, seconds, hit)
        self.runs.append(record)
        self.current = record
        self._stale = set(VIEWS)
        return record

    @property
    def baseline(self) -> Result:
        """The baseline in the current market (the grey ghost)."""
        return self.result(self.base)

    def _log_baseline(self) -> Run:
        return self.run(self.base, label("workshop.baseline", self.lang))

    def new_market(self) -> Run:
        """The next seed: other customers and luck. The baseline is run (and logged) in the
        new market, then the current run's levers again, so the room sees whether its effect
        holds."""
        settings, name = self.current.settings, self.current.name
        self.seed += 1
        base = self._log_baseline()
        if settings == self.base:
            return base
        again = label("workshop.new_market_name", self.lang).format(name=name, seed=self.seed)
        return self.run(settings, again)

    def preset(self, key: str) -> Settings:
        """Put the levers where act ``key`` wants them and name the run after the act; the
        room predicts before the facilitator presses Run."""
        act = next((a for a in ACTS if a.key == key), None)
        if act is None:
            raise ValueError(f"key: {key!r} is not an act; the acts are {[a.key for a in ACTS]}")
        settings = act.settings(self.base)
        with self._quietly():
            self.set_controls(settings)
            self.w.name.value = label(act.title, self.lang)
            self.w.tabs.selected_index = VIEWS.index(act.view)
        if act.view in self._stale:
            self._draw(act.view)
        title = html.escape(label(act.title, self.lang))
        self.w.prompt.value = f"<b>{title}</b><br>{html.escape(self.prompt(act))}"
        return settings

    def prompt(self, act: Act) -> str:
        """The act's question to the room, with this scenario's numbers filled in."""
        settings, lang = act.settings(self.base), self.lang
        engagement = self.base.executive_engagement
        return label(f"{act.title}.prompt", lang).format(
            base_presales=self.base.presales,
            presales=settings.presales,
            base_engagement=_setting_value("executive_engagement", engagement, lang),
            wip_cap=_setting_value("wip_cap", settings.wip_cap, lang),
            win_rate=_value_text("share", float(_kpi_means(self.baseline)["win_rate"]), lang),
        )

    def reset(self) -> None:
        """Back to the start: the first market, the baseline's levers, an empty log (the
        baseline only). Cached results stay, so this is instant."""
        self.seed = self.first_seed
        self.runs = []
        with self._quietly():
            self.set_controls(self.base)
            self.w.name.value = ""
            self.w.hide.value = False
            self.w.tabs.selected_index = 0
        self.w.prompt.value = ""
        self._log_baseline()
        self._show_current()

    def log(self) -> pd.DataFrame:
        """Every run, in order: its number, name, market, levers, and each KPI of
        :data:`LOG_KPIS` (mean over replications) with its difference from the baseline of
        the same market; ``rank`` orders the runs by the difference in contribution."""
        rows = []
        for record in self.runs:
            base = _kpi_means(self.result(self.base, record.seed))
            means = record.kpis
            row: dict[str, Any] = {"run": record.number, "name": record.name, "seed": record.seed}
            row.update({f.name: getattr(record.settings, f.name) for f in fields(Settings)})
            for kpi in LOG_KPIS:
                row[kpi] = float(means[kpi])
                row[f"{kpi}_delta"] = float(means[kpi] - base[kpi])
            rows.append(row)
        table = pd.DataFrame(rows)
        if len(table):
            table["rank"] = (
                table[f"{RANK_KPI}_delta"].rank(ascending=False, method="min").astype("Int64")
            )
        return table

    def grid(self, pool: str, seed: int | None = None) -> list[tuple[int, Result]]:
        """The staffing grid of ``pool`` at the baseline's policy in market ``seed`` (default:
        the current one): up to seven headcounts from half the baseline's to two above it."""
        base = getattr(self.base, pool)
        low, high = _headcount_range(base)
        counts = sorted({round(n) for n in np.linspace(low, min(high, base + 2), 7)})
        return [(n, self.result(replace(self.base, **{pool: n}), seed)) for n in counts]

    def engagement_grid(self, seed: int | None = None) -> list[tuple[str, Result]]:
        """Executives engaging at each stage (or never), at the baseline's staffing."""
        return [
            (stage, self.result(replace(self.base, executive_engagement=stage), seed))
            for stage in ENGAGEMENTS
        ]

    def precompute(self, pools: Sequence[str] = ("presales",)) -> int:
        """Fill the cache before the session: every act, the staffing grid of ``pools`` and
        the engagement grid in the current market. Returns the simulations it ran."""
        before = self.simulations
        for act in ACTS:
            self.result(act.settings(self.base))
        for pool in pools:
            self.grid(pool)
        self.engagement_grid()
        return self.simulations - before

    def figures(
        self,
        views: Sequence[str] = VIEWS,
        run: Run | None = None,
        month: int | None = None,
        pool: str | None = None,
        deal_id: int | None = None,
    ) -> dict[str, Figure]:
        """The chart of each view for ``run`` (default: the current run) against the
        baseline of its market: ``month`` places the queues' cursor (default: the
        slider's), ``pool`` picks the hockey stick's pool and ``deal_id`` the journey's deal
        (default: the dropdowns')."""
        run = run or self.current
        base = self.result(self.base, run.seed)
        lang = self.lang
        out: dict[str, Figure] = {}
        same_market = [
            (str(r.number), r.result)
            for r in self.runs
            if r.seed == run.seed and r.settings != self.base
        ]
        for view in views:
            if view == "queues":
                at = self.w.month.value if month is None else month
                out[view] = queues_figure(run.result, base, at, run.name, lang)
            elif view == "hockey":
                chosen = pool or str(self.w.pool.value)
                out[view] = hockey_figure(
                    chosen,
                    self.grid(chosen, run.seed),
                    base,
                    same_market,
                    (run.name, run.result),
                    lang,
                )
            elif view == "lost":
                out[view] = lost_figure(run.result, base, run.name, lang)
            elif view == "executive":
                out[view] = executive_figure(
                    base,
                    self.engagement_grid(run.seed),
                    same_market,
                    (run.name, run.result),
                    lang,
                )
            elif view == "journey":
                deal = self.w.deal.value if deal_id is None else deal_id
                out[view] = self._journey(run, base, int(deal))
            else:
                raise ValueError(f"views: {view!r} is not a view; the views are {VIEWS}")
        return out

    def _journey(self, run: Run, base: Result, deal_id: int) -> Figure:
        names = [label("workshop.baseline", self.lang), run.name]
        if run.settings == self.base:
            return journey(base, deal_id, 0, names=names[:1], lang=self.lang)
        return journey(base, deal_id, 0, other=run.result, names=names, lang=self.lang)

    def traces(self, deal_id: int, run: Run | None = None) -> dict[str, pd.DataFrame]:
        """The step-by-step trace of one deal in the baseline and in ``run`` (the current
        one by default): the same customer under two policies."""
        run = run or self.current
        base = self.result(self.base, run.seed)
        out = {label("workshop.baseline", self.lang): deal_trace(base, deal_id, 0, self.lang)}
        if run.settings != self.base:
            out[run.name] = deal_trace(run.result, deal_id, 0, self.lang)
        return out

    def export(self, folder: str | Path | None = None) -> list[Path]:
        """Write the log (``log.csv``) and every view of the current run (``<view>.png``)
        to ``folder`` (default: the facilitator panel's); returns the files written."""
        target = Path(self.w.export_folder.value if folder is None else folder)
        target.mkdir(parents=True, exist_ok=True)
        written = [target / "log.csv"]
        self.log().to_csv(written[0], index=False)
        views = [v for v in VIEWS if v != "journey" or self.w.deal.value is not None]
        for view, fig in self.figures(views).items():
            path = target / f"{view}.png"
            fig.savefig(path, dpi=120)
            written.append(path)
        return written

    def settings_from_controls(self) -> Settings:
        """The levers as the controls show them."""
        w = self.w
        return Settings(
            **{pool: int(w.headcount[pool].value) for pool in POOLS},
            executive_engagement=str(w.engagement.value),
            executive_wait=str(w.executive_wait.value),
            qualification=str(w.qualification.value),
            bid_min_margin=self._bid_values[int(w.bid_margin.value)],
            wip_cap=self._cap_values[int(w.wip_cap.value)],
        )

    def set_controls(self, settings: Settings) -> None:
        """Move the controls to ``settings`` (no callback runs: the controls have none)."""
        w = self.w
        for pool in POOLS:
            slider = w.headcount[pool]
            value = getattr(settings, pool)
            slider.max = max(slider.max, value)
            slider.min = min(slider.min, value)
            slider.value = value
        w.engagement.value = settings.executive_engagement
        w.executive_wait.value = settings.executive_wait
        w.qualification.value = settings.qualification
        w.bid_margin.value = self._bid_values.index(settings.bid_min_margin)
        w.wip_cap.value = self._cap_values.index(settings.wip_cap)

    # -- callbacks: thin wrappers over the methods above --------------------------------------

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Programmatic changes of observed widgets, without their callbacks."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _callback(self, work: Callable[[], None]) -> None:
        if self._quiet:
            return
        self.callbacks += 1
        self._started = time.perf_counter()
        work()
        self.last_seconds = time.perf_counter() - self._started

    def _on_run(self, _: Any = None) -> None:
        def work() -> None:
            self.run(self.settings_from_controls(), self.w.name.value)
            self._show_current()

        self._callback(work)

    def _on_new_market(self, _: Any = None) -> None:
        def work() -> None:
            self.new_market()
            self._show_current()

        self._callback(work)

    def _on_preset(self, key: str) -> None:
        def work() -> None:
            self.preset(key)

        self._callback(work)

    def _on_reset(self, _: Any = None) -> None:
        self._callback(self.reset)

    def _on_export(self, _: Any = None) -> None:
        def work() -> None:
            written = self.export()
            self.w.status.value = html.escape(
                label("workshop.exported", self.lang).format(
                    n=len(written), folder=written[0].parent
                )
            )

        self._callback(work)

    def _on_reveal(self, _: Any = None) -> None:
        def work() -> None:
            self.w.hide.value = False
            self._reveal(True)

        self._callback(work)

    def _on_change(self, view: str) -> Callable[[Any], None]:
        def changed(_: Any) -> None:
            self._callback(lambda: self._draw(view))

        return changed

    def _on_month(self, change: Mapping[str, Any]) -> None:
        self._callback(lambda: self.scrub(int(change["new"])))

    def _on_tab(self, _: Any) -> None:
        def work() -> None:
            view = self._visible()
            if view is not None and view in self._stale:
                self._draw(view)

        self._callback(work)

    # -- drawing -----------------------------------------------------------------------------

    def _visible(self) -> str | None:
        index = self.w.tabs.selected_index
        return VIEWS[index] if index is not None and index < len(VIEWS) else None

    def scrub(self, month: int) -> None:
        """Move the time cursor of the queues chart to ``month`` of the current run: nothing
        is simulated, and only the artists that follow the cursor are redrawn."""
        if self._queues is None or "queues" in self._stale:
            self._draw("queues")
        assert self._queues is not None
        self.w.images["queues"].value = self._queues.frame(month, self.dpi)

    def _draw(self, view: str) -> None:
        if view == "journey" and self.w.deal.value is None:  # no deal to follow in this run
            self.w.trace.value = ""
            self._stale.discard(view)
            return
        if view == "queues":
            run = self.current
            base = self.result(self.base, run.seed)
            key = (run.settings, run.seed, run.name)
            self._queues = self._views.pop(key, None) or QueuesView(
                run.result, base, run.name, self.lang
            )
            self._views[key] = self._queues  # the most recent last
            while len(self._views) > VIEW_CACHE:
                self._views.popitem(last=False)
            self.w.images[view].value = self._queues.frame(self.w.month.value, self.dpi)
            self.shown[view] = self._queues.fig
        else:
            fig = self.figures([view])[view]
            self.shown[view] = fig
            self.w.images[view].value = png(fig, self.dpi)
        self._stale.discard(view)
        if view == "journey":
            self.w.trace.value = self._traces_html(int(self.w.deal.value))

    def _show_current(self) -> None:
        """Show the current run: headline, log, controls of the views, and the visible
        chart (the others are drawn when their tab opens)."""
        run, lang = self.current, self.lang
        months = int(run.result.timeseries["month"].max())
        with self._quietly():
            self.set_controls(run.settings)
            self.w.month.max = months
            self.w.play.max = months
            self.w.month.value = months
            base = self.result(self.base, run.seed)
            picks = interesting_deals(base, run.result, lang=lang)
            self.w.deal.options = [(p.text, p.deal_id) for p in picks]
            if picks:
                self.w.deal.value = picks[0].deal_id
        seed = html.escape(label("workshop.seed", lang).format(seed=self.seed))
        self.w.seed.value = f'<b style="font-size:115%;margin-right:12px">{seed}</b>'
        self.w.headline.value = self._headline_html(run)
        self.w.log.value = self._log_html()
        self._stale = set(VIEWS)
        view = self._visible()
        if view is not None:
            self._draw(view)
        self._reveal(not self.w.hide.value)
        how = (
            label("workshop.cached", lang)
            if run.cached
            else label("workshop.simulated", lang).format(reps=self.reps)
        )
        seconds = time.perf_counter() - self._started
        self.w.status.value = html.escape(
            label("workshop.ran", lang).format(
                number=run.number, name=run.name, seconds=f"{seconds:.2f}", how=how
            )
        )

    def _reveal(self, visible: bool) -> None:
        self.w.results.layout.display = None if visible else "none"
        self.w.hidden.layout.display = "none" if visible else None
        self.w.reveal.disabled = visible

    def _headline_html(self, run: Run) -> str:
        lang = self.lang
        base = self.result(self.base, run.seed)
        means, base_means = run.kpis, _kpi_means(base)
        currency = self.scenario.calendar.currency
        cards = []
        for kpi in HEADLINE:
            unit = _kpi_unit(kpi)
            value, delta = float(means[kpi]), float(means[kpi] - base_means[kpi])
            entry = registry.lookup(kpi)
            better = entry.better if entry else None
            good = delta > 0 if better == "higher" else delta < 0
            colour = (
                "#555"
                if better is None or abs(delta) < 1e-12
                else ("#2e7d32" if good else "#c62828")
            )
            shown = _kpi_text(kpi, value, lang) + (f" {currency}" if unit == "currency" else "")
            cards.append(
                '<div style="border:1px solid #ccc;border-radius:6px;padding:4px 12px;'
                'min-width:130px">'
                f'<div style="color:#555">{html.escape(label(kpi, lang))}</div>'
                f'<div style="font-size:170%;font-weight:bold">{html.escape(shown)}</div>'
                f'<div style="color:{colour}">{html.escape(_delta_text(kpi, delta, lang))} '
                f"{html.escape(label('workshop.vs_baseline', lang))}</div></div>"
            )
        why = html.escape(self._why(run.result, base))
        return (
            f'<div style="display:flex;flex-wrap:wrap;gap:10px">{"".join(cards)}</div>'
            f'<div style="margin-top:6px;font-size:110%">{why}</div>'
        )

    def _why(self, result: Result, base: Result) -> str:
        """One line naming the bottleneck: the busiest pool, its wait, and the deals that
        went cold waiting."""
        lang = self.lang
        means, base_means = _kpi_means(result), _kpi_means(base)
        busiest = max(POOLS, key=lambda p: float(np.nan_to_num(means[f"util_{p}"])))

        def days(x: float) -> str:
            text = short_number(x, lang) if math.isfinite(x) else "0"
            return label("workshop.note.days", lang).format(days=text)

        line = label("workshop.why.busiest", lang).format(
            pool=label(busiest, lang),
            util=_value_text("share", float(means[f"util_{busiest}"]), lang),
            base_util=_value_text("share", float(base_means[f"util_{busiest}"]), lang),
            wait=days(float(means[f"wait_{busiest}"])),
            base_wait=days(float(base_means[f"wait_{busiest}"])),
        )
        cold = label("workshop.why.cold", lang).format(
            n=short_number(_went_cold(result), lang), base=short_number(_went_cold(base), lang)
        )
        return line + ("" if lang == "zh" else " ") + cold

    def _log_html(self) -> str:
        table = self.log()
        if table.empty:
            return ""
        lang = self.lang
        shown = pd.DataFrame(
            {
                label("workshop.col.run", lang): table["run"],
                label("workshop.col.name", lang): table["name"],
                label("workshop.col.seed", lang): table["seed"],
                label("workshop.col.rank", lang): table["rank"],
            }
        )
        shown[label("workshop.col.settings", lang)] = [
            "; ".join(record.settings.changes(self.base, lang)) or "-" for record in self.runs
        ]
        for kpi in LOG_KPIS:
            shown[label(kpi, lang)] = [
                f"{_kpi_text(kpi, v, lang)} ({_delta_text(kpi, d, lang)})"
                for v, d in zip(table[kpi], table[f"{kpi}_delta"], strict=True)
            ]
        return _table_html(shown)

    def _traces_html(self, deal_id: int) -> str:
        parts = []
        lang = self.lang
        headers = [label(f"workshop.trace.{c}", lang) for c in ("day", "stage", "event")]
        for name, table in self.traces(deal_id).items():
            shown = table.copy()
            shown["stage"] = [label(s, lang) for s in shown["stage"]]
            shown.columns = pd.Index(headers)
            parts.append(
                f'<div style="flex:1;min-width:360px"><b>{html.escape(name)}</b>'
                f"{_table_html(shown)}</div>"
            )
        return f'<div style="display:flex;gap:16px;flex-wrap:wrap">{"".join(parts)}</div>'

    # -- building the widgets ------------------------------------------------------------------

    def _build(self, export_folder: str | Path) -> _Widgets:
        lang, base = self.lang, self.base
        wide = {"description_width": "170px"}
        row = widgets.Layout(width="380px")
        headcount: dict[str, widgets.IntSlider] = {}
        for pool in POOLS:
            low, high = _headcount_range(getattr(base, pool))
            headcount[pool] = widgets.IntSlider(
                value=getattr(base, pool),
                min=low,
                max=high,
                description=label(pool, lang),
                continuous_update=False,
                style=wide,
                layout=row,
            )
        engagement = widgets.Dropdown(
            options=[(_setting_value("executive_engagement", s, lang), s) for s in ENGAGEMENTS],
            value=base.executive_engagement,
            description=label("workshop.engagement", lang),
            style=wide,
            layout=row,
        )
        executive_wait = widgets.ToggleButtons(
            options=[(label(f"workshop.{k}", lang), k) for k in ("wait", "skip")],
            value=base.executive_wait,
            description=label("workshop.executive_wait", lang),
            style={**wide, "button_width": "90px"},
            layout=row,
        )
        qualifications = list(QUALIFICATIONS)
        if base.qualification == "scenario":
            qualifications.insert(0, "scenario")
        qualification = widgets.Dropdown(
            options=[(_setting_value("qualification", q, lang), q) for q in qualifications],
            value=base.qualification,
            description=label("workshop.qualification", lang),
            style=wide,
            layout=row,
        )
        self._bid_values = _options(BID_MARGINS, base.bid_min_margin)
        bid_margin = widgets.Dropdown(
            options=[
                (_setting_value("bid_min_margin", v, lang), i)
                for i, v in enumerate(self._bid_values)
            ],
            value=self._bid_values.index(base.bid_min_margin),
            description=label("workshop.bid_margin", lang),
            style=wide,
            layout=row,
        )
        self._cap_values = _options(WIP_CAPS, base.wip_cap)
        wip_cap = widgets.Dropdown(
            options=[
                (_setting_value("wip_cap", v, lang), i) for i, v in enumerate(self._cap_values)
            ],
            value=self._cap_values.index(base.wip_cap),
            description=label("workshop.wip_cap", lang),
            style=wide,
            layout=row,
        )
        name = widgets.Text(
            description=label("workshop.name", lang),
            placeholder=label("workshop.name_hint", lang),
            style=wide,
            layout=row,
        )
        run = widgets.Button(
            description=label("workshop.run", lang),
            button_style="primary",
            icon="play",
            layout=widgets.Layout(width="180px", height="40px"),
        )
        new_market = widgets.Button(description=label("workshop.new_market", lang), icon="refresh")
        months = self.scenario.calendar.horizon_months - 1
        month = widgets.IntSlider(
            value=months,
            min=0,
            max=months,
            description=label("workshop.month", lang),
            continuous_update=True,
            layout=widgets.Layout(width="520px"),
        )
        play = widgets.Play(value=months, min=0, max=months, step=1, interval=400)
        widgets.jslink((play, "value"), (month, "value"))
        pool = widgets.Dropdown(
            options=[(label(p, lang), p) for p in POOLS],
            value="presales",
            description=label("workshop.pool", lang),
        )
        deal = widgets.Dropdown(
            options=[], description=label("workshop.deal", lang), layout=widgets.Layout(width="95%")
        )
        image_layout = widgets.Layout(width="100%", max_width="1200px")
        images = {v: widgets.Image(format="png", layout=image_layout) for v in VIEWS}
        trace = widgets.HTML()
        log = widgets.HTML()
        pages = [
            widgets.VBox([widgets.HBox([play, month]), images["queues"]]),
            widgets.VBox([pool, images["hockey"]]),
            images["lost"],
            images["executive"],
            widgets.VBox([deal, trace, images["journey"]]),
            log,
        ]
        tabs = widgets.Tab(children=pages)
        for i, key in enumerate([*VIEWS, "log"]):
            tabs.set_title(i, label(f"workshop.tab.{key}", lang))
        tabs.selected_index = 0
        headline = widgets.HTML()
        status = widgets.HTML()
        seed = widgets.HTML()
        results = widgets.VBox([headline, tabs])
        hidden = widgets.HTML(
            f'<div style="font-size:140%;padding:24px">'
            f"{html.escape(label('workshop.hidden', lang))}</div>"
        )
        hide = widgets.Checkbox(value=False, description=label("workshop.hide", lang), indent=False)
        reveal = widgets.Button(description=label("workshop.reveal", lang), icon="eye")
        presets = {
            act.key: widgets.Button(
                description=label(act.title, lang), layout=widgets.Layout(width="auto")
            )
            for act in ACTS
        }
        prompt = widgets.HTML()
        reset = widgets.Button(description=label("workshop.reset", lang), icon="undo")
        folder = widgets.Text(
            value=str(export_folder), description=label("workshop.export_folder", lang)
        )
        export = widgets.Button(
            description=label("workshop.export", lang),
            icon="download",
            layout=widgets.Layout(width="auto"),
        )
        w = _Widgets(
            headcount,
            engagement,
            executive_wait,
            qualification,
            bid_margin,
            wip_cap,
            name,
            run,
            new_market,
            seed,
            headline,
            status,
            month,
            play,
            pool,
            deal,
            trace,
            log,
            images,
            tabs,
            results,
            hidden,
            hide,
            reveal,
            presets,
            prompt,
            reset,
            folder,
            export,
        )
        controls = widgets.VBox(
            [
                widgets.HTML(f"<h3>{html.escape(label('workshop.controls', lang))}</h3>"),
                *headcount.values(),
                engagement,
                executive_wait,
                qualification,
                bid_margin,
                wip_cap,
                name,
                run,
                status,
            ],
            layout=widgets.Layout(min_width="400px"),
        )
        facilitator = widgets.VBox(
            [
                widgets.HBox(list(presets.values()), layout=widgets.Layout(flex_flow="row wrap")),
                prompt,
                widgets.HBox([hide, reveal]),
                widgets.HBox([reset, folder, export]),
            ]
        )
        panel = widgets.Accordion(children=[facilitator])
        panel.set_title(0, label("workshop.facilitator", lang))
        header = widgets.HBox([seed, new_market], layout=widgets.Layout(align_items="center"))
        body = widgets.HBox([controls, widgets.VBox([hidden, results])])
        w.app = widgets.VBox([header, panel, body])
        # Observers last: setting up the widgets above fires no callback.
        run.on_click(self._on_run)
        new_market.on_click(self._on_new_market)
        reset.on_click(self._on_reset)
        export.on_click(self._on_export)
        reveal.on_click(self._on_reveal)
        for key, button in presets.items():
            button.on_click(lambda _, key=key: self._on_preset(key))
        month.observe(self._on_month, "value")
        pool.observe(self._on_change("hockey"), "value")
        deal.observe(self._on_change("journey"), "value")
        tabs.observe(self._on_tab, "selected_index")
        return w

    @property
    def app(self) -> widgets.Box:
        """The whole app, to display in a notebook or serve with Voilà."""
        return self.w.app

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.w.app._repr_mimebundle_(**kwargs)


def build_workshop(scenario: Scenario | str | Path = "baseline", **options: Any) -> Workshop:
    """The workshop on ``scenario`` (a scenario, a file or a bundled name), ready to
    display; ``options`` go to :class:`Workshop` (``reps``, ``horizon_months``, ``seed``,
    ``lang``, ...)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    return Workshop(scenario, **options)
