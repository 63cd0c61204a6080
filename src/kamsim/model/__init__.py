"""The SimPy world of deals, stages and pools. No pandas, no files, no printing in here."""

from kamsim.model.engine import World, run_replication
from kamsim.model.records import Records

__all__ = ["Records", "World", "run_replication"]
