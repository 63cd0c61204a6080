"""The SimPy world: deals moving through six stages, queueing for limited pools of people.

Design for speed (see ``benchmarks/README.md``): a deal is not a SimPy process. Each stage
visit is one plain ``Timeout`` whose callback moves the deal on; a pool is a counter with a
queue, and a freed slot is handed straight to the next deal in the queue, so a visit costs one
event on SimPy's heap instead of a request, a timeout, a release and generator resumptions.
Random inputs are pre-drawn (``draws``); records are tuples appended to lists; time-weighted
monitors log ``(time, series, level)`` and are integrated once at the end.

Flow of one deal: arrive -> enter stage -> take the stage's pools in the fixed pool order
(waiting in each pool's queue when it is full) -> work for the stage duration -> release the
pools -> pass draw: move to the next stage, or leave with the stage's exit reason. Passing
``negotiation`` is signing (``won``); ``implementation`` then turns bookings into revenue and
cash by milestones, and failing it is a cancellation, which never changes ``outcome``.
With account-manager ownership the deal takes an account-manager slot before development and
keeps it until it is signed or leaves.
"""

from __future__ import annotations

from collections import deque
from typing import cast

import simpy
from simpy.events import Timeout

from kamsim.model.draws import DealDraws, arrival_times
from kamsim.model.records import (
    BOOKING,
    BUSY0,
    CASH,
    NAN,
    QUEUE0,
    REVENUE,
    WIP0,
    Deal,
    Records,
)
from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.vocabulary import POOLS, STAGES

NEGOTIATION = STAGES.index("negotiation")
IMPLEMENTATION = STAGES.index("implementation")
ACCOUNT_MANAGERS = POOLS.index("account_managers")


class PoolState:
    """Slots of one pool: how many are busy, and who waits (first come, first served)."""

    __slots__ = ("busy", "capacity", "index", "queue")

    def __init__(self, index: int, capacity: int) -> None:
        self.index = index
        self.capacity = capacity
        self.busy = 0
        self.queue: deque[Deal] = deque()


