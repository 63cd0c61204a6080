"""Named random streams keyed by (root seed, replication, purpose).

Common random numbers need every source of luck to have its own stream that no other source
can disturb: if arrivals, deal attributes, each stage's durations and each stage's pass draws
shared one generator, adding a presales engineer would shift every later draw and a paired
comparison would compare different customers. The key deliberately excludes the scenario
variant, so two variants of one scenario meet the same customers and the same luck.

A purpose is a short dotted name (``"arrivals"``, ``"duration.tender"``); it is turned into a
stable integer with CRC-32, so the streams do not depend on the order purposes are asked for,
on Python's hash seed, or on the number of worker processes.
"""

from __future__ import annotations

import zlib

import numpy as np


def purpose_key(purpose: str) -> int:
    """Stable integer for a purpose name."""
    return zlib.crc32(purpose.encode("utf-8"))


def stream(seed: int, replication: int, purpose: str) -> np.random.Generator:
    """The generator for one purpose in one replication of a run seeded with ``seed``."""
    if seed < 0 or replication < 0:
        raise ValueError("seed and replication must be non-negative integers")
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(replication, purpose_key(purpose)))
    return np.random.Generator(np.random.PCG64(ss))


class Streams:
    """Factory of the named streams of one replication."""

    __slots__ = ("replication", "seed")

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication

    def __call__(self, purpose: str) -> np.random.Generator:
        return stream(self.seed, self.replication, purpose)
