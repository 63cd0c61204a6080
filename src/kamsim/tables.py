"""The table registry: the tables of a run, their files and what each holds.

:class:`kamsim.results.Result` has one attribute per table, :func:`kamsim.results.concat_results`
stacks every table, and :func:`kamsim.io.write_run` writes every table to its file, all in this
order.

Adding a table: register it here, add the attribute of the same name to ``Result`` and build
it in ``kamsim.results.build_result``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

TableFormat = Literal["parquet", "csv"]
"""The file format a table is written in (also its file name's suffix)."""


@dataclass(frozen=True)
class Table:
    """One table of a run's results."""

    name: str
    """The table's name: ``Result``'s attribute and the file's stem."""
    format: TableFormat
    description: str
    """One line: what a row is."""

    @property
    def file(self) -> str:
        """The file name the table is written to."""
        return f"{self.name}.{self.format}"


_ENTRIES: tuple[Table, ...] = (
    Table(
        name="deals",
        format="parquet",
        description="One row per deal and replication: its path and outcome.",
    ),
    Table(
        name="events",
        format="parquet",
        description="One row per stage visit or pool hold of a deal, in time order per deal.",
    ),
    Table(
        name="timeseries",
        format="parquet",
        description="One row per model month and replication: money flows and average levels.",
    ),
    Table(
        name="kpis",
        format="csv",
        description="One row per replication: its key performance indicators (kamsim.kpis).",
    ),
    Table(
        name="kpis_by_year",
        format="csv",
        description="One row per replication and calendar year: the KPIs of that year.",
    ),
)

TABLES: Mapping[str, Table] = MappingProxyType({t.name: t for t in _ENTRIES})
"""Every table by name, in the order they are stored and written (read-only)."""
