"""A pool of people as slots and a queue, ordered first-come-first-served or by priority.

A pool is not a SimPy resource: the engine hands a freed slot straight to the next deal, so a
grant costs no event. FIFO queues are deques; priority queues are heaps keyed by the policy's
order with an arrival counter as tie-break (stable, deterministic).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable

from kamsim.model.records import BUSY0, QUEUE0, Deal

QUEUE_KEYS: dict[str, Callable[[Deal], float]] = {
    "grade": lambda d: d.grade,  # A = 0 first
    "value": lambda d: -d.value,  # largest first
    "oldest": lambda d: d.arrived_at,  # earliest lead first
}


class PoolState:
    """Busy slots and waiting deals of one pool."""

    __slots__ = (
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
        self.queue: deque[Deal] | list[tuple[float, int, Deal]]
        self.push: Callable[[Deal], None]
        self.pop: Callable[[], Deal]
        if self._key is None:  # the common case runs on deque's own C methods
            fifo: deque[Deal] = deque()
            self.queue, self.push, self.pop = fifo, fifo.append, fifo.popleft
        else:
            self.queue, self.push, self.pop = [], self._push_heap, self._pop_heap

    def _push_heap(self, deal: Deal) -> None:
        self._seq += 1
        heapq.heappush(self.queue, (self._key(deal), self._seq, deal))  # type: ignore

    def _pop_heap(self) -> Deal:
        return heapq.heappop(self.queue)[2]  # type: ignore

    def remove(self, deal: Deal) -> None:
        """Take a deal out of the queue (it went cold or was closed); rare, so O(n) is fine."""
        if isinstance(self.queue, deque):
            self.queue.remove(deal)
        else:
            self.queue[:] = [e for e in self.queue if e[2] is not deal]
            heapq.heapify(self.queue)
