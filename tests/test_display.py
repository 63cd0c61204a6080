"""Results and experiments read well: a short repr, a KPI summary, and HTML in notebooks."""

from __future__ import annotations

import pandas as pd
import pytest
from constants import BASELINE

import kamsim
from kamsim.analysis import describe, format_kpi
from kamsim.experiment import experiment

SHORT = {"calendar.horizon_months": 12, "calendar.warmup_months": 3}


@pytest.fixture(scope="module")
def short() -> kamsim.Scenario:
    return kamsim.load_scenario(BASELINE, SHORT)


def test_a_result_summarises_its_kpis_readably(short: kamsim.Scenario) -> None:
    result = kamsim.run(short, reps=3, seed=2)
    summary = result.summary()
    pd.testing.assert_frame_equal(pd.DataFrame(summary), pd.DataFrame(describe(result.kpis)))
    text = repr(result)
    assert text.startswith("<Result 'baseline': 3 replication(s), seed 2;")
    assert f"deals {len(result.deals):,}" in text
    assert len(text) < 300  # not the tables themselves
    bookings = float(summary.set_index("kpi").loc["bookings", "mean"])
    page = result._repr_html_()
    assert "<table" in page and format_kpi("bookings", bookings) in page
    assert format_kpi("bookings", bookings) in repr(summary)


def test_an_experiment_summarises_every_variant(short: kamsim.Scenario) -> None:
    exp = experiment(
        {"base": {}, "hire": {"resources.presales.headcount": 10}},
        reps=3,
        seed=2,
        base=short,
        workers=1,
        progress=False,
    )
    summary = exp.summary()
    assert list(summary["variant"].unique()) == ["base", "hire"]
    for label in ("base", "hire"):
        mine = pd.DataFrame(summary[summary["variant"] == label]).drop(columns="variant")
        pd.testing.assert_frame_equal(
            mine.reset_index(drop=True), pd.DataFrame(describe(exp.table_of("kpis", label)))
        )
    assert repr(exp) == "<Experiment base, hire: 3 replication(s) each, seed 2>"
    hire = float(
        summary[(summary["variant"] == "hire") & (summary["kpi"] == "bookings")]["mean"].iloc[0]
    )
    assert format_kpi("bookings", hire) in exp._repr_html_()
