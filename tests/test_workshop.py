"""The training workshop, driven as the room drives it: set the controls, click the buttons,
then read the scenario log and the numbers inside the charts' artists.

Oracles come from the run's own tables (``deals``, ``timeseries``, ``kpis``) or from an
independent ``kamsim.run`` of the same settings and seed, never from the workshop's helpers.
Runs are short (2 replications of 24 months) so the file stays well under a minute; the
notebook test runs the room's defaults.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from constants import BASELINE, POOLS, ROOT, STAGES
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from nbclient import NotebookClient

import kamsim
from kamsim import labels
from kamsim import workshop as ws_module
from kamsim.labels import label
from kamsim.workshop import (
    ACTS,
    LOG_KPIS,
    VIEWS,
    ResultCache,
    Settings,
    Workshop,
    build_workshop,
)

REPS, MONTHS, SEED = 2, 24, 7
NOTEBOOK = ROOT / "notebooks" / "04_workshop_pipeline_dynamics.ipynb"
PNG = b"\x89PNG\r\n\x1a\n"


def _has_cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK") for c in text)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every simulation the workshop asks for, as (presales headcount, seed)."""
    seen: list[tuple[int, int]] = []
    real = ws_module.simulate_run

    def counting(scenario: kamsim.Scenario, reps: int, seed: int) -> kamsim.Result:
        seen.append((scenario.resources["presales"].headcount, seed))
        return real(scenario, reps=reps, seed=seed)

    monkeypatch.setattr(ws_module, "simulate_run", counting)
    return seen


@pytest.fixture(scope="module")
def shared() -> ResultCache:
    """Runs shared by this file's workshops, so each setting is simulated once."""
    return ResultCache(size=256)


@pytest.fixture(scope="module")
def room(shared: ResultCache) -> Workshop:
    """One workshop for the tests below, as a facilitator keeps one for a session."""
    return build_workshop(BASELINE, reps=REPS, horizon_months=MONTHS, seed=SEED, cache=shared)


@pytest.fixture
def ws(room: Workshop, calls: list[tuple[int, int]], tmp_path: Path) -> Workshop:
    """The session's workshop after Reset: the first market, the baseline's levers, a log
    with the baseline only (what Reset promises, tested below)."""
    room.reset()
    room.w.export_folder.value = str(tmp_path / "out")
    return room


@pytest.fixture
def fresh(calls: list[tuple[int, int]]) -> Workshop:
    """A workshop with a cache of its own: every simulation it needs is counted."""
    return build_workshop(BASELINE, reps=REPS, horizon_months=MONTHS, seed=SEED)


def independent(settings: Settings, seed: int = SEED) -> kamsim.Result:
    """The same settings run directly, outside the workshop."""
    scenario = kamsim.load_scenario(BASELINE).with_overrides(
        {"calendar.horizon_months": MONTHS, **settings.overrides()}
    )
    return kamsim.run(scenario, reps=REPS, seed=seed)


def artists(fig: Figure, gid: str) -> list[Any]:
    found: list[Any] = fig.findobj(lambda a: isinstance(a, Artist) and a.get_gid() == gid)
    return found


def one(fig: Figure, gid: str) -> Any:
    found = artists(fig, gid)
    assert len(found) == 1, (gid, found)
    return found[0]


def show(ws: Workshop, view: str) -> Figure:
    """Open a view's tab, as the facilitator does, and return the figure drawn into it."""
    ws.w.tabs.selected_index = VIEWS.index(view)
    return ws.shown[view]


def wip_at(result: kamsim.Result, stage: str, month: int) -> float:
    ts = result.timeseries
    return float(ts[ts["month"] == month][f"wip_{stage}"].mean())


# -- building and displaying ------------------------------------------------------------------


