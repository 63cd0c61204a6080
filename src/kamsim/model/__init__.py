"""The SimPy world of deals, stages and pools. No pandas, no files, no printing in here."""

from kamsim.model.engine import World, run_replication
from kamsim.model.records import Records
from kamsim.model.rules import Rules

__all__ = ["Records", "Rules", "World", "run_replication"]
