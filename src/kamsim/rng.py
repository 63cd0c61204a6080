"""Named random streams keyed by (root seed, replication, purpose).

Common random numbers need every source of luck to have its own stream that no other source
can disturb: if arrivals, deal attributes, each stage's durations and each stage's pass draws
shared one generator, adding a presales engineer would shift every later draw and a paired
comparison would compare different customers. The key deliberately excludes the scenario
variant, so two variants of one scenario meet the same customers and the same luck.

A purpose is a short dotted name (``"arrivals"``, ``"duration.tender"``); it is turned into a
stable integer with CRC-32, so the streams do not depend on the order purposes are asked for,
on Python's hash seed, or on the number of worker processes.

The stream of ``(seed, replication, purpose)`` is numpy's PCG64 seeded by
``SeedSequence(entropy=seed, spawn_key=(replication, purpose_key(purpose)))``; :func:`stream`
builds exactly that. A replication asks for about a hundred streams, and numpy's
``SeedSequence`` costs more than the generator it seeds, so :class:`Streams` derives the same
seed words itself: the SeedSequence algorithm (O'Neill's seed_seq alternative, as numpy
implements it) mixes the seed's and the replication's words once per replication and only the
purpose's word per stream, and hands the words to PCG64 through numpy's ``ISeedSequence``
interface. Every stream is bit for bit numpy's own (``tests/test_lean.py`` compares them).
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from typing import Any, cast

import numpy as np
from numpy.random.bit_generator import ISeedSequence

_MASK = 0xFFFF_FFFF
_POOL = 4
"""numpy's default pool size (32-bit words)."""
_INIT_A, _MULT_A = 0x43B0_D7E5, 0x931E_8875
"""Hash constants of entropy mixing."""
_INIT_B, _MULT_B = 0x8B51_F9DD, 0x58F3_8DED
"""Hash constants of state generation."""
_MIX_L, _MIX_R = 0xCA01_F9DD, 0x4973_F715
_SHIFT = 16
_PCG64_WORDS = 4
"""PCG64 asks its seed sequence for four 64-bit words."""


def purpose_key(purpose: str) -> int:
    """Stable integer for a purpose name."""
    return zlib.crc32(purpose.encode("utf-8"))


def stream(seed: int, replication: int, purpose: str) -> np.random.Generator:
    """The generator for one purpose in one replication of a run seeded with ``seed``."""
    if seed < 0 or replication < 0:
        raise ValueError("seed and replication must be non-negative integers")
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(replication, purpose_key(purpose)))
    return np.random.Generator(np.random.PCG64(ss))


def _words(n: int) -> list[int]:
    """An integer as numpy coerces it to entropy: 32-bit words, least significant first."""
    out = [n & _MASK]
    n >>= 32
    while n:
        out.append(n & _MASK)
        n >>= 32
    return out


def _hash_constants(init: int, mult: int, count: int) -> list[tuple[int, int]]:
    """``(before, after)`` of the running hash constant at each of ``count`` hashes: the
    constant does not depend on the data, only on how many words were hashed before."""
    out = []
    h = init
    for _ in range(count):
        after = (h * mult) & _MASK
        out.append((h, after))
        h = after
    return out


def _hashmix(value: int, constants: tuple[int, int]) -> int:
    before, after = constants
    value = ((value ^ before) * after) & _MASK
    return value ^ (value >> _SHIFT)


def _mix(x: int, y: int) -> int:
    r = (_MIX_L * x - _MIX_R * y) & _MASK
    return r ^ (r >> _SHIFT)


def _mixing_hashes(n_words: int) -> int:
    """Hashes that mixing ``n_words`` words of entropy into the pool takes: one per pool word,
    one per ordered pair of pool words, then one per pool word for each further word."""
    return _POOL + _POOL * (_POOL - 1) + _POOL * (n_words - _POOL)


_GENERATE = tuple(_hash_constants(_INIT_B, _MULT_B, 2 * _PCG64_WORDS))
"""Hash constants of the eight 32-bit words PCG64 draws from the pool."""
_PACK = struct.Struct("=4Q").pack


@lru_cache(maxsize=4096)
def _purpose_hashes(purpose: str, position: int) -> tuple[int, ...]:
    """The purpose's word hashed for each pool word, when it is entropy word ``position``."""
    key = purpose_key(purpose)
    constants = _hash_constants(_INIT_A, _MULT_A, _mixing_hashes(position + 1))[-_POOL:]
    return tuple(_hashmix(key, c) for c in constants)


class _SeedWords(ISeedSequence):
    """A stream's seed words, computed by :class:`Streams`, as PCG64 asks for them."""

    __slots__ = ("_state",)

    def __init__(self, state: np.ndarray[Any, Any]) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray[Any, Any]:
        if n_words != _PCG64_WORDS or np.dtype(dtype) != np.uint64:
            raise ValueError("only PCG64's request (4 words of uint64) is precomputed")
        return self._state


class Streams:
    """Factory of the named streams of one replication: ``streams(purpose)`` is
    ``stream(seed, replication, purpose)``, built for a third of its cost."""

    __slots__ = ("_pool", "_position", "replication", "seed")

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._pool: tuple[int, ...] = ()
        """SeedSequence's pool before the purpose's word: the same for every stream of the
        replication (empty: the seed or replication is negative)."""
        self._position = 0
        """Where the purpose's word comes in the entropy."""
        if seed < 0 or replication < 0:
            return
        # SeedSequence's entropy: the seed's words padded to the pool size (since a spawn key
        # follows), then the spawn key's: the replication's words, the purpose's one word.
        entropy = _words(seed)
        entropy += [0] * (_POOL - len(entropy))
        entropy += _words(replication)
        constants = iter(_hash_constants(_INIT_A, _MULT_A, _mixing_hashes(len(entropy))))
        pool = [_hashmix(entropy[i], next(constants)) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = _mix(pool[dst], _hashmix(pool[src], next(constants)))
        for word in entropy[_POOL:]:
            for dst in range(_POOL):
                pool[dst] = _mix(pool[dst], _hashmix(word, next(constants)))
        self._pool = tuple(pool)
        self._position = len(entropy)

    def __call__(self, purpose: str) -> np.random.Generator:
        if not self._pool:
            raise ValueError("seed and replication must be non-negative integers")
        # _mix and _hashmix inlined: this runs about a hundred times per replication.
        pool = []
        for p, h in zip(self._pool, _purpose_hashes(purpose, self._position), strict=True):
            r = (_MIX_L * p - _MIX_R * h) & _MASK
            pool.append(r ^ (r >> _SHIFT))
        w = []
        for p, (before, after) in zip(pool * 2, _GENERATE, strict=True):
            v = ((p ^ before) * after) & _MASK
            w.append(v ^ (v >> _SHIFT))
        state = np.frombuffer(
            _PACK(w[0] | w[1] << 32, w[2] | w[3] << 32, w[4] | w[5] << 32, w[6] | w[7] << 32),
            dtype=np.uint64,
        )
        words = cast(np.random.SeedSequence, _SeedWords(state))  # PCG64 takes any ISeedSequence
        return np.random.Generator(np.random.PCG64(words))
