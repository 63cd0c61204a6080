"""The SimPy world: deals moving through six stages, queueing for limited pools of people.

``World`` is the loop; what a scenario means lives in ``rules`` (settings, built once per
scenario), ``steps`` (what each step of a stage visit does), ``decisions`` (pure chances and
checks), ``review`` (pipeline reviews) and ``follow_ons`` (repeat business).

Design for speed (see ``benchmarks/README.md``): a deal is not a SimPy process but its own
timer on SimPy's heap (``clock.Timer``): each timed step schedules the deal, and one shared
callback moves it on. A pool is a counter with a queue (``pools.PoolState``); a freed slot is
handed straight to the next deal, so a stage visit costs one heap entry instead of a request,
a timeout, a release and generator resumptions. The current time is read once per callback
and passed down. Random inputs are pre-drawn (``draws``); records are tuples appended to
lists; time-weighted monitors log ``(time, series, level)`` and are integrated once at the end.

Any queue wait may end early when the customer's patience runs out (``went_cold``), and a
pipeline review may close a stalled deal; both abort whatever the deal is doing, and the
aborted step's pending timer is ignored when it fires (the deal is no longer open).

With ``calendar.drain`` the run goes on past the horizon until every deal has left, for at most
``MAX_DRAIN_MONTHS`` months; deals still in progress then stay ``open``.

A run may start from a pipeline already under way (``kamsim.pipeline.OpenPipeline``): the
clock then starts on its as-of date, the open deals are placed in their stages there
(``open_deals``) and new leads arrive from that date on. Without one, nothing of this runs.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import Any

import simpy

from kamsim.limits import MAX_ACCOUNTS, MAX_DRAIN_MONTHS
from kamsim.model.clock import NORMAL, Timer, Wake, discard_pending, scheduler
from kamsim.model.deal import NAN, Deal
from kamsim.model.decisions import focus_log_odds
from kamsim.model.draws import NO_CHAMPION, DealDraws, arrival_times
from kamsim.model.follow_ons import FollowOns
from kamsim.model.open_deals import OpenDeals
from kamsim.model.pools import PoolState
from kamsim.model.records import (
    BOOKING,
    CASH,
    OPEN,
    PASSED,
    RELEASED,
    REVENUE,
    WIP0,
    DealColumns,
    Records,
)
from kamsim.model.review import Review
from kamsim.model.rules import Effects, Rules
from kamsim.model.steps import ACCEPTANCE, RETENTION, SIGNING, Step
from kamsim.pipeline import OpenPipeline
from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.vocabulary import DAYS_PER_MONTH, STAGES


class World:
    """One replication of one scenario; ``run()`` returns its :class:`Records`.

    ``pipeline``: deals already open on its as-of date, which becomes the clock's start
    (``OpenPipeline.check`` raises ``ScenarioError`` if it does not fit the scenario).
    """

    def __init__(
        self,
        rules: Rules | Scenario,
        seed: int,
        replication: int,
        pipeline: OpenPipeline | None = None,
    ) -> None:
        self.rules = rules = rules if isinstance(rules, Rules) else Rules(rules)
        self.streams = streams = Streams(seed, replication)
        self.effects = Effects.draw(rules, streams)
        at = 0.0 if pipeline is None else pipeline.check(rules.scenario)
        self.env = simpy.Environment(at) if at else simpy.Environment()
        self.pools: list[PoolState[Deal]] = [
            PoolState(i, c, order)
            for i, (c, order) in enumerate(zip(rules.capacity, rules.queue_order, strict=True))
        ]
        self.records = Records(
            rules.scenario, seed, replication, rules.horizon, list(rules.capacity), rules.results
        )
        self.live: dict[int, Deal] = {}
        self.deals: list[Deal] = []
        self.wip = [0] * len(STAGES)
        self._arrivals = arrival_times(rules.scenario, streams)
        self._draws = DealDraws.draw(rules, streams, len(self._arrivals))
        self.follow_ons = FollowOns(self, self._draws)
        self._next = bisect_left(self._arrivals, at) if at else 0
        """The next new lead; with a pipeline, leads before its as-of date never come."""
        self._open = None if pipeline is None or not pipeline.deals else OpenDeals(self, pipeline)
        self.review = Review(self) if rules.switches.review else None
        self._schedule = scheduler(self.env)
        self._steps = rules.steps  # read once per step: kept at hand
        self._owner = rules.owner
        self._step_cb: list[Callable[[Any], None]] = [self._step_end]
        self._arrive_cb: list[Callable[[Any], None]] = [self._arrive]
        self._arrival = Timer()
        """The timer of the next new lead (a fired timer can be scheduled again)."""
        self._levels = self.records.levels
        self._visits = self.records.visits
        self._holds = self.records.holds
        self._money = self.records.money
        self.am_load = [0] * rules.account_managers
        """Active deals of each named account manager (with ownership)."""
        self._account_owner: dict[int, int] = {}
        """Each account's last owner: its next deal stays with them if they have a slot."""
        self._ties: dict[int, float] = {}
        """Account ties: until when each account's executive relationship lasts."""

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Records:
        env = self.env
        if self._open is not None:
            self._open.place(env.now)
        if self._next < len(self._arrivals):
            self._arrival.callbacks = self._arrive_cb
            self._schedule(self._arrival, NORMAL, self._arrivals[self._next] - env.now)
        if self.review is not None:
            self.review.start()
        env.run(until=self.rules.horizon)
        if self.rules.drain:
            self._drain()
        self._finish()
        self._let_go()
        return self.records

    def _let_go(self) -> None:
        """Break every reference cycle through the world once it has run, so that reference
        counting frees it (deals, draws, pools) as soon as the caller drops it, without
        waiting for the cyclic garbage collector (which ``kamsim.gcpause`` pauses):

        - timers still on SimPy's heap (patience clocks, follow-on leads, reviews) call back
          into the world or its helpers: the heap is emptied;
        - open deals and the arrivals' timer point at shared callback lists, whose bound
          methods point back here;
        - deals still queued point at their pool, whose queue points at them;
        - follow-on leads and reviews point back at the world.

        The world keeps its rules, effects, deals and records; it cannot run again.
        """
        discard_pending(self.env)
        self._step_cb.clear()
        self._arrive_cb.clear()
        for pool in self.pools:
            pool.queue.clear()
        self.review = None
        self._open = None
        del self.follow_ons

    def _drain(self) -> None:
        """Run on past the horizon until every deal has left, for at most ``MAX_DRAIN_MONTHS``.

        The span is the time the last deal left (the horizon if that was earlier), or the cap
        with deals still in progress, which stay ``open``. Timers that can no longer change
        anything (a patience clock of a deal already served, the step end of a deal that went
        cold) do not extend it.
        """
        env = self.env
        horizon = self.rules.horizon
        cap = horizon + MAX_DRAIN_MONTHS * DAYS_PER_MONTH
        peek, step = env.peek, env.step
        while self.in_progress() and peek() < cap:
            step()
        self.records.span = cap if self.in_progress() else max(horizon, env.now)

    def deals_ahead(self) -> bool:
        """Whether a deal is in progress or still to arrive."""
        return bool(self.live or self._next < len(self._arrivals) or self.follow_ons.pending)

    def in_progress(self) -> bool:
        """Whether a deal is in progress or still to arrive, or a rescue visit runs."""
        return self.deals_ahead() or bool(self.review is not None and self.review.rescues)

    def schedule(self, wake: Wake, delay: float) -> None:
        self._schedule(wake, NORMAL, delay)

    def _arrive(self, _: object) -> None:
        k = self._next
        self._next = k + 1
        now = self.env.now
        if k + 1 < len(self._arrivals):
            self._arrival.callbacks = self._arrive_cb  # one timer for every new lead
            self._schedule(self._arrival, NORMAL, self._arrivals[k + 1] - now)
        d = self._draws
        self.start(Deal(k, k, d, d.grade[k], d.account[k], d.value[k], d.margin[k], now), now)

    def start(self, deal: Deal, now: float) -> None:
        """A lead arrives: its relationship state, then its first stage."""
        self.relate(deal, now)
        self.deals.append(deal)
        self.live[deal.id] = deal
        self.enter(deal, 0, now)

    def relate(self, deal: Deal, now: float) -> None:
        """The deal's relationship state as it comes into the run."""
        d = deal.draws
        k = deal.k
        if d.access is not None:
            deal.access = d.access[k]
        if d.champion_until is not None:  # drawn as time from arrival to losing the champion
            lost = d.champion_until[k]
            deal.champion_until = None if lost == NO_CHAMPION else now + lost
        if d.executive is not None:
            deal.executive = d.executive[k]
        if self.rules.ties and self.tied(deal, now):
            deal.executive = True
        if d.competitors is not None:
            deal.competitors = d.competitors[k]

    def resume(
        self, deal: Deal, stage: int, entered: float, work: int, own: Step | None, now: float
    ) -> None:
        """An open deal, in ``stage`` since ``entered``, resumes it at its work (step index
        ``work``); with named account managers it first takes one's slot (``own``)."""
        self.deals.append(deal)
        self.live[deal.id] = deal
        deal.stage = stage
        deal.entered = entered
        deal.stall_from = entered
        wip = self.wip[stage] + 1
        self.wip[stage] = wip
        self._levels.append((now, WIP0 + stage, wip))
        deal.step = work
        if own is None:
            self._advance(deal, now)
        else:
            deal.doing = own
            self.take(deal, own.pools, now)

    # -- stage visits ----------------------------------------------------------------------

    def enter(self, deal: Deal, stage: int, now: float) -> None:
        deal.stage = stage
        deal.entered = now
        deal.stall_from = now
        deal.started = NAN
        deal.stage_wait = 0.0
        deal.step = 0
        wip = self.wip[stage] + 1
        self.wip[stage] = wip
        self._levels.append((now, WIP0 + stage, wip))
        self._advance(deal, now)

    def _advance(self, deal: Deal, now: float) -> None:
        """Start the visit's next steps until one makes the deal wait."""
        steps = self._steps[deal.stage]
        while True:
            step = steps[deal.step]
            deal.step += 1
            deal.doing = step
            if step.plain:
                self.take(deal, step.pools, now)
                return
            if step.start(self, deal, now):
                return

    def busy(self, pool: int) -> bool:
        """Whether every slot of ``pool`` is taken."""
        p = self.pools[pool]
        return p.busy >= p.capacity

    # -- named account managers and account ties -------------------------------------------

    def assign(self, deal: Deal) -> None:
        """The deal, holding an account-manager slot, becomes a named person's: the account's
        last owner if they have a free slot, else the least-loaded (lowest index on ties).
        Someone has a free slot, since the pool's slots are the people's slots."""
        load = self.am_load
        key = _account(deal)
        am = self._account_owner.get(key)
        if am is None or load[am] >= self.rules.am_slots:
            am = min(range(len(load)), key=load.__getitem__)
        load[am] += 1
        deal.owner = am
        self._account_owner[key] = am

    def prefer_owner(self, deal: Deal, am: int) -> None:
        """The deal's account was last with account manager ``am`` (an open deal's owner):
        the deal goes to them if they have a free slot."""
        self._account_owner[_account(deal)] = am

    def focus(self, deal: Deal) -> float:
        """Log odds from the owner's attention, spread over their active deals."""
        if deal.owner < 0:
            return 0.0
        return focus_log_odds(self.effects.focus, self.am_load[deal.owner], self.rules.focus_norm)

    def tie(self, deal: Deal, now: float) -> None:
        """An executive visit: with account ties, the relationship becomes the account's."""
        if not self.rules.ties:
            return
        loss = deal.draws.tie_loss
        until = float("inf") if loss is None else now + loss[deal.k]
        key = _account(deal)
        self._ties[key] = max(until, self._ties.get(key, until))

    def tied(self, deal: Deal, now: float) -> bool:
        """Whether the deal's account has an executive tie now."""
        until = self._ties.get(_account(deal))
        return until is not None and now < until

    def take(self, deal: Deal, pools: tuple[int, ...], now: float, i: int = 0) -> bool:
        """Take the step's pools from ``pools[i]`` on; queue at the first full one, or, with
        every pool held, begin the step's work and schedule its end. Always True: the deal
        now waits."""
        levels = self._levels
        while i < len(pools):
            pool = self.pools[pools[i]]
            if pool.busy < pool.capacity:
                pool.busy += 1
                levels.append((now, pool.busy_series, pool.busy))
                deal.held.append((pool.index, deal.stage, now, now))
                i += 1
            else:
                deal.pools = pools
                deal.pool_i = i
                deal.waiting_since = now
                deal.queued = pool
                deal.waitno += 1
                pool.push(deal)
                levels.append((now, pool.queue_series, len(pool.queue)))
                patience = deal.draws.patience
                if patience is not None and (p := patience[deal.stage]) is not None:
                    left = max(p[deal.k] - deal.stage_wait, 0.0)
                    self._schedule(Wake(self._renege, (deal, deal.waitno)), NORMAL, left)
                return True
        step = deal.doing
        assert step is not None
        deal.callbacks = self._step_cb
        self._schedule(deal, NORMAL, step.begin(self, deal, now))
        return True

    def wait(self, deal: Deal, delay: float) -> bool:
        """The step takes ``delay`` days holding no pool."""
        deal.callbacks = self._step_cb
        self._schedule(deal, NORMAL, delay)
        return True

    def _step_end(self, deal: Deal) -> None:
        """A deal's timed step ended (the deal is its own timer)."""
        if deal.outcome == "lost":  # aborted (went cold or stalled) while this step ran
            return
        now = self.env.now
        held = deal.held
        # Most steps of a deal with ownership end holding only its account manager, whom it
        # keeps: nothing to release then.
        if held and (len(held) > 1 or held[0][0] != self._owner):
            self._release_held(deal, True, now)
        step = deal.doing
        assert step is not None
        if step.ends:
            step.end(self, deal, now)
        self._advance(deal, now)

    def release(self, pool: PoolState[Deal], now: float) -> None:
        """Free one slot: hand it to the first deal waiting, or mark it idle."""
        if pool.queue:
            deal = pool.pop()
            self._levels.append((now, pool.queue_series, len(pool.queue)))
            deal.held.append((pool.index, deal.stage, deal.waiting_since, now))
            deal.stage_wait += now - deal.waiting_since
            deal.queued = None
            self.take(deal, deal.pools, now, deal.pool_i + 1)
        else:
            pool.busy -= 1
            self._levels.append((now, pool.busy_series, pool.busy))

    def _release_held(self, deal: Deal, keep_owned: bool, now: float) -> None:
        holds = self._holds
        held = deal.held
        owner = self._owner if keep_owned else None
        if owner is not None:
            deal.held = [h for h in held if h[0] == owner]
        for pool, stage, queued, started in held:
            if pool == owner:
                continue
            if pool == self._owner:  # the deal signed or left: its owner is free of it
                self.am_load[deal.owner] -= 1
            holds.append((deal.id, stage, pool, queued, started, now, RELEASED))
            self.release(self.pools[pool], now)
        if owner is None:
            held.clear()

    # -- leaving a stage -------------------------------------------------------------------

    def passed(self, deal: Deal, now: float) -> None:
        """Record a passed stage visit (``_leave`` inlined: once per stage visit)."""
        s = deal.stage
        self._visits.append((deal.id, s, deal.entered, deal.started, now, PASSED))
        wip = self.wip[s] - 1
        self.wip[s] = wip
        self._levels.append((now, WIP0 + s, wip))

    def _leave(self, deal: Deal, result: int, now: float) -> None:
        """Record the end of the current stage visit."""
        s = deal.stage
        self._visits.append((deal.id, s, deal.entered, deal.started, now, result))
        wip = self.wip[s] - 1
        self.wip[s] = wip
        self._levels.append((now, WIP0 + s, wip))

    def exit(self, deal: Deal, reason: str, now: float) -> None:
        """The deal leaves before signing, whatever it was doing (``lost``)."""
        code = self.rules.code[reason]
        pool = deal.queued
        if pool is not None:
            pool.remove(deal)
            self._levels.append((now, pool.queue_series, len(pool.queue)))
            self._holds.append(
                (deal.id, deal.stage, pool.index, deal.waiting_since, NAN, now, code)
            )
            deal.stage_wait += now - deal.waiting_since
            deal.queued = None
        self._release_held(deal, False, now)
        self._leave(deal, code, now)
        deal.outcome = "lost"
        deal.exit_reason = reason
        self._close(deal, now)

    def cancel(self, deal: Deal, now: float) -> None:
        """A signed project is cancelled during implementation."""
        deal.cancelled = True
        rules = self.rules
        self._leave(deal, rules.code[rules.exit_reason[deal.stage]], now)
        self._close(deal, now)

    def _renege(self, event: Wake) -> None:
        deal, waitno = event.value
        if deal.queued is not None and deal.waitno == waitno:
            self.exit(deal, "went_cold", self.env.now)

    def sign(self, deal: Deal, now: float) -> None:
        deal.outcome = "won"
        deal.signed_at = now
        deal.booked = deal.value * deal.price_factor
        self.book(deal, deal.booked, now)
        self.milestone(deal, SIGNING, now, deal.booked)
        if deal.held:
            self._release_held(deal, False, now)

    def accept(self, deal: Deal, now: float) -> None:
        deal.accepted_at = now
        self.milestone(deal, ACCEPTANCE, now, deal.booked)
        self.milestone(deal, RETENTION, now, deal.booked)
        self.follow_ons.consider(deal, now)
        self._close(deal, now)

    def book(self, deal: Deal, amount: float, now: float) -> None:
        self._money.append((deal.id, BOOKING, now, amount))

    def milestone(self, deal: Deal, milestone: int, at: float, base: float) -> None:
        """Recognise a milestone's share of ``base`` at ``at``; its cash follows after a lag."""
        share = self.rules.shares[milestone]
        if share <= 0:
            return
        amount = share * base
        money = self._money
        money.append((deal.id, REVENUE, at, amount))
        money.append((deal.id, CASH, at + deal.draws.lag[milestone][deal.k], amount))

    def _close(self, deal: Deal, now: float) -> None:
        deal.closed_at = now
        del self.live[deal.id]

    # -- the end ---------------------------------------------------------------------------

    def _finish(self) -> None:
        """Record what is still in flight at the end as ``open``; deals as plain rows."""
        rec = self.records
        for deal in self.live.values():
            rec.visits.append((deal.id, deal.stage, deal.entered, deal.started, NAN, OPEN))
            for pool, stage, queued, started in deal.held:
                rec.holds.append((deal.id, stage, pool, queued, started, NAN, OPEN))
            if deal.queued is not None:
                rec.holds.append(
                    (deal.id, deal.stage, deal.queued.index, deal.waiting_since, NAN, NAN, OPEN)
                )
        if self.review is not None:
            self.review.finish(rec.holds)
        deals = sorted(self.deals, key=attrgetter("id"))
        rows = map(_DEAL_ROW, deals)  # one tuple per deal, transposed into the columns
        columns = zip(*rows, strict=True) if deals else ([] for _ in _DEAL_COLUMNS)
        rec.deals = DealColumns(**dict(zip(_DEAL_COLUMNS, map(list, columns), strict=True)))


_DEAL_COLUMNS = {
    f.name: {"deal_id": "id", "last_stage": "stage"}.get(f.name, f.name)
    for f in fields(DealColumns)
}
"""Each column of the deals' summary and the live deal's attribute it comes from."""
_DEAL_ROW = attrgetter(*_DEAL_COLUMNS.values())
"""A live deal's summary row, in the order of ``_DEAL_COLUMNS``."""


def _account(deal: Deal) -> int:
    """One number per account across grades (accounts are numbered within their grade)."""
    return deal.grade * MAX_ACCOUNTS + deal.account


def run_replication(
    rules: Rules | Scenario,
    seed: int,
    replication: int,
    pipeline: OpenPipeline | None = None,
) -> Records:
    """Simulate one replication (from ``pipeline``'s open deals, if given) and return its
    plain records."""
    return World(rules, seed, replication, pipeline).run()