def test_building_fires_no_callback_and_shows_the_baseline(
    fresh: Workshop, calls: list[tuple[int, int]]
) -> None:
    ws = fresh
    assert ws.callbacks == 0
    assert calls == [(8, SEED)]  # the baseline, once
    log = ws.log()
    assert list(log["name"]) == ["Baseline"]
    assert all(log[f"{kpi}_delta"].iloc[0] == 0 for kpi in LOG_KPIS)
    assert bytes(ws.w.images["queues"].value).startswith(PNG)
    assert f"seed) {SEED}" in ws.w.seed.value
    assert ws.settings_from_controls() == ws.base == Settings.of(ws.scenario)
    bundle = ws._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_the_baselines_settings_put_back_the_baseline() -> None:
    scenario = kamsim.load_scenario(BASELINE)
    settings = Settings.of(scenario)
    assert (settings.presales, settings.executives, settings.executive_engagement) == (
        8,
        2,
        "negotiation",
    )
    again = scenario.with_overrides(settings.overrides())
    assert again.model_dump() == scenario.model_dump()


def test_only_the_workshop_imports_ipywidgets_and_nothing_imports_the_workshop() -> None:
    """So ``import kamsim`` (lazy, see test_lean) and every other module work without the
    notebooks extra."""
    found: dict[str, set[str]] = {"ipywidgets": set(), "kamsim.workshop": set()}
    for path in (ROOT / "src" / "kamsim").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module, *(f"{module}.{a.name}" for a in node.names)]
            for name in names:
                for watched, importers in found.items():
                    if name == watched or name.startswith(f"{watched}."):
                        importers.add(path.name)
    assert found == {"ipywidgets": {"workshop.py"}, "kamsim.workshop": set()}
    code = "import kamsim, sys\nprint('ipywidgets' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# -- the run button, the log and its deltas -----------------------------------------------------


def test_the_run_button_logs_the_controls_with_deltas_against_the_baseline(
    ws: Workshop,
) -> None:
    callbacks = ws.callbacks
    ws.w.headcount["presales"].value = 5
    ws.w.engagement.value = "proposal"
    ws.w.name.value = "Table 3: fewer presales, executives early"
    ws.w.run.click()
    settings = replace(ws.base, presales=5, executive_engagement="proposal")
    assert ws.current.settings == settings
    row = ws.log().iloc[-1]
    assert (row["run"], row["name"], row["seed"]) == (1, ws.w.name.value, SEED)
    assert (row["presales"], row["executive_engagement"]) == (5, "proposal")
    run, base = independent(settings).kpis, independent(ws.base).kpis
    for kpi in LOG_KPIS:
        assert row[kpi] == pytest.approx(run[kpi].mean(), rel=1e-12, nan_ok=True)
        assert row[f"{kpi}_delta"] == pytest.approx(
            run[kpi].mean() - base[kpi].mean(), rel=1e-9, abs=1e-9, nan_ok=True
        )
    assert "simulated" in ws.w.status.value
    assert "Table 3" in ws.w.log.value
    assert ws.callbacks == callbacks + 1  # setting the controls fires nothing
    ws.set_controls(ws.base)
    ws.w.wip_cap.value = ws._cap_values.index(15)
    ws.w.name.value = ""
    ws.w.run.click()  # no name: named by what changed
    assert ws.current.name == f"{label('workshop.wip_cap')} 15"
    assert ws.current.settings == replace(ws.base, wip_cap=15)
    log = ws.log().sort_values("contribution_delta", ascending=False)
    assert list(log["rank"]) == [1, 2, 3]  # ranked by the contribution gained


def test_a_cached_setting_is_instant_and_not_simulated_again(
    fresh: Workshop, calls: list[tuple[int, int]]
) -> None:
    ws = fresh
    for presales in (6, 9, 6):
        ws.w.headcount["presales"].value = presales
        ws.w.run.click()
    assert calls == [(8, SEED), (6, SEED), (9, SEED)]
    again = ws.current
    assert again.cached and again.seconds < 0.05
    assert ws.runs[1].result is again.result
    assert "from the cache" in ws.w.status.value
    assert list(ws.log()["presales"]) == [8, 6, 9, 6]


