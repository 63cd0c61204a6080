"""Pause Python's cyclic garbage collector around allocation-heavy, cycle-free work.

A replication allocates hundreds of thousands of small tuples (records) and keeps them all;
every generation-0 collection would rescan young objects and older generations would rescan
the growing records, for nothing: the engine and the table builder create no garbage cycles.
Reference counting still frees everything as usual; the collector resumes afterwards.
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
