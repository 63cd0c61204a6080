"""Pause Python's cyclic garbage collector around allocation-heavy, cycle-free work.

A replication allocates hundreds of thousands of small tuples (records) and keeps them all;
every generation-0 collection would rescan young objects and older generations would rescan
the growing records, for nothing: the engine and the table builder create no garbage cycles.
Reference counting still frees everything as usual; the collector resumes afterwards.

The pause ends cheaply only because nothing of the replication is left for the collector: a
finished world breaks its own reference cycles (``World._let_go``), so reference counting
frees it, records included, as soon as the tables are built. The first collection after the
pause then scans only the few objects that survive it (the result tables), where it used to
scan and free the whole world, several milliseconds per replication.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block (nesting-safe)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