# -- presets, reset, hide and reveal -------------------------------------------------------------


def test_each_preset_sets_its_acts_levers_and_question_and_runs_nothing(ws: Workshop) -> None:
    for act in ACTS:
        runs = len(ws.runs)
        ws.w.presets[act.key].click()
        assert ws.settings_from_controls() == act.settings(ws.base)
        assert ws.w.name.value == label(act.title)
        assert ws.w.tabs.selected_index == VIEWS.index(act.view)
        assert label(act.title) in ws.w.prompt.value and "{" not in ws.w.prompt.value
        assert len(ws.runs) == runs  # the room predicts before anything runs
        ws.w.run.click()
        assert ws.current.name == label(act.title)
        assert ws.current.settings == act.settings(ws.base)
        assert ws.shown[act.view] is not None
    assert "from 8 to 5 engineers" in ws.prompt(ACTS[1])
    assert "instead of at Negotiation" in ws.prompt(ACTS[3])
    assert "at most 15 active deals" in ws.prompt(ACTS[4])
    with pytest.raises(ValueError, match="act9"):
        ws.preset("act9")


def test_the_acts_ask_what_the_workshop_shows() -> None:
    base = Settings.of(kamsim.load_scenario(BASELINE))
    by_key = {a.key: a.settings(base) for a in ACTS}
    assert by_key["act1"] == base
    assert by_key["act2"] == by_key["act3"] == replace(base, presales=5)
    assert by_key["act4"] == replace(base, executive_engagement="proposal")
    assert by_key["act5"] == replace(base, wip_cap=15)


def test_reset_goes_back_to_the_first_market_and_the_baseline_at_once(
    ws: Workshop, calls: list[tuple[int, int]]
) -> None:
    ws.w.presets["act2"].click()
    ws.w.run.click()
    ws.w.new_market.click()
    simulated = len(calls)
    ws.w.reset.click()
    assert len(calls) == simulated  # the first market's baseline is cached
    assert ws.seed == SEED
    assert list(ws.log()["name"]) == ["Baseline"]
    assert ws.settings_from_controls() == ws.base
    assert (ws.w.name.value, ws.w.prompt.value, ws.w.tabs.selected_index) == ("", "", 0)


def test_predict_first_hides_the_results_until_revealed(ws: Workshop) -> None:
    ws.w.hide.value = True
    ws.w.headcount["presales"].value = 6
    ws.w.run.click()
    assert ws.w.results.layout.display == "none"
    assert ws.w.hidden.layout.display is None and not ws.w.reveal.disabled
    ws.w.reveal.click()
    assert ws.w.results.layout.display is None
    assert ws.w.hidden.layout.display == "none" and ws.w.reveal.disabled


# -- queues building: the time cursor ------------------------------------------------------------


def test_scrubbing_moves_the_cursor_over_the_computed_run_without_simulating(
    ws: Workshop, calls: list[tuple[int, int]]
) -> None:
    ws.w.headcount["presales"].value = 5
    ws.w.run.click()
    callbacks, simulated, run = ws.callbacks, len(calls), ws.current.result
    base = ws.baseline
    shown = bytes(ws.w.images["queues"].value)
    for month in (3, 14, 0, MONTHS - 1):
        ws.w.month.value = month
        fig = ws.shown["queues"]
        for stage in STAGES:
            assert list(one(fig, f"cursor:{stage}").get_xdata()) == [month, month]
            board = one(fig, f"board:{stage}").get_width()
            assert board == pytest.approx(wip_at(run, stage, month))
            ghost = one(fig, f"board_ghost:{stage}").get_width()
            assert ghost == pytest.approx(wip_at(base, stage, month))
            drawn = one(fig, f"queue:{stage}").get_xdata()
            assert list(drawn) == list(range(month + 1))
        assert bytes(ws.w.images["queues"].value).startswith(PNG)
        assert bytes(ws.w.images["queues"].value) != shown
        shown = bytes(ws.w.images["queues"].value)
    assert len(calls) == simulated
    assert ws.callbacks == callbacks + 4


