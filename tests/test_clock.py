"""The SimPy event protocol the engine relies on, checked against the installed SimPy.

``kamsim.model.clock`` is the only module that knows it: SimPy's loop pops a scheduled object,
sets its ``callbacks`` to None, calls each callback with it and reads its ``_ok``. If a SimPy
release changes that, these tests fail before any simulated figure silently does.
"""

from __future__ import annotations

from importlib import metadata

import simpy

from kamsim.model.clock import NORMAL, Timer, Wake, scheduler


def test_installed_simpy_is_the_pinned_major_version() -> None:
    assert metadata.version("simpy").split(".")[0] == "4"


def test_a_timer_fires_once_at_its_time_with_itself() -> None:
    env = simpy.Environment()
    fired: list[tuple[float, object]] = []
    timer = Timer()
    timer.callbacks = [lambda t: fired.append((env.now, t))]
    scheduler(env)(timer, NORMAL, 5.0)
    env.run()
    assert fired == [(5.0, timer)]
    assert timer.callbacks is None  # the loop took the callbacks: the timer can be reused


def test_a_timer_can_be_scheduled_again_after_it_fired() -> None:
    env = simpy.Environment()
    schedule = scheduler(env)
    times: list[float] = []
    timer = Timer()

    def again(t: Timer) -> None:
        times.append(env.now)
        if len(times) < 3:
            t.callbacks = [again]
            schedule(t, NORMAL, 2.0)

    timer.callbacks = [again]
    schedule(timer, NORMAL, 1.0)
    env.run()
    assert times == [1.0, 3.0, 5.0]


def test_equal_times_fire_in_scheduling_order_and_run_until_stops() -> None:
    env = simpy.Environment()
    schedule = scheduler(env)
    order: list[str] = []
    for name in ("a", "b", "c"):
        schedule(Wake(lambda w: order.append(w.value), name), NORMAL, 1.0)
    schedule(Wake(lambda w: order.append(w.value), "late"), NORMAL, 10.0)
    env.run(until=5.0)
    assert order == ["a", "b", "c"]
    assert env.now == 5.0
    # The loop can go on event by event after ``run(until=...)`` (the drain does).
    while env.peek() <= 10.0 and order[-1] != "late":
        env.step()
    assert order[-1] == "late" and env.now == 10.0


def test_timers_mix_with_ordinary_simpy_events() -> None:
    env = simpy.Environment()
    seen: list[tuple[str, float]] = []

    def process(env: simpy.Environment):  # type: ignore[no-untyped-def]
        yield env.timeout(2.0)
        seen.append(("process", env.now))

    env.process(process(env))
    scheduler(env)(Wake(lambda w: seen.append(("timer", env.now))), NORMAL, 1.0)
    env.run()
    assert seen == [("timer", 1.0), ("process", 2.0)]
