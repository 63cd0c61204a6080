"""A simulation as a CRM would export it: a stage history as of a date, with its side files.

The round trip of calibration (simulate a known scenario, export it, calibrate, compare)
needs the simulated deals in the shape a real export has. :func:`stage_history` turns a run's
``events`` into one row per (opportunity, stage entered, time) as the bundled
``stage-history`` mapping (or another of shape ``history``) reads it: each visit to a
recorded stage is an entry under that stage's CRM name, signing is an entry under the won
name, and a deal that left the funnel is an entry under the lost name. The timestamps are
those of :func:`kamsim.eventlog.event_log`. Only what happened by the end of the as-of date is
exported: a deal still open then shows the stages it entered so far (censored). An export
that begins later (``since``, e.g. after a warm-up) leaves out the deals closed before it.

The side files the mapping joins (accounts with their sector, products with their series and
price, owners with their team and manager) are made from the deals: an account's sector and
a product are the deal's grade. Everything is returned as tables, file name to table; writing
them is the caller's business.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from kamsim.crm_mapping import CrmMapping, load_mapping
from kamsim.eventlog import ACTIVITY, CASE, LIFECYCLE, RESOURCE, TIMESTAMP, event_log
from kamsim.results import Result

HISTORY_FILE = "stage_history.csv"
"""The stage history's file name (the bundled synthetic export's)."""
SIGNED = "implementation"
"""Entering this stage is signing: the deal is won."""
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _crm_names(mapping: CrmMapping) -> dict[str, str]:
    """Each kamsim stage, ``won`` and ``lost`` -> the first CRM stage the mapping maps to it."""
    names: dict[str, str] = {}
    for crm, target in mapping.stages.items():
        names.setdefault(target, crm)
    missing = [t for t in ("won", "lost") if t not in names]
    if missing:
        raise ValueError(f"mapping: no CRM stage maps to {' or '.join(missing)}")
    return names


def stage_history(
    result: Result,
    as_of: dt.date | None = None,
    mapping: CrmMapping | str = "stage-history",
    since: dt.date | None = None,
) -> dict[str, pd.DataFrame]:
    """``result``'s deals as a stage history known at the end of ``as_of`` (default: the
    horizon's last day), and the files ``mapping`` joins: file name -> table. Opportunity
    ids are ``<replication>-<deal_id>``. ``since``: the export leaves out the deals closed
    before this date, as an export of the deals open then or created later does (their
    earlier entries stay: the calibration treats them as left-truncated)."""
    spec = load_mapping(mapping) if isinstance(mapping, str) else mapping
    if spec.shape != "history":
        raise ValueError(f"mapping: shape {spec.shape!r}; a stage history needs 'history'")
    names = _crm_names(spec)
    calendar = result.scenario.calendar
    if as_of is None:
        as_of = calendar.start + dt.timedelta(days=int(calendar.horizon_days) - 1)
    cutoff = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    log = event_log(result.events, calendar.start)
    visit = log[RESOURCE].isna() & (log[ACTIVITY] == log["stage"]) & (log[TIMESTAMP] < cutoff)
    start = visit & (log[LIFECYCLE] == "start")
    entry = start & log["stage"].isin(spec.recorded)
    won = start & (log["stage"] == SIGNED)
    lost = visit & (log[LIFECYCLE] == "complete") & (log["stage"] != SIGNED)
    lost &= log["result"] != "passed"
    crm_stage = pd.Series(None, index=log.index, dtype=object)
    crm_stage[entry] = log.loc[entry, "stage"].map(names)
    crm_stage[won] = names["won"]
    crm_stage[lost] = names["lost"]
    rows = log[entry | won | lost].assign(crm_stage=crm_stage)
    if since is not None:
        closes = rows.loc[won | lost, [CASE, TIMESTAMP]]
        gone = closes.loc[closes[TIMESTAMP] < pd.Timestamp(since), CASE]
        rows = rows[~rows[CASE].isin(set(gone))]
    deals = result.deals.assign(
        case=result.deals["replication"].astype(str) + "-" + result.deals["deal_id"].astype(str),
        owner_name=[f"AM {o}" if pd.notna(o) else "" for o in result.deals["owner"]],
        product=[f"Grade {g}" for g in result.deals["grade"].astype(str)],
    ).set_index("case")
    cols = spec.columns
    table = {
        cols.id: rows[CASE].to_numpy(),
        cols.stage: rows["crm_stage"].to_numpy(),
        cols.entered: rows[TIMESTAMP].dt.strftime(TIME_FORMAT).to_numpy(),
    }
    for column, source in (
        (cols.value, "value"),
        (cols.owner, "owner_name"),
        (cols.account, "account_id"),
        (cols.product, "product"),
    ):
        if column is not None:
            table[column] = deals[source].reindex(rows[CASE]).to_numpy()
    files = {HISTORY_FILE: pd.DataFrame(table)}
    grades = result.scenario.grades
    if spec.accounts is not None:
        accounts = deals[["account_id", "grade"]].drop_duplicates("account_id")
        files[spec.accounts.file] = pd.DataFrame(
            {spec.accounts.key: accounts["account_id"].to_numpy()}
            | _maybe(spec.accounts.sector, accounts["grade"].astype(str).to_numpy())
        )
    if spec.products is not None:
        keys = list(grades)
        files[spec.products.file] = pd.DataFrame(
            {spec.products.key: [f"Grade {g}" for g in keys]}
            | _maybe(spec.products.series, np.array(keys, dtype=object))
            | _maybe(spec.products.price, [grades[g].value.mean for g in keys])
        )
    if spec.owners is not None:
        owners = sorted({o for o in deals["owner_name"] if o})
        files[spec.owners.file] = pd.DataFrame(
            {spec.owners.key: owners}
            | _maybe(spec.owners.team, ["Sales"] * len(owners))
            | _maybe(spec.owners.manager, ["Head of sales"] * len(owners))
        )
    return files


def _maybe(column: str | None, values: object) -> dict[str, object]:
    """``{column: values}`` when the mapping names the column, else nothing."""
    return {} if column is None else {column: values}