def test_the_stage_queues_add_up_to_the_pools_queues() -> None:
    """Waits per stage (from the events) and per pool (the engine's monitors) are two views
    of the same deals waiting: they have the same total in every month."""
    scenario = kamsim.load_scenario(BASELINE).with_overrides(
        {"calendar.horizon_months": MONTHS, "resources.presales.headcount": 5}
    )
    result = kamsim.run(scenario, reps=REPS, seed=SEED)
    by_stage = ws_module.queue_by_stage(result).sum(axis=1)
    ts = result.timeseries
    by_pool = ts.groupby("month")[[f"queue_{p}" for p in POOLS]].mean().sum(axis=1)
    assert by_pool.max() > 5  # presales short: a real queue
    np.testing.assert_allclose(by_stage.to_numpy(), by_pool.to_numpy(), rtol=1e-6, atol=1e-6)


# -- the debrief views: the numbers in the artists ---------------------------------------------


def test_deals_lost_are_drawn_by_stage_and_reason_against_the_ghost(ws: Workshop) -> None:
    ws.preset("act2")
    ws.w.run.click()
    fig = show(ws, "lost")
    run, base = ws.current.result, ws.baseline
    warm = run.scenario.calendar.warmup_days
    total = 0.0
    for result, prefix in ((run, "lost"), (base, "lost_ghost")):
        deals = result.deals
        lost = deals[(deals["outcome"] == "lost") & (deals["closed_at"] >= warm)]
        counts = lost.groupby(["last_stage", "exit_reason"], observed=True).size() / REPS
        for stage in STAGES:
            mine = counts[counts.index.get_level_values(0) == stage]
            if prefix == "lost_ghost":
                assert one(fig, f"{prefix}:{stage}").get_width() == pytest.approx(mine.sum())
                continue
            for (_, reason), n in mine.items():
                assert one(fig, f"lost:{stage}:{reason}").get_width() == pytest.approx(n)
                total += float(n)
    assert total == pytest.approx(run.kpis["deals_lost"].mean())
    went_cold = one(fig, "lost:proposal:went_cold").get_width()
    assert went_cold > 0  # presales short: customers go cold waiting for a demo


def test_the_hockey_stick_puts_the_run_on_the_staffing_curve(
    fresh: Workshop, calls: list[tuple[int, int]]
) -> None:
    ws = fresh
    ws.w.headcount["presales"].value = 5
    ws.w.run.click()
    fig = show(ws, "hockey")
    run = ws.current.result
    x, y = one(fig, "current").get_data()
    assert (x[0], y[0]) == pytest.approx(
        (run.kpis["util_presales"].mean(), run.kpis["wait_presales"].mean())
    )
    bx, by = one(fig, "baseline").get_data()
    assert (bx[0], by[0]) == pytest.approx(
        (ws.baseline.kpis["util_presales"].mean(), ws.baseline.kpis["wait_presales"].mean())
    )
    gx, gy = one(fig, "grid").get_data()
    assert list(gx) == sorted(gx) and gy[-1] > 5 * max(gy[0], 0.1)  # flat, then steep
    assert sorted({p for p, _ in calls}) == [4, 5, 6, 7, 8, 9, 10]
    before = len(calls)
    ws.w.pool.value = "executives"
    assert "Executives" in ws.shown["hockey"].get_suptitle()
    assert len(calls) == before + 3  # executives 1, 3 and 4; the baseline's 2 is cached
    ws.w.pool.value = "presales"
    assert len(calls) == before + 3


