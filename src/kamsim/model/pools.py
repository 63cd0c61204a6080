"""A pool of people as slots and a queue, ordered first-come-first-served or by priority.

A pool is not a SimPy resource: the engine hands a freed slot straight to the next deal, so a
grant costs no event. FIFO queues are deques; priority queues are heaps keyed by the policy's
order with an arrival counter as tie-break (stable, deterministic).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any

from kamsim.model.records import Deal

QUEUE_KEYS: dict[str, Callable[[Deal], float]] = {
    "grade": lambda d: d.grade,  # A = 0 first
    "value": lambda d: -d.value,  # largest first
    "oldest": lambda d: d.arrived_at,  # earliest lead first
}


class PoolState:
    """Busy slots and waiting deals of one pool."""

    __slots__ = ("_heap", "_key", "_seq", "busy", "capacity", "index", "queue")

    def __init__(self, index: int, capacity: int, order: str = "fifo") -> None:
        self.index = index
        self.capacity = capacity
        self.busy = 0
        self._key = QUEUE_KEYS.get(order)
        self.queue: deque[Deal] = deque()
        self._heap: list[tuple[float, int, Deal]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self.queue) if self._key is None else len(self._heap)

    def push(self, deal: Deal) -> None:
        if self._key is None:
            self.queue.append(deal)
        else:
            self._seq += 1
            heapq.heappush(self._heap, (self._key(deal), self._seq, deal))

    def pop(self) -> Deal:
        if self._key is None:
            return self.queue.popleft()
        return heapq.heappop(self._heap)[2]

    def remove(self, deal: Deal) -> None:
        """Take a deal out of the queue (it went cold or was closed); rare, so O(n) is fine."""
        if self._key is None:
            self.queue.remove(deal)
        else:
            self._heap = [e for e in self._heap if e[2] is not deal]
            heapq.heapify(self._heap)

    def waiting(self) -> list[Any]:
        return list(self.queue) if self._key is None else [e[2] for e in self._heap]
