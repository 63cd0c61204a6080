"""Common random numbers: two variants of one scenario meet the same customers and luck.

Deal k's inputs are drawn in arrival order from streams keyed by (seed, replication,
purpose), never by the variant. Changing the presales headcount changes who waits and when,
but not which leads arrive or how long deal k's proposal work takes once it starts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from constants import BASELINE

import kamsim

SEED = 17


def _variant(headcount: int) -> kamsim.Result:
    scenario = kamsim.load_scenario(BASELINE, [f"resources.presales.headcount={headcount}"])
    assert scenario.resources.presales.headcount == headcount
    return kamsim.simulate(scenario, seed=SEED, replication=0)


@pytest.fixture(scope="module")
def variants() -> tuple[kamsim.Result, kamsim.Result]:
    return _variant(5), _variant(8)


def _leads(result: kamsim.Result) -> pd.DataFrame:
    """Leads from the arrival stream (not follow-on leads, which arrive when projects end)."""
    deals = result.deals
    if "repeat_of" in deals:
        deals = deals[deals["repeat_of"].isna()]
    return deals.set_index("deal_id")


def _proposal_work(result: kamsim.Result) -> pd.DataFrame:
    ev = result.events
    visits = ev[ev["pool"].isna() & (ev["stage"] == "proposal")]
    worked = visits[visits["started_at"].notna() & visits["ended_at"].notna()]
    return worked.set_index("deal_id")[["started_at", "ended_at"]]


def test_variants_meet_the_same_leads(variants) -> None:
    few, many = (_leads(v) for v in variants)
    assert len(few) > 500
    assert few.index.equals(many.index)
    for column in ("arrived_at", "grade", "account_id", "value", "margin"):
        pd.testing.assert_series_equal(few[column], many[column], obj=column)


def test_proposal_durations_are_shared_across_staffing_variants(variants) -> None:
    few, many = variants
    leads = _leads(few).index.intersection(_leads(many).index)
    a, b = _proposal_work(few), _proposal_work(many)
    both = a.index.intersection(b.index).intersection(leads)
    assert len(both) > 200, "too few deals reach proposal in both variants"
    a, b = a.loc[both], b.loc[both]
    # The variants really differ: with 5 engineers some proposals start later.
    assert (few.deals["wait_presales"] > 0).sum() > 10
    assert (many.deals["wait_presales"] > 0).sum() < (few.deals["wait_presales"] > 0).sum()
    assert (np.abs(a["started_at"] - b["started_at"]) > 1e-6).sum() > 10
    np.testing.assert_allclose(
        (a["ended_at"] - a["started_at"]).to_numpy(float),
        (b["ended_at"] - b["started_at"]).to_numpy(float),
        rtol=1e-12,
        atol=1e-9,
    )