def test_executive_time_is_drawn_against_the_win_rate(ws: Workshop) -> None:
    ws.preset("act4")
    ws.w.run.click()
    fig = ws.shown["executive"]
    run, base = ws.current.result, ws.baseline
    x, y = one(fig, "current").get_data()
    assert (x[0], y[0]) == pytest.approx(
        (run.kpis["executive_days_per_month"].mean(), run.kpis["win_rate"].mean())
    )
    bx, by = one(fig, "baseline").get_data()
    assert (bx[0], by[0]) == pytest.approx(
        (base.kpis["executive_days_per_month"].mean(), base.kpis["win_rate"].mean())
    )
    assert x[0] > bx[0]  # engaging at the proposal costs executive days
    gx, _ = one(fig, "grid").get_data()
    assert len(gx) == len(ws_module.ENGAGEMENTS) and min(gx) == 0  # "never" costs none


# -- one deal's journey ---------------------------------------------------------------------------


def test_one_deal_under_two_policies_shows_where_and_why_it_is_lost(ws: Workshop) -> None:
    ws.w.presets["act3"].click()
    ws.w.run.click()
    assert ws.w.tabs.selected_index == VIEWS.index("journey")
    deal = int(ws.w.deal.value)
    base, run = ws.baseline.deals, ws.current.result.deals
    row_b = base[(base["replication"] == 0) & (base["deal_id"] == deal)].iloc[0]
    row_r = run[(run["replication"] == 0) & (run["deal_id"] == deal)].iloc[0]
    assert (row_b["outcome"], row_r["outcome"]) == ("won", "lost")  # the most telling first
    traces = ws.traces(deal)
    assert list(traces) == ["Baseline", label("workshop.act3")]
    first = [t.iloc[0] for t in traces.values()]
    assert first[0]["day"] == first[1]["day"] == round(row_b["arrived_at"], 1)  # same customer
    events = " ".join(traces[label("workshop.act3")]["event"])
    assert "waits for Presales engineers" in events
    assert f"lost at {label(str(row_r['last_stage']))}" in events
    assert label(str(row_r["exit_reason"])) in events
    assert "lost at" not in " ".join(traces["Baseline"]["event"])
    fig = ws.shown["journey"]
    assert len(fig.axes) == 2
    assert artists(fig, "stage:development")
    assert "Presales engineers" in ws.w.trace.value
    options = [text for text, _ in ws.w.deal.options]
    assert 3 <= len(options) <= 8 and all("→" in text for text in options)
    other = int(ws.w.deal.options[-1][1])
    ws.w.deal.value = other
    assert f"{other}" in ws.shown["journey"].get_suptitle()


# -- new market, export, languages ----------------------------------------------------------------


def test_a_new_market_changes_the_seed_and_recomputes_the_ghost(
    fresh: Workshop, calls: list[tuple[int, int]]
) -> None:
    ws = fresh
    ws.w.headcount["presales"].value = 6
    ws.w.run.click()
    old = ws_module.queue_by_stage(ws.baseline)
    ws.w.new_market.click()
    assert ws.seed == SEED + 1
    assert calls[-2:] == [(8, SEED + 1), (6, SEED + 1)]
    log = ws.log()
    assert list(log["seed"]) == [SEED, SEED, SEED + 1, SEED + 1]
    assert log["name"].iloc[2] == "Baseline" and log["presales"].iloc[3] == 6
    assert f"seed) {SEED + 1}" in ws.w.seed.value
    new = ws_module.queue_by_stage(independent(ws.base, SEED + 1))
    fig = ws.shown["queues"]
    for stage in STAGES:
        np.testing.assert_allclose(one(fig, f"ghost:{stage}").get_ydata(), new[stage])
    assert not np.allclose(old.to_numpy(), new.to_numpy())
    delta = log["bookings"].iloc[3] - log["bookings"].iloc[2]
    assert log["bookings_delta"].iloc[3] == pytest.approx(delta)


def test_export_writes_the_log_and_every_chart(ws: Workshop, tmp_path: Path) -> None:
    ws.preset("act2")
    ws.w.run.click()
    ws.w.export_folder.value = str(tmp_path / "handout")
    ws.w.export.click()
    written = sorted(p.name for p in (tmp_path / "handout").iterdir())
    assert written == sorted(["log.csv", *(f"{v}.png" for v in VIEWS)])
    log = pd.read_csv(tmp_path / "handout" / "log.csv")
    assert list(log["name"]) == ["Baseline", label("workshop.act2")]
    assert log["presales"].iloc[1] == 5
    for view in VIEWS:
        assert (tmp_path / "handout" / f"{view}.png").read_bytes().startswith(PNG)
    assert "Wrote 6 files" in ws.w.status.value


