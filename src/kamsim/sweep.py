"""Sweeps and sensitivity: many variants of one scenario, read as a table of answers.

A *sweep* runs the full factorial of a grid of settings (``--grid
resources.presales.headcount=8,10,12``) and reports each point's KPIs with intervals, the
best point per KPI (by its direction in the registry) and, along each headcount axis, the
return on each added head: the contribution gained per unit of added cost, paired replication
by replication against the point one step below, with its interval.

A *sensitivity* analysis moves one uncertain number at a time to its low and its high value
(by default every ``[assumptions]`` entry of the scenario) and reports the paired effect of
each on every KPI, ranked as a tornado by the swing between low and high: it shows when an
answer rests on one unsourced number.

Both build variants as overrides of one base and run them through :func:`kamsim.experiment`,
so every point meets the same customers (common random numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kamsim import kpis as registry
from kamsim.analysis import half_width, paired_difference, summarise
from kamsim.errors import Problem, ScenarioError
from kamsim.experiment import Experiment, grid
from kamsim.overrides import parse_override
from kamsim.scenario import Scenario

HEADCOUNT = "resources.{pool}.headcount"


def parse_axis(spec: str) -> tuple[str, list[Any]]:
    """``key=v1,v2,...`` as the key and its values (TOML literals; bare words are strings)."""
    key, sep, raw = spec.partition("=")
    if not sep or not raw.strip():
        raise ScenarioError([Problem(f"--grid {spec}", "expected key=value1,value2,...")])
    try:
        path, values = parse_override(f"{key}=[{raw}]")
    except ScenarioError:
        path, values = [], [parse_override(f"{key}={v}")[1] for v in raw.split(",")]
    if not isinstance(values, list) or not values:
        raise ScenarioError([Problem(f"--grid {spec}", "expected a list of values")])
    return ".".join(path) if path else key.strip(), values


# -- sweeps -------------------------------------------------------------------------------------


def sweep_points(axes: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """The factorial grid, labelled by its settings (see :func:`kamsim.experiment.grid`)."""
    return grid(axes)


def sweep_table(result: Experiment, axes: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Per grid point and KPI: the settings, n, mean, half-width, low and high."""
    points = grid(axes)
    rows = []
    for label, settings in points.items():
        table = pd.DataFrame(summarise(result.table_of("kpis", label)))
        for key, value in settings.items():
            table.insert(0, key, value)
        table.insert(0, "point", label)
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def best_points(table: pd.DataFrame) -> pd.DataFrame:
    """Per KPI with a direction: the grid point with the best mean."""
    rows = []
    for kpi, group in table.groupby("kpi", sort=False):
        entry = registry.lookup(str(kpi))
        if entry is None or entry.better is None or group["mean"].isna().all():
            continue
        means = group["mean"].to_numpy(dtype=float)
        i = int(np.nanargmax(means) if entry.better == "higher" else np.nanargmin(means))
        rows.append({"kpi": kpi, "point": group["point"].iloc[i], "mean": means[i]})
    return pd.DataFrame(rows, columns=["kpi", "point", "mean"])


