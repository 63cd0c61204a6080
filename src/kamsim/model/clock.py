"""Timed callbacks on SimPy's event loop, without SimPy's per-event objects.

This module is the only place that knows SimPy 4's event protocol. ``Environment.step`` pops
``(time, priority, id, event)`` from the environment's heap, swaps ``event.callbacks`` for
``None``, calls each callback with the event and then reads ``event._ok``. Any object with
those two attributes is therefore an event the loop can run, and ``Environment.schedule``
(public API) puts it on the heap. :class:`Timer` is that object: a deal is a ``Timer`` (a
visit's step end costs one heap entry and no allocation), and :class:`Wake` carries a value
for the few other timers. SimPy's clock, heap order and ``run(until=...)`` stay in charge.
At the end of a run, :func:`discard_pending` empties the heap: timers still on it (patience
clocks, follow-on leads, reviews) call back into the model, so they would keep it alive.

``tests/test_clock.py`` checks this protocol against the installed SimPy; pyproject pins
SimPy to 4.x. SimPy 5 would need only this module to change (README, "SimPy").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import simpy

NORMAL = 1
"""SimPy's priority for ordinary events (URGENT = 0 runs first at equal times)."""


class Timer:
    """Something SimPy's loop can run: ``callbacks`` are called with the timer when it fires."""

    __slots__ = ("_ok", "callbacks")

    def __init__(self) -> None:
        self._ok = True
        self.callbacks: list[Callable[[Any], None]] | None = None


class Wake(Timer):
    """A bare timer carrying a value to its callback."""

    __slots__ = ("value",)

    def __init__(self, callback: Callable[[Any], None], value: Any = None) -> None:
        self._ok = True
        self.callbacks = [callback]
        self.value: Any = value


Schedule = Callable[[Timer, int, float], None]
"""``schedule(timer, priority, delay)``: fire ``timer`` ``delay`` days from now."""


def scheduler(env: simpy.Environment) -> Schedule:
    """The environment's public ``schedule``, typed for timers (SimPy annotates Events)."""
    return cast(Schedule, env.schedule)


def discard_pending(env: simpy.Environment) -> None:
    """Drop every event still scheduled on ``env`` (the run is over and they will never fire).

    SimPy 4 keeps them in ``env._queue``, a heap with no public way to empty it; each holds its
    callbacks, which point back into the model, so without this a finished world would stay
    alive in a reference cycle until the cyclic garbage collector ran.
    """
    env._queue.clear()