def test_chinese_labels_everywhere(shared: ResultCache) -> None:
    ws = build_workshop(
        BASELINE, reps=REPS, horizon_months=MONTHS, seed=SEED, lang="zh", cache=shared
    )
    ws.w.presets["act3"].click()
    ws.w.run.click()
    texts = [
        ws.w.run.description,
        ws.w.new_market.description,
        ws.w.presets["act1"].description,
        ws.w.prompt.value,
        ws.w.headline.value,
        ws.w.trace.value,
        ws.w.log.value,
        *(ws.w.tabs.get_title(i) for i in range(len(VIEWS) + 1)),
        *(ws.w.headcount[p].description for p in POOLS),
    ]
    assert all(_has_cjk(t) for t in texts), [t for t in texts if not _has_cjk(t)]
    for view in VIEWS:
        assert _has_cjk(ws.figures([view])[view].get_suptitle()), view
    assert ws.current.name == "第三幕 · 等待为何丢单"


def test_every_workshop_text_has_the_same_fields_in_both_languages() -> None:
    import string

    for key, (en, zh) in labels._WORKSHOP.items():
        fields = [{f for _, f, _, _ in string.Formatter().parse(t) if f} for t in (en, zh)]
        assert fields[0] == fields[1], key
        assert not _has_cjk(en), key
        assert label(key, "zh") == zh


def test_a_language_that_is_not_offered_is_refused() -> None:
    scenario = kamsim.load_scenario(BASELINE)
    with pytest.raises(ValueError, match="lang"):
        Workshop(scenario, lang="fr")


def test_a_shared_cache_never_mixes_scenarios_or_replications(shared: ResultCache) -> None:
    scenario = kamsim.load_scenario(BASELINE)
    one_rep = Workshop(scenario, reps=1, horizon_months=MONTHS, seed=SEED, cache=shared)
    assert one_rep.simulations == 1  # the same settings and seed, but not the same run
    assert len(one_rep.baseline.kpis) == 1
    other = scenario.with_overrides({"arrivals.rate_per_month": 20.0})
    quieter = Workshop(other, reps=REPS, horizon_months=MONTHS, seed=SEED, cache=shared)
    assert quieter.simulations == 1


# -- the notebook ---------------------------------------------------------------------------------


def _notebook() -> Iterator[nbformat.NotebookNode]:
    yield from nbformat.read(NOTEBOOK, as_version=4).cells


def test_the_notebook_is_stored_without_outputs_and_calls_only_the_package() -> None:
    code = [c for c in _notebook() if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    for cell in code:
        tree = ast.parse(cell.source)
        assert not any(
            isinstance(n, ast.FunctionDef | ast.ClassDef | ast.For) for n in ast.walk(tree)
        )
        modules = {
            (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
        assert all(m.startswith("kamsim") for m in modules), modules
    assert "voila notebooks/04_workshop_pipeline_dynamics.ipynb" in (ROOT / "README.md").read_text()


def test_the_notebook_executes_headless_quickly_without_firing_a_callback(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    check = "print(workshop.callbacks, len(workshop.runs), workshop.app.children[0] is not None)"
    notebook.cells.append(nbformat.v4.new_code_cell(check))
    started = time.perf_counter()
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    seconds = time.perf_counter() - started
    assert seconds < 60, seconds
    printed = notebook.cells[-1].outputs[0]["text"].split()
    assert printed == ["0", "1", "True"]  # no callback, the baseline logged, the app built
    shown = [c for c in notebook.cells if c.cell_type == "code" and c.source == "workshop.app"]
    data = shown[0].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data
