"""Which deals flipped between two variants of a scenario run with the same seed.

Common random numbers make deal ``deal_id`` of replication r the same customer with the same
luck in every variant (:mod:`kamsim.model.draws`), so two runs can be compared deal by deal:
a KPI difference says how much changed, the flips say how. A deal lost in the base and won in
the variant is a deal more ("more deals"); one open at the base's end and won in the variant
signed sooner ("earlier deals"), which only a run that stops at its horizon can show.

"Won" is a deal's outcome at the end of the run: every deal of the run, the warm-up's
included, followed until the run stops (the horizon, or the last deal's exit with drain).
That is the deal-based KPIs' rule (a deal counts as won whenever it signs) applied to all
arrivals rather than to the cohort after the warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kamsim.analysis import format_kpi, summarise
from kamsim.intervals import UNBOUNDED, Bounds
from kamsim.results import Result
from kamsim.vocabulary import OUTCOMES, STAGES

_KEYS = ["replication", "deal_id"]
_PAIRS = [(b, v) for b in OUTCOMES for v in OUTCOMES]
"""(base outcome, variant outcome) of a deal present in both, in the order of its code."""
_MATCHED = [f"{b}_both" if b == v else f"{b}_to_{v}" for b, v in _PAIRS]
FLIPS: tuple[str, ...] = (
    "lost_to_won",
    "won_to_lost",
    "open_to_won",
    "won_to_open",
    "won_both",
    "lost_both",
    "lost_to_open",
    "open_to_lost",
    "open_both",
    "repeat_gained",
    "repeat_lost",
)
"""What happened to a deal: its outcome in the base and in the variant, or, for a follow-on
lead only one of them has, ``repeat_gained`` (only the variant) or ``repeat_lost``."""
VALUES: tuple[str, ...] = (
    "value_gained",
    "value_lost",
    "net_value",
    "value_repriced",
    "repeat_value",
)
"""Booked value columns of ``per_replication``, in the scenario currency."""
SIGNED: tuple[str, ...] = ("net_value", "value_repriced", "repeat_value")
"""The measures that can be negative; every other count and value is at least 0."""
_GAINED = ("lost_to_won", "open_to_won")
_LOST = ("won_to_lost", "won_to_open")
_FLIP_CAT = pd.CategoricalDtype(list(FLIPS))
_STAGE_CAT = pd.CategoricalDtype(list(STAGES), ordered=True)
_SHOWN = 4  # deals or replications listed in a "not paired" message


@dataclass(frozen=True)
class Flips:
    """Deal-by-deal comparison of a variant with its base (see :func:`deal_flips`).

    - ``deals``: one row per deal of either run: ``replication, deal_id, repeat_of, flip``
      (one of :data:`FLIPS`), then per run (``base_`` and ``variant_``) its ``outcome``,
      booked ``value``, last ``stage`` and ``exit_reason`` (missing where the run lacks the
      deal): the place to look up what happened to one customer.
    - ``per_replication``: one row per replication: the count of every flip, then
      ``value_gained`` (the variant's booked value of deals lost or open in the base and won
      in it), ``value_lost`` (the base's booked value of deals won in it and lost or open in
      the variant), ``net_value`` (gained - lost), ``value_repriced`` (variant - base booked
      value of deals won in both: discounts and change orders that moved) and
      ``repeat_value`` (booked value of won follow-on leads only the variant has, less those
      only the base has). ``net_value + value_repriced + repeat_value`` is the difference in
      booked value of all deals signed in the run.
    - ``by_exit``: per replication, ``lost_to_won`` deals by the base's last stage and exit
      reason (where the base lost them) and ``won_to_lost`` deals by the variant's (where the
      variant loses them): ``replication, flip, stage, exit_reason, deals, value`` (value as
      in ``value_gained`` and ``value_lost``). Groups without deals have no row.
    - ``summary``: per count and value column, the mean over replications with its 95%
      t interval, clipped at 0 for counts and the values gained and lost: ``measure, n,
      mean, half_width, low, high, note``.
    """

    seed: int
    currency: str
    deals: pd.DataFrame
    per_replication: pd.DataFrame
    by_exit: pd.DataFrame
    summary: pd.DataFrame

    def format(self) -> str:
        """The summary as a short text table: counts in the format of ``deals_won``, values
        in that of ``bookings`` (the scenario currency), each with its 95% interval."""
        rows = [("", "mean", "95% interval")]
        for m in self.summary.to_dict("records"):
            name = str(m["measure"])
            kpi = "bookings" if name in VALUES else "deals_won"
            low, high = (format_kpi(kpi, float(m[k])) for k in ("low", "high"))
            unit = f" {self.currency}" if name in VALUES else ""
            rows.append((name, format_kpi(kpi, float(m["mean"])) + unit, f"{low} .. {high}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        n = len(self.per_replication)
        head = (
            f"deal flips, variant vs base: {n} paired replication{'s' * (n != 1)}, "
            f"seed {self.seed}; mean per replication"
        )
        lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        return "\n".join([head, *lines])


def measure_bounds(measure: str) -> Bounds:
    """A count of deals or a value gained or lost is never below 0."""
    return UNBOUNDED if measure in SIGNED else Bounds(0.0, float("inf"))


def _listed(items: list[Any]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(str(i) for i in items[:_SHOWN]) + more


def _check_paired(base: Result, variant: Result) -> None:
    """ValueError unless ``variant`` meets the same new leads as ``base`` (same seed, same
    replications, same new-lead ids at the same times): without common random numbers a
    deal id names different customers in the two runs and a flip means nothing."""
    for name, r in (("base", base), ("variant", variant)):
        if not isinstance(r, Result):
            raise ValueError(f"{name}: expected a kamsim.Result, not {type(r).__name__}")
    why = "a deal id names the same customer in both only with common random numbers"
    if base.seed != variant.seed:
        raise ValueError(
            f"base and variant are not paired: different seeds (base {base.seed}, variant "
            f"{variant.seed}); run both with the same seed ({why})"
        )
    reps_b, reps_v = (set(r.kpis["replication"].tolist()) for r in (base, variant))
    if reps_b != reps_v:
        only_b, only_v = sorted(reps_b - reps_v), sorted(reps_v - reps_b)
        parts = [f"only in base: {_listed(only_b)}" if only_b else ""]
        parts.append(f"only in variant: {_listed(only_v)}" if only_v else "")
        raise ValueError(
            "base and variant are not paired: different replications ("
            + "; ".join(p for p in parts if p)
            + "); run both with the same replications"
        )
    if base.scenario.calendar.currency != variant.scenario.calendar.currency:
        raise ValueError(
            f"base and variant book in different currencies ({base.scenario.calendar.currency}, "
            f"{variant.scenario.calendar.currency})"
        )
    for name, r in (("base", base), ("variant", variant)):
        twice = r.deals[r.deals.duplicated(_KEYS)]
        if not twice.empty:
            shown = _listed(sorted(set(twice["replication"].tolist())))
            raise ValueError(
                f"{name} holds a deal more than once in replication(s) {shown} "
                "(two runs stacked? compare one run with one run)"
            )
    new_b, new_v = (
        r.deals.loc[r.deals["repeat_of"].isna(), [*_KEYS, "arrived_at"]] for r in (base, variant)
    )
    leads = new_b.merge(new_v, on=_KEYS, how="outer", suffixes=("_b", "_v"), indicator=True)
    differ = leads[
        (leads["_merge"] != "both") | (leads["arrived_at_b"] != leads["arrived_at_v"])
    ].sort_values(_KEYS)
    if not differ.empty:
        shown = _listed(
            [
                f"deal {d} of replication {r}"
                for r, d in zip(differ["replication"], differ["deal_id"], strict=True)
            ]
        )
        raise ValueError(
            f"base and variant are not paired: {len(differ):,} new leads differ in id or "
            f"arrival time ({shown}); the variant changed the arrivals, so {why}"
        )


def _per_replication(deals: pd.DataFrame, replications: list[int]) -> pd.DataFrame:
    """Counts of every flip and the value columns, one row per replication (zeros where a
    replication has no such deal)."""
    flip = deals["flip"]
    base_won = (deals["base_outcome"] == "won").to_numpy(bool)
    variant_won = (deals["variant_outcome"] == "won").to_numpy(bool)
    base_value = deals["base_value"].fillna(0.0).to_numpy(float)
    variant_value = deals["variant_value"].fillna(0.0).to_numpy(float)
    gained = flip.isin(_GAINED).to_numpy(bool)
    lost = flip.isin(_LOST).to_numpy(bool)
    both = (flip == "won_both").to_numpy(bool)
    repeat_in = (flip == "repeat_gained").to_numpy(bool) & variant_won
    repeat_out = (flip == "repeat_lost").to_numpy(bool) & base_won
    parts = pd.DataFrame(
        {
            "replication": deals["replication"].to_numpy(),
            "value_gained": np.where(gained, variant_value, 0.0),
            "value_lost": np.where(lost, base_value, 0.0),
            "value_repriced": np.where(both, variant_value - base_value, 0.0),
            "repeat_value": np.where(repeat_in, variant_value, 0.0)
            - np.where(repeat_out, base_value, 0.0),
        }
    )
    values = parts.groupby("replication").sum().reindex(replications, fill_value=0.0)
    values["net_value"] = values["value_gained"] - values["value_lost"]
    row = np.searchsorted(replications, deals["replication"].to_numpy())
    cell = row * len(FLIPS) + deals["flip"].cat.codes.to_numpy(np.int64)
    shape = (len(replications), len(FLIPS))
    counts = np.bincount(cell, minlength=shape[0] * shape[1]).reshape(shape)
    out = pd.DataFrame(counts.astype(np.int64), columns=list(FLIPS))
    out.insert(0, "replication", np.asarray(replications, dtype=np.int64))
    for name in VALUES:
        out[name] = values[name].to_numpy(float)
    return out


def _by_exit(deals: pd.DataFrame) -> pd.DataFrame:
    """Lost->won deals where the base lost them and won->lost deals where the variant loses
    them, so a lever's gains and costs show at the stage and reason they act on."""
    sides = []
    for flip, side, value in (
        ("lost_to_won", "base", "variant"),
        ("won_to_lost", "variant", "base"),
    ):
        d = deals[deals["flip"] == flip]
        sides.append(
            pd.DataFrame(
                {
                    "replication": d["replication"],
                    "flip": flip,
                    "stage": d[f"{side}_stage"],
                    "exit_reason": d[f"{side}_exit_reason"].astype("string"),
                    "value": d[f"{value}_value"],
                }
            )
        )
    stacked = pd.concat(sides, ignore_index=True)
    out = (
        stacked.groupby(
            ["replication", "flip", "stage", "exit_reason"], observed=True, dropna=False
        )
        .agg(deals=("value", "size"), value=("value", "sum"))
        .reset_index()
    )
    out["deals"] = out["deals"].astype(np.int64)
    out["value"] = out["value"].astype(float)
    return out.sort_values(["replication", "flip", "stage", "exit_reason"], ignore_index=True)