class World:
    """One replication of one scenario; ``run()`` returns its :class:`Records`."""

    def __init__(self, scenario: Scenario, seed: int, replication: int) -> None:
        self.scenario = scenario
        self.streams = Streams(seed, replication)
        self.env = simpy.Environment()
        cal = scenario.calendar
        self.horizon = cal.horizon_days
        self.drain = cal.drain
        res = scenario.resources
        self.pools = [PoolState(i, res[p].capacity) for i, p in enumerate(POOLS)]
        self.owner = ACCOUNT_MANAGERS if res.account_managers.ownership else -1
        grades = scenario.grade_keys
        self.pass_p = [[scenario.stages[s].pass_for(g) for g in grades] for s in STAGES]
        self.exit_reason = [scenario.stages.exit_reason(s) for s in STAGES]
        # Pools each stage takes, in the global order; an owned pool is taken once, before
        # development, and never again per stage.
        self.acquire: list[tuple[int, ...]] = []
        for i, s in enumerate(STAGES):
            idx = [POOLS.index(p) for p in scenario.stages[s].pools]
            idx = [p for p in idx if p != self.owner]
            if i == 0 and self.owner >= 0:
                idx = [self.owner, *idx]
            self.acquire.append(tuple(idx))
        pay = scenario.payments
        self.shares = pay.shares
        self.delivery_at = pay.delivery_at
        self.records = Records(scenario, seed, replication, self.horizon)
        self.live: dict[int, Deal] = {}
        self.wip = [0] * len(STAGES)
        self._arrivals = arrival_times(scenario, self.streams)
        self._draws = DealDraws.draw(scenario, self.streams, len(self._arrivals))
        self._next = 0

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Records:
        env = self.env
        if self._arrivals:
            Timeout(env, self._arrivals[0]).callbacks.append(self._arrive)
        if self.drain:
            env.run()
            self.records.span = max(self.horizon, env.now)
        else:
            env.run(until=self.horizon)
        self._finish()
        return self.records

    def _arrive(self, _: object) -> None:
        k = self._next
        self._next = k + 1
        if k + 1 < len(self._arrivals):
            delay = self._arrivals[k + 1] - self.env.now
            Timeout(self.env, delay).callbacks.append(self._arrive)
        d = self._draws
        deal = Deal(
            len(self.records.deals),
            k,
            d,
            d.grade[k],
            d.account[k],
            d.value[k],
            d.margin[k],
            self.env.now,
        )
        self.records.deals.append(deal)
        self.live[deal.id] = deal
        self._enter(deal, 0)

    def _enter(self, deal: Deal, stage: int) -> None:
        now = self.env.now
        deal.stage = stage
        deal.entered = now
        deal.started = NAN
        deal.pool_i = 0
        self.wip[stage] += 1
        self.records.levels.append((now, WIP0 + stage, self.wip[stage]))
        self._acquire(deal)

    def _acquire(self, deal: Deal) -> None:
        """Take the stage's pools from ``deal.pool_i`` on; queue at the first full one."""
        now = self.env.now
        stage = deal.stage
        order = self.acquire[stage]
        levels = self.records.levels
        i = deal.pool_i
        while i < len(order):
            pool = self.pools[order[i]]
            if pool.busy < pool.capacity:
                pool.busy += 1
                levels.append((now, BUSY0 + pool.index, pool.busy))
                deal.held.append((pool.index, stage, now, now))
                i += 1
            else:
                deal.pool_i = i
                deal.waiting_since = now
                pool.queue.append(deal)
                levels.append((now, QUEUE0 + pool.index, len(pool.queue)))
                return
        deal.started = now
        draws: DealDraws = deal.draws  # type: ignore[assignment]
        duration = draws.duration[stage][deal.k]
        if stage == IMPLEMENTATION:
            self._milestone(deal, 1, now + self.delivery_at * duration)
        Timeout(self.env, duration, deal).callbacks.append(self._stage_end)

    def _release(self, pool: PoolState) -> None:
        """Free one slot: hand it to the first deal waiting, or mark it idle."""
        now = self.env.now
        if pool.queue:
            deal = pool.queue.popleft()
            self.records.levels.append((now, QUEUE0 + pool.index, len(pool.queue)))
            deal.held.append((pool.index, deal.stage, deal.waiting_since, now))
            deal.pool_i += 1
            self._acquire(deal)
        else:
            pool.busy -= 1
            self.records.levels.append((now, BUSY0 + pool.index, pool.busy))

    def _release_held(self, deal: Deal, keep_owned: bool) -> None:
        now = self.env.now
        holds = self.records.holds
        kept: list[tuple[int, int, float, float]] = []
        for held in deal.held:
            pool, stage, queued, started = held
            if keep_owned and pool == self.owner:
                kept.append(held)
                continue
            holds.append((deal.id, stage, pool, queued, started, now, "released"))
            self._release(self.pools[pool])
        deal.held = kept

    def _stage_end(self, event: Timeout) -> None:
        deal = cast(Deal, event.value)  # the Timeout carries its deal as its value
        now = self.env.now
        stage = deal.stage
        self._release_held(deal, keep_owned=True)
        draws: DealDraws = deal.draws  # type: ignore[assignment]
        passed = draws.pass_u[stage][deal.k] < self.pass_p[stage][deal.grade]
        result = "passed" if passed else self.exit_reason[stage]
        self.records.visits.append((deal.id, stage, deal.entered, deal.started, now, result))
        self.wip[stage] -= 1
        self.records.levels.append((now, WIP0 + stage, self.wip[stage]))
        if stage == IMPLEMENTATION:
            if passed:
                deal.accepted_at = now
                self._milestone(deal, 2, now)
            else:
                deal.cancelled = True
            self._close(deal)
        elif not passed:
            deal.outcome = "lost"
            deal.exit_reason = result
            self._release_held(deal, keep_owned=False)
            self._close(deal)
        else:
            if stage == NEGOTIATION:
                self._sign(deal)
            self._enter(deal, stage + 1)

    def _sign(self, deal: Deal) -> None:
        now = self.env.now
        deal.outcome = "won"
        deal.signed_at = now
        deal.booked = deal.value
        self.records.money.append((deal.id, BOOKING, now, deal.booked))
        self._milestone(deal, 0, now)
        self._release_held(deal, keep_owned=False)

    def _milestone(self, deal: Deal, milestone: int, at: float) -> None:
        """Recognise a milestone's share as revenue at ``at``; its cash follows after a lag."""
        share = self.shares[milestone]
        if share <= 0:
            return
        amount = share * deal.booked
        draws: DealDraws = deal.draws  # type: ignore[assignment]
        money = self.records.money
        money.append((deal.id, REVENUE, at, amount))
        money.append((deal.id, CASH, at + draws.lag[milestone][deal.k], amount))

    def _close(self, deal: Deal) -> None:
        deal.closed_at = self.env.now
        del self.live[deal.id]

    def _finish(self) -> None:
        """Record what is still in flight at the horizon as ``open``."""
        rec = self.records
        for deal in self.live.values():
            rec.visits.append((deal.id, deal.stage, deal.entered, deal.started, NAN, "open"))
            for pool, stage, queued, started in deal.held:
                rec.holds.append((deal.id, stage, pool, queued, started, NAN, "open"))
            order = self.acquire[deal.stage]
            if deal.started != deal.started and deal.pool_i < len(order):  # NaN: still queued
                rec.holds.append(
                    (deal.id, deal.stage, order[deal.pool_i], deal.waiting_since, NAN, NAN, "open")
                )


def run_replication(scenario: Scenario, seed: int, replication: int) -> Records:
    """Simulate one replication and return its plain records."""
    return World(scenario, seed, replication).run()
