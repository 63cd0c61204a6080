"""Timed callbacks on SimPy's event loop, without SimPy's per-event objects.

``simpy.Environment.step`` pops ``(time, priority, id, event)`` from the environment's heap,
swaps ``event.callbacks`` for ``None``, calls each callback with the event and then reads
``event._ok``. Any object with those two attributes is therefore an event the loop can run,
and ``Environment.schedule`` (public API) puts it on the heap. The engine uses this to make a
deal its own timer (a visit's step end costs one heap entry and no allocation) and ``Wake``
for the few other timers; SimPy's clock, heap order and ``run(until=...)`` stay in charge.

The step-end callback list is shared by all deals: SimPy only reads it. This module is the
single place that relies on that protocol (SimPy 4.x, pinned in pyproject).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NORMAL = 1
"""SimPy's priority for ordinary events (URGENT = 0 runs first at equal times)."""


class Wake:
    """A bare timed event carrying a value to its callback."""

    __slots__ = ("_ok", "callbacks", "value")

    def __init__(self, callback: Callable[[Any], None], value: object = None) -> None:
        self.callbacks = [callback]
        self._ok = True
        self.value = value
