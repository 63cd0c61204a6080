"""A pool of people as slots and a queue, ordered first-come-first-served or by priority.

A pool is not a SimPy resource: the engine hands a freed slot straight to the next deal, so a
grant costs no event. FIFO queues are deques; priority queues are heaps keyed by the policy's
order with an arrival counter as tie-break (stable, deterministic).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from kamsim.model.records import BUSY0, QUEUE0


class Waiting(Protocol):
    """What a queue order reads of a waiting deal."""

    grade: int
    value: float
    arrived_at: float


W = TypeVar("W", bound=Waiting)

QUEUE_KEYS: dict[str, Callable[[Waiting], float]] = {
    "grade": lambda d: d.grade,  # A = 0 first
    "value": lambda d: -d.value,  # largest first
    "oldest": lambda d: d.arrived_at,  # earliest lead first
}


class PoolState(Generic[W]):
    """Busy slots and waiting deals of one pool."""

    __slots__ = (
        "_fifo",
        "_heap",
        "_key",
        "_seq",
        "busy",
        "busy_series",
        "capacity",
        "index",
        "pop",
        "push",
        "queue",
        "queue_series",
    )

    def __init__(self, index: int, capacity: int, order: str = "fifo") -> None:
        self.index = index
        self.capacity = capacity
        self.busy = 0
        self.busy_series = BUSY0 + index
        self.queue_series = QUEUE0 + index
        self._key = QUEUE_KEYS.get(order)
        self._seq = 0
        self._fifo: deque[W] = deque()
        self._heap: list[tuple[float, int, W]] = []
        self.queue: deque[W] | list[tuple[float, int, W]]
        self.push: Callable[[W], None]
        self.pop: Callable[[], W]
        if self._key is None:  # the common case runs on deque's own C methods
            self.queue, self.push, self.pop = self._fifo, self._fifo.append, self._fifo.popleft
        else:
            self.queue, self.push, self.pop = self._heap, self._push_heap, self._pop_heap

    def _push_heap(self, deal: W) -> None:
        assert self._key is not None
        self._seq += 1
        heapq.heappush(self._heap, (self._key(deal), self._seq, deal))

    def _pop_heap(self) -> W:
        return heapq.heappop(self._heap)[2]

    def remove(self, deal: W) -> None:
        """Take a deal out of the queue (it went cold or was closed); rare, so O(n) is fine."""
        if self._key is None:
            self._fifo.remove(deal)
        else:
            self._heap[:] = [e for e in self._heap if e[2] is not deal]
            heapq.heapify(self._heap)