def returns_on_heads(result: Experiment, axes: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Along each headcount axis: each step up against the point one step below (the other
    settings equal), the added heads and cost, and the contribution gained per unit of added
    cost with its 95% interval (paired over replications; the cost itself is fixed)."""
    points = grid(axes)
    by_settings = {tuple(sorted(s.items())): label for label, s in points.items()}
    rows = []
    for key, values in axes.items():
        if not (key.startswith("resources.") and key.endswith(".headcount")):
            continue
        ordered = sorted(values)
        for label, settings in points.items():
            i = ordered.index(settings[key])
            if i == 0:
                continue
            lower = dict(settings, **{key: ordered[i - 1]})
            below = by_settings[tuple(sorted(lower.items()))]
            a = result.table_of("kpis", below)
            b = result.table_of("kpis", label)
            cost = b["cost_of_sale"] - a["cost_of_sale"]
            gain = b["contribution"] - a["contribution"]
            added_cost = float(cost.mean())
            ratio = gain / added_cost if added_cost else gain * np.nan
            hw = half_width(ratio) if len(ratio) > 1 else float("nan")
            rows.append(
                {
                    "axis": key,
                    "point": label,
                    "from": below,
                    "heads_added": settings[key] - ordered[i - 1],
                    "cost_added": added_cost,
                    "contribution_gained": float(gain.mean()),
                    "per_unit_cost": float(ratio.mean()),
                    "low": float(ratio.mean()) - hw,
                    "high": float(ratio.mean()) + hw,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "axis",
            "point",
            "from",
            "heads_added",
            "cost_added",
            "contribution_gained",
            "per_unit_cost",
            "low",
            "high",
        ],
    )


# -- sensitivity --------------------------------------------------------------------------------


def sensitivity_variants(
    scenario: Scenario, params: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, dict[str, Any]]:
    """The one-at-a-time variants: ``"base"`` and, per parameter, ``"<key>=low"`` and
    ``"<key>=high"`` (default parameters: the scenario's ``[assumptions]``). A parameter whose
    value is a distribution is set to a fixed number; one that is an integer stays one."""
    if params is None:
        params = {k: (a.low, a.high) for k, a in scenario.assumptions.items()}
    if not params:
        raise ScenarioError(
            [Problem("--param", "no parameters: give --param key=low,high or list [assumptions]")]
        )
    data = scenario.model_dump(mode="json", by_alias=True)
    variants: dict[str, dict[str, Any]] = {"base": {}}
    for key, (low, high) in params.items():
        current = _lookup(data, key)
        for end, value in (("low", low), ("high", high)):
            variants[f"{key}={end}"] = {key: _like(current, value, key)}
    return variants


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ScenarioError([Problem(key, "names no setting of this scenario")])
        node = node[part]
    return node


def _like(current: Any, value: float, key: str) -> Any:
    if isinstance(current, dict) and "dist" in current:
        return {"dist": "fixed", "value": float(value)}
    if isinstance(current, bool) or not isinstance(current, int | float | None):
        raise ScenarioError([Problem(key, "only numbers can be varied in a sensitivity analysis")])
    if isinstance(current, int):
        if float(value) != int(value):
            raise ScenarioError([Problem(key, f"{value} is not a whole number")])
        return int(value)
    return float(value)


def tornado(result: Experiment, params: Sequence[str], kpi: str = "bookings") -> pd.DataFrame:
    """Per parameter and KPI: the paired effect of its low and its high value against the base
    with 95% intervals, and the swing (high effect - low effect); for ``kpi`` the rows are
    ranked by the size of the swing, the widest first (the tornado's order)."""
    base = result.table_of("kpis", "base")
    rows = []
    for key in params:
        effects = {}
        for end in ("low", "high"):
            other = result.table_of("kpis", f"{key}={end}")
            effects[end] = paired_difference(other, base).set_index("kpi")
        for name in effects["low"].index:
            lo, hi = effects["low"].loc[name], effects["high"].loc[name]
            rows.append(
                {
                    "param": key,
                    "kpi": name,
                    "low_effect": float(lo["mean"]),
                    "low_low": float(lo["low"]),
                    "low_high": float(lo["high"]),
                    "high_effect": float(hi["mean"]),
                    "high_low": float(hi["low"]),
                    "high_high": float(hi["high"]),
                    "swing": float(hi["mean"] - lo["mean"]),
                }
            )
    table = pd.DataFrame(rows)
    order = (
        table[table["kpi"] == kpi]
        .assign(size=lambda t: t["swing"].abs())
        .sort_values("size", ascending=False)["param"]
        .tolist()
    )
    table["rank"] = table["param"].map({p: i + 1 for i, p in enumerate(order)})
    return table.sort_values(["kpi", "rank"], ignore_index=True)