def deal_flips(base: Result, variant: Result) -> Flips:
    """Compare ``variant`` with ``base`` deal by deal, on paired replications.

    Both must be runs of one scenario's variants with the same seed and replications
    (:func:`kamsim.run`), so deal ``deal_id`` of replication r is the same customer with the
    same luck in both. Deals are matched on (replication, deal_id); new leads must match
    exactly (same ids, same arrival times), while a follow-on lead (id = parent id +
    10,000,000) exists only where its parent brought it, so one present in one run only is
    ``repeat_gained`` or ``repeat_lost``. A deal's outcome is its outcome at the end of the
    run (see the module docstring), so flips between ``won`` and ``open`` are timing only and
    vanish in drained runs.

    Raises ValueError, saying what differs, when the two are not paired: different seeds,
    different replications, new leads that differ in id or arrival time, a deal held twice, or
    different currencies.
    """
    _check_paired(base, variant)
    columns = [
        *_KEYS,
        "repeat_of",
        "outcome",
        "last_stage",
        "exit_reason",
        "booked_value",
    ]
    b, v = (
        r.deals[columns]
        .rename(columns={"last_stage": "stage"})
        .astype({"outcome": "string", "stage": "string", "exit_reason": "string"})
        for r in (base, variant)
    )
    m = b.merge(
        v,
        on=_KEYS,
        how="outer",
        suffixes=("_b", "_v"),
        indicator=True,
        validate="one_to_one",
        sort=True,
    )
    code = {o: i for i, o in enumerate(OUTCOMES)}
    b_code, v_code = (m[f"outcome_{s}"].map(code).fillna(0).to_numpy(np.int64) for s in "bv")
    pair = b_code * len(OUTCOMES) + v_code  # the index in _MATCHED of a deal in both runs
    where = m["_merge"].astype(str).to_numpy()
    flip = np.where(
        where == "both",
        np.asarray(_MATCHED, dtype=object)[pair],
        np.where(where == "right_only", "repeat_gained", "repeat_lost"),
    )
    deals = pd.DataFrame(
        {
            "replication": m["replication"].to_numpy(np.int64),
            "deal_id": m["deal_id"].to_numpy(np.int64),
            "repeat_of": m["repeat_of_b"].fillna(m["repeat_of_v"]).astype("Int64"),
            "flip": pd.Categorical(flip, dtype=_FLIP_CAT),
            "base_outcome": pd.Categorical(m["outcome_b"], categories=list(OUTCOMES)),
            "variant_outcome": pd.Categorical(m["outcome_v"], categories=list(OUTCOMES)),
            "base_value": m["booked_value_b"].to_numpy(float),
            "variant_value": m["booked_value_v"].to_numpy(float),
            "base_stage": m["stage_b"].astype(_STAGE_CAT),
            "base_exit_reason": m["exit_reason_b"],
            "variant_stage": m["stage_v"].astype(_STAGE_CAT),
            "variant_exit_reason": m["exit_reason_v"],
        }
    )
    replications = sorted(int(r) for r in base.kpis["replication"])
    per_replication = _per_replication(deals, replications)
    summary = pd.DataFrame(summarise(per_replication, bounds=measure_bounds)).rename(
        columns={"kpi": "measure"}
    )
    return Flips(
        seed=base.seed,
        currency=base.scenario.calendar.currency,
        deals=deals,
        per_replication=per_replication,
        by_exit=_by_exit(deals),
        summary=summary,
    )
