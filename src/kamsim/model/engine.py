"""The SimPy world: deals moving through six stages, queueing for limited pools of people.

Design for speed (see ``benchmarks/README.md``): a deal is not a SimPy process. A deal is
its own timer on SimPy's heap (``clock``): each timed step schedules the deal, and the shared
callback moves it on. A pool is a counter with a queue (``pools.PoolState``); a freed slot is
handed straight to the next deal, so a stage visit costs one heap entry instead of a request,
a timeout, a release and generator resumptions. The current time is read once per callback
and passed down. Random inputs are pre-drawn (``draws``); records are tuples appended to
lists; time-weighted monitors log ``(time, series, level)`` and are integrated once at the
end. The cyclic garbage collector is paused during the run (``kamsim.gcpause``).

A stage visit is a short sequence of steps, fixed per stage when the world is built so that a
mechanism that is off costs nothing per event:

``CHECK``    tender only: withdraw when the criteria favour a rival; no-bid below the margin bar
``VISIT``    the stage named by ``policy.executive_engagement``: an executive visit (or skip)
``WORK``     the stage's own work, holding its pools (negotiation paced by period ends;
             implementation scaled by value, with change orders and the delivery milestone)
``CONTRACT`` negotiation with contract approval: an approvers slot
``ESCALATE`` the same again when the discount exceeds ``policy.discount_authority``
``ACCEPT``   implementation: the customer's acceptance delay (Q4 paced)
``DECIDE``   qualification (approval), then the pass draw against the deal's chance

The chance is logistic(logit(grade base) + log odds ratios of the deal's state) multiplied by
0.5^(days queued in the stage / half-life), compared with the deal's pre-drawn uniform. Any
queue wait may end early when the customer's patience runs out (``went_cold``), and a periodic
pipeline review closes or rescues stalled deals; both abort whatever the deal is doing, and
the aborted step's pending timeout is ignored when it fires (the deal is no longer open).
Summed log odds ratios are clipped to +/- ``MAX_LOG_ODDS``, so any count of rivals and any
ratio give a valid chance.

Deal ids: new lead k (in arrival order) has id k; an accepted project with an executive
relationship may bring a follow-on lead, whose id is its parent's plus ``FOLLOW_ON_ID_STRIDE``
(10,000,000). So ``id // stride`` is a deal's generation and ``id % stride`` the new lead its
chain started from; ids are unique but not dense, and ``repeat_of`` names the parent. Chains
stop after ``MAX_FOLLOW_ON_GENERATIONS``, and a replication refuses to start with as many new
leads as the stride. A follow-on's random inputs are keyed to its chain too (see
``_repeat_arrive`` and ``draws``), so paired variants give the same follow-on the same luck.

With ``calendar.drain`` the run goes on past the horizon until every deal has left, for at most
``MAX_DRAIN_MONTHS`` months; deals still in progress then stay ``open``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
import simpy

from kamsim.gcpause import paused_gc
from kamsim.limits import (
    FOLLOW_ON_ID_STRIDE,
    MAX_DRAIN_MONTHS,
    MAX_FOLLOW_ON_GENERATIONS,
    MAX_LOG_ODDS,
)
from kamsim.model.clock import NORMAL, Wake
from kamsim.model.draws import DealDraws, DrawBlock, arrival_times
from kamsim.model.periods import PeriodClock
from kamsim.model.pools import PoolState
from kamsim.model.records import (
    BOOKING,
    CASH,
    NAN,
    OPEN,
    PASSED,
    RELEASED,
    REVENUE,
    WIP0,
    Deal,
    Records,
    result_names,
)
from kamsim.rng import Streams
from kamsim.scenario import Scenario
from kamsim.validation import OddsRatio
from kamsim.vocabulary import DAYS_PER_MONTH, GRADES, POOLS, STAGES

APPROVAL, PROPOSAL, TENDER, NEGOTIATION, IMPLEMENTATION = (
    STAGES.index(s) for s in ("approval", "proposal", "tender", "negotiation", "implementation")
)
ACCOUNT_MANAGERS, APPROVERS, EXECUTIVES = (
    POOLS.index(p) for p in ("account_managers", "approvers", "executives")
)
CHECK, VISIT, WORK, CONTRACT, ESCALATE, ACCEPT, DECIDE = range(7)
TOLERANCE = 1e-12
"""Slack for policy bars compared with recomputed fractions (1 - 0.95 is not 0.05 in floats)."""


def _draw_effect(effect: OddsRatio, streams: Streams, purpose: str) -> float:
    """An effect size for this replication: the number, or one draw of its distribution."""
    if isinstance(effect, int | float):
        return float(effect)
    return float(effect.sample(streams("effect." + purpose), 1)[0])


def log_ratio(ratio: float) -> float:
    """log(ratio) clipped to +/- ``MAX_LOG_ODDS`` (0 gives the lower bound, inf the upper), so
    a sum of a few such terms, even times a competitor count, stays finite."""
    if not ratio > 0.0:
        return -MAX_LOG_ODDS
    return min(max(math.log(ratio), -MAX_LOG_ODDS), MAX_LOG_ODDS)


def with_log_odds(p: float, log_odds: float) -> float:
    """logistic(logit(p) + log_odds), exact at p = 0 and p = 1.

    ``log_odds`` is clipped to +/- ``MAX_LOG_ODDS`` first, so the odds ratio ``r`` stays
    finite and positive and ``p r / (1 - p + p r)`` is a probability for any finite input.
    """
    if log_odds > MAX_LOG_ODDS:
        log_odds = MAX_LOG_ODDS
    elif log_odds < -MAX_LOG_ODDS:
        log_odds = -MAX_LOG_ODDS
    r = math.exp(log_odds)
    return p * r / (1.0 - p + p * r)


class World:
    """One replication of one scenario; ``run()`` returns its :class:`Records`."""

    def __init__(self, scenario: Scenario, seed: int, replication: int) -> None:
        self.scenario = scenario
        self.streams = streams = Streams(seed, replication)
        self.env = simpy.Environment()
        cal = scenario.calendar
        self.horizon = cal.horizon_days
        self.arrivals_until = cal.arrivals_until_days
        self.drain = cal.drain
        pol = scenario.policy
        res = scenario.resources
        order = {"presales": pol.priority.presales, "delivery": pol.priority.delivery}
        self.pools = [
            PoolState(i, res[p].capacity, order.get(p, "fifo")) for i, p in enumerate(POOLS)
        ]
        if pol.am_active_deal_cap is not None:
            ams = res.account_managers
            self.pools[ACCOUNT_MANAGERS].capacity = ams.headcount * min(
                ams.deals_per_person, pol.am_active_deal_cap
            )
        self.owner = ACCOUNT_MANAGERS if res.account_managers.ownership else -1
        grades = scenario.grade_keys
        stages = scenario.stages
        self.pass_p = [[stages[s].pass_for(g) for g in grades] for s in STAGES]
        self.exit_reason = [stages.exit_reason(s) for s in STAGES]
        # Pools each stage's work takes, in the global order; an owned pool is taken once,
        # before development, and never again per stage.
        self.acquire: list[tuple[int, ...]] = []
        for i, s in enumerate(STAGES):
            idx = [POOLS.index(p) for p in stages[s].pools if POOLS.index(p) != self.owner]
            if i == 0 and self.owner >= 0:
                idx = [self.owner, *idx]
            self.acquire.append(tuple(idx))
        # Effect sizes, drawn once per replication when uncertain (``odds``: the ratios as
        # drawn, per stage; ``log_odds``: their logs, which the decisions use).
        self.odds: list[tuple[float, ...] | None] = []
        for s in STAGES:
            o = stages[s].odds
            ratios = tuple(
                _draw_effect(getattr(o, name), streams, f"stages.{s}.odds.{name}")
                for name in ("access", "champion", "executive", "shaped", "competitor")
            )
            self.odds.append(None if all(r == 1.0 for r in ratios) else ratios)
        self.log_odds = [None if o is None else tuple(map(log_ratio, o)) for o in self.odds]
        self.half_life = [stages[s].wait_half_life_days or 0.0 for s in STAGES]
        comp = scenario.competition
        self.shape_p = [comp.shaping_probability.get(g, 0.0) for g in grades]
        so = comp.shaping_odds
        self.shape_log_odds = tuple(
            log_ratio(_draw_effect(getattr(so, n), streams, f"competition.shaping_odds.{n}"))
            for n in ("access", "champion", "executive")
        )
        self.withdraw_p = comp.withdraw_probability
        self.expected_price_discount = comp.price_fight_discount.mean
        self.bid_min_margin = pol.bid_min_margin
        qual = pol.qualification
        self.grade_ok = [GRADES.index(g) <= GRADES.index(qual.min_grade) for g in grades]
        self.min_margin = qual.min_margin
        self.min_value = qual.min_value
        self.engage = (
            -1 if pol.executive_engagement == "none" else STAGES.index(pol.executive_engagement)
        )
        self.exec_skip = pol.executive_wait == "skip"
        self.authority = pol.discount_authority
        self.periods = PeriodClock(scenario.period_end, cal.start.month)
        self.co_share = scenario.implementation.change_order_value_share
        self.repeat_p = scenario.repeat.probability
        pay = scenario.payments
        self.shares = pay.shares
        self.delivery_at = pay.delivery_at
        names = result_names(scenario)
        self.code = {name: i for i, name in enumerate(names)}
        self.records = Records(
            scenario, seed, replication, self.horizon, [p.capacity for p in self.pools], names
        )
        self.live: dict[int, Deal] = {}
        self.wip = [0] * len(STAGES)
        self._arrivals = arrival_times(scenario, streams)
        if len(self._arrivals) >= FOLLOW_ON_ID_STRIDE:
            # Validation bounds expected leads far below this, so no validated scenario gets
            # here; the ids of follow-on leads (see ``_repeat_arrive``) would collide.
            raise ValueError(
                f"replication {replication} drew {len(self._arrivals):,} new leads; deal ids "
                f"allow at most {FOLLOW_ON_ID_STRIDE - 1:,} (FOLLOW_ON_ID_STRIDE)"
            )
        self._draws = DealDraws.draw(scenario, streams, len(self._arrivals))
        self._next = 0
        self._generations: dict[int, DrawBlock] = {}
        self._pending_repeats = 0
        self._rescues: dict[Wake, None] = {}  # executive rescue visits in progress (ordered)
        self.steps = [self._steps(i) for i in range(len(STAGES))]
        self.check_qualification = (
            not all(self.grade_ok) or self.min_margin is not None or self.min_value is not None
        )
        # SimPy's public scheduler; its annotations expect simpy Events (see model.clock).
        self._schedule = cast(Callable[[object, int, float], None], self.env.schedule)
        self._step_cb = [self._step_end]
        self._levels = self.records.levels
        self._visits = self.records.visits
        self._holds = self.records.holds

    def _steps(self, s: int) -> tuple[int, ...]:
        """The steps a visit to stage ``s`` goes through (those that can apply at all)."""
        d = self._draws
        steps = []
        if s == TENDER and (d.withdraw_u is not None or self.bid_min_margin is not None):
            steps.append(CHECK)
        if s == self.engage:
            steps.append(VISIT)
        steps.append(WORK)
        if s == NEGOTIATION and d.approval is not None:
            steps.append(CONTRACT)
            if self.authority is not None:
                steps.append(ESCALATE)
        if s == IMPLEMENTATION and (d.acceptance_delay is not None or self.periods.warps_accept):
            steps.append(ACCEPT)
        steps.append(DECIDE)
        return tuple(steps)

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Records:
        env = self.env
        if self._arrivals:
            self._schedule(Wake(self._arrive), NORMAL, self._arrivals[0])
        review = self.scenario.policy.pipeline_review.every_days
        if review is not None:
            self._schedule(Wake(self._review), NORMAL, review)
        with paused_gc():
            env.run(until=self.horizon)
            if self.drain:
                self._drain()
        self._finish()
        # Open deals still point at the shared callback list, whose bound method points back
        # here: empty it so the returned records do not keep this world alive.
        self._step_cb.clear()
        return self.records

    def _drain(self) -> None:
        """Run on past the horizon until every deal has left, for at most ``MAX_DRAIN_MONTHS``.

        The span is the time the last deal left (the horizon if that was earlier), or the cap
        with deals still in progress, which stay ``open``. Timers that can no longer change
        anything (a patience clock of a deal already served, the step end of a deal that went
        cold) do not extend it.
        """
        env = self.env
        cap = self.horizon + MAX_DRAIN_MONTHS * DAYS_PER_MONTH
        peek, step = env.peek, env.step
        while self._busy() and peek() < cap:
            step()
        self.records.span = cap if self._busy() else max(self.horizon, env.now)

    def _busy(self) -> bool:
        """Whether a deal is in progress, still to arrive, or an executive rescue runs."""
        return bool(
            self.live or self._next < len(self._arrivals) or self._pending_repeats or self._rescues
        )

    def _arrive(self, _: object) -> None:
        k = self._next
        self._next = k + 1
        now = self.env.now
        if k + 1 < len(self._arrivals):
            self._schedule(Wake(self._arrive), NORMAL, self._arrivals[k + 1] - now)
        d = self._draws
        self._start_deal(Deal(k, k, d, d.grade[k], d.account[k], d.value[k], d.margin[k], now), now)

    def _repeat_arrive(self, event: Wake) -> None:
        """A follow-on lead from an accepted project's account, with its grade.

        Its id is its parent's plus ``FOLLOW_ON_ID_STRIDE``: ``id // stride`` is its generation
        g and ``id % stride`` the new lead k whose chain it continues. Its random inputs are row
        k of generation g's block, so they depend on the chain alone, not on which other
        follow-ons happened or in what order: two variants in which the same parent brings a
        follow-on give it the same id and the same luck.
        """
        parent = cast(Deal, event.value)
        self._pending_repeats -= 1
        deal_id = parent.id + FOLLOW_ON_ID_STRIDE
        g, k = divmod(deal_id, FOLLOW_ON_ID_STRIDE)
        block = self._generations.get(g)
        if block is None:
            block = self._generations[g] = DrawBlock(
                self.scenario,
                self.streams,
                len(self._arrivals),
                f"repeat.{g}.",
                np.asarray(self._draws.grade, dtype=np.int64),
            )
        d = block.row(k)
        now = self.env.now
        deal = Deal(deal_id, 0, d, parent.grade, parent.account, d.value[0], d.margin[0], now)
        deal.parent = parent.id
        self._start_deal(deal, now)

    def _start_deal(self, deal: Deal, now: float) -> None:
        d = deal.draws
        k = deal.k
        if d.access is not None:
            deal.access = d.access[k]
        if d.champion_until is not None:  # drawn as time from arrival to losing the champion
            deal.champion_until = now + d.champion_until[k]
        if d.executive is not None:
            deal.executive = d.executive[k]
        if d.competitors is not None:
            deal.competitors = d.competitors[k]
        self.records.deals.append(deal)
        self.live[deal.id] = deal
        self._enter(deal, 0, now)

    # -- stage visits ----------------------------------------------------------------------

    def _enter(self, deal: Deal, stage: int, now: float) -> None:
        deal.stage = stage
        deal.entered = now
        deal.started = NAN
        deal.stage_wait = 0.0
        deal.step = 0
        wip = self.wip[stage] + 1
        self.wip[stage] = wip
        self._levels.append((now, WIP0 + stage, wip))
        self._advance(deal, now)

    def _advance(self, deal: Deal, now: float) -> None:
        """Run the next step of the visit that applies to this deal."""
        s = deal.stage
        steps = self.steps[s]
        while True:
            step = steps[deal.step]
            deal.step += 1
            deal.doing = step
            if step == WORK:
                self._acquire(deal, self.acquire[s], 0, now)
                return
            if step == DECIDE:
                self._decide(deal, now)
                return
            if step == CHECK:
                reason = self._tender_check(deal)
                if reason:
                    self._exit(deal, reason, now)
                    return
            elif step == VISIT:
                pool = self.pools[EXECUTIVES]
                if not (self.exec_skip and pool.busy >= pool.capacity):
                    self._acquire(deal, (EXECUTIVES,), 0, now)
                    return
            elif step == CONTRACT or (
                step == ESCALATE
                and self.authority is not None
                and 1.0 - deal.price_factor > self.authority + TOLERANCE
            ):
                self._acquire(deal, (APPROVERS,), 0, now)
                return
            elif step == ACCEPT:
                d = deal.draws
                delay = 0.0 if d.acceptance_delay is None else d.acceptance_delay[deal.k]
                deal.callbacks = self._step_cb
                self._schedule(deal, NORMAL, self.periods.accept_at(now, delay) - now)
                return

    def _acquire(self, deal: Deal, order: tuple[int, ...], i: int, now: float) -> None:
        """Take the step's pools from ``order[i]`` on; queue at the first full one, or, with
        every pool held, schedule the end of the step."""
        levels = self._levels
        while i < len(order):
            pool = self.pools[order[i]]
            if pool.busy < pool.capacity:
                pool.busy += 1
                levels.append((now, pool.busy_series, pool.busy))
                deal.held.append((pool.index, deal.stage, now, now))
                i += 1
            else:
                deal.pools = order
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
                return
        # Every pool is held: schedule the step's end (inlined: this runs once per step).
        d = deal.draws
        k = deal.k
        step = deal.doing
        if step == WORK:
            s = deal.stage
            deal.started = now
            duration = d.duration[s][k]
            if s == NEGOTIATION:
                duration = self.periods.close_at(now, duration) - now
            elif s == IMPLEMENTATION:
                if d.change_orders is not None and d.change_orders[k]:
                    extra = d.change_orders[k] * self.co_share * deal.booked
                    deal.booked += extra
                    self.records.money.append((deal.id, BOOKING, now, extra))
                    self._milestone(deal, 0, now, extra)
                self._milestone(deal, 1, now + self.delivery_at * duration, deal.booked)
        elif step == VISIT:
            duration = d.visit[k]  # type: ignore[index]
        else:  # CONTRACT or ESCALATE
            duration = d.approval[k]  # type: ignore[index]
        deal.callbacks = self._step_cb
        self._schedule(deal, NORMAL, duration)

    def _step_end(self, deal: Deal) -> None:
        """A deal's timed step ended (the deal is its own event)."""
        if deal.outcome == "lost":  # aborted (went cold or stalled) while this step ran
            return
        now = self.env.now
        if deal.held:
            self._release_held(deal, True, now)
        step = deal.doing
        if step == VISIT:
            deal.executive = True
        elif step == WORK and deal.stage == NEGOTIATION:
            deal.price_factor *= 1.0 - self.periods.discount_at(now)
        self._advance(deal, now)

    def _release(self, pool: PoolState, now: float) -> None:
        """Free one slot: hand it to the first deal waiting, or mark it idle."""
        if pool.queue:
            deal = pool.pop()
            self._levels.append((now, pool.queue_series, len(pool.queue)))
            deal.held.append((pool.index, deal.stage, deal.waiting_since, now))
            deal.stage_wait += now - deal.waiting_since
            deal.queued = None
            self._acquire(deal, deal.pools, deal.pool_i + 1, now)
        else:
            pool.busy -= 1
            self._levels.append((now, pool.busy_series, pool.busy))

    def _release_held(self, deal: Deal, keep_owned: bool, now: float) -> None:
        holds = self._holds
        held = deal.held
        owned = keep_owned and self.owner >= 0
        if owned:
            deal.held = [h for h in held if h[0] == self.owner]
        for pool, stage, queued, started in held:
            if owned and pool == self.owner:
                continue
            holds.append((deal.id, stage, pool, queued, started, now, RELEASED))
            self._release(self.pools[pool], now)
        if not owned:
            held.clear()

    # -- decisions -------------------------------------------------------------------------

    def _log_ratio(self, deal: Deal, o: tuple[float, ...], now: float) -> float:
        """Sum of the log odds ratios ``o`` (a stage's) that apply to the deal now; the
        competitor ratio applies once per rival beyond the first."""
        x = 0.0
        if deal.access:
            x += o[0]
        if now < deal.champion_until:
            x += o[1]
        if deal.executive:
            x += o[2]
        if deal.shaped:
            x += o[3]
        if deal.competitors > 1:
            x += (deal.competitors - 1) * o[4]
        return x

    def _tender_check(self, deal: Deal) -> str:
        d = deal.draws
        if d.withdraw_u is not None and not deal.shaped and d.withdraw_u[deal.k] < self.withdraw_p:
            return "withdrew"
        if self.bid_min_margin is not None:
            discount = 0.0 if deal.shaped else self.expected_price_discount
            margin = 1.0 - (1.0 - deal.margin) / (1.0 - discount)
            if margin < self.bid_min_margin - TOLERANCE:
                return "no_bid"
        return ""

    def _qualified(self, deal: Deal) -> bool:
        return (
            self.grade_ok[deal.grade]
            and (self.min_margin is None or deal.margin >= self.min_margin)
            and (self.min_value is None or deal.value >= self.min_value)
        )

    def _decide(self, deal: Deal, now: float) -> None:
        s = deal.stage
        if s == APPROVAL and self.check_qualification and not self._qualified(deal):
            self._exit(deal, "not_approved", now)
            return
        d = deal.draws
        k = deal.k
        p = self.pass_p[s][deal.grade]
        o = self.log_odds[s]
        if o is not None:
            p = with_log_odds(p, self._log_ratio(deal, o, now))
        if deal.stage_wait and self.half_life[s]:
            p *= 0.5 ** (deal.stage_wait / self.half_life[s])
        if d.pass_u[s][k] >= p:
            if s == IMPLEMENTATION:
                deal.cancelled = True
                self._leave(deal, self.code[self.exit_reason[s]], now)
                self._close(deal, now)
            else:
                self._exit(deal, self.exit_reason[s], now)
            return
        self._visits.append((deal.id, s, deal.entered, deal.started, now, PASSED))  # _leave
        wip = self.wip[s] - 1
        self.wip[s] = wip
        self._levels.append((now, WIP0 + s, wip))
        if s == PROPOSAL and d.shape_u is not None:
            so = self.shape_log_odds
            x = (so[0] if deal.access else 0.0) + (so[2] if deal.executive else 0.0)
            if now < deal.champion_until:
                x += so[1]
            deal.shaped = d.shape_u[k] < with_log_odds(self.shape_p[deal.grade], x)
        elif s == TENDER and not deal.shaped and d.price_discount is not None:
            deal.price_factor *= 1.0 - d.price_discount[k]
        elif s == NEGOTIATION:
            self._sign(deal, now)
        elif s == IMPLEMENTATION:
            self._accept(deal, now)
            return
        self._enter(deal, s + 1, now)

    def _leave(self, deal: Deal, result: int, now: float) -> None:
        """Record the end of the current stage visit."""
        s = deal.stage
        self._visits.append((deal.id, s, deal.entered, deal.started, now, result))
        wip = self.wip[s] - 1
        self.wip[s] = wip
        self._levels.append((now, WIP0 + s, wip))

    def _exit(self, deal: Deal, reason: str, now: float) -> None:
        """The deal leaves before signing, whatever it was doing (``lost``)."""
        code = self.code[reason]
        pool = deal.queued
        if pool is not None:
            pool.remove(deal)
            self._levels.append((now, pool.queue_series, len(pool.queue)))
            self.records.holds.append(
                (deal.id, deal.stage, pool.index, deal.waiting_since, NAN, now, code)
            )
            deal.stage_wait += now - deal.waiting_since
            deal.queued = None
        self._release_held(deal, False, now)
        self._leave(deal, code, now)
        deal.outcome = "lost"
        deal.exit_reason = reason
        self._close(deal, now)

    def _renege(self, event: Wake) -> None:
        deal, waitno = cast(tuple[Deal, int], event.value)
        if deal.queued is not None and deal.waitno == waitno:
            self._exit(deal, "went_cold", self.env.now)

    def _sign(self, deal: Deal, now: float) -> None:
        deal.outcome = "won"
        deal.signed_at = now
        deal.booked = deal.value * deal.price_factor
        self.records.money.append((deal.id, BOOKING, now, deal.booked))
        self._milestone(deal, 0, now, deal.booked)
        if deal.held:
            self._release_held(deal, False, now)

    def _accept(self, deal: Deal, now: float) -> None:
        deal.accepted_at = now
        self._milestone(deal, 2, now, deal.booked)
        d = deal.draws
        if (
            d.repeat_u is not None
            and deal.executive
            and d.repeat_u[deal.k] < self.repeat_p
            and deal.id < MAX_FOLLOW_ON_GENERATIONS * FOLLOW_ON_ID_STRIDE
        ):
            delay = d.repeat_delay[deal.k]  # type: ignore[index]
            if now + delay <= self.arrivals_until:
                self._pending_repeats += 1
                self._schedule(Wake(self._repeat_arrive, deal), NORMAL, delay)
        self._close(deal, now)

    def _milestone(self, deal: Deal, milestone: int, at: float, base: float) -> None:
        """Recognise a milestone's share of ``base`` at ``at``; its cash follows after a lag."""
        share = self.shares[milestone]
        if share <= 0:
            return
        amount = share * base
        money = self.records.money
        money.append((deal.id, REVENUE, at, amount))
        money.append((deal.id, CASH, at + deal.draws.lag[milestone][deal.k], amount))

    def _close(self, deal: Deal, now: float) -> None:
        deal.closed_at = now
        del self.live[deal.id]

    # -- pipeline review -------------------------------------------------------------------

    def _review(self, _: object) -> None:
        """Close or rescue deals stalled in one pre-signing stage for too long."""
        review = self.scenario.policy.pipeline_review
        every = cast(float, review.every_days)  # reviews are scheduled only when set
        now = self.env.now
        execs = self.pools[EXECUTIVES]
        for deal in list(self.live.values()):
            if deal.stage >= IMPLEMENTATION or now - deal.entered <= review.stale_after_days:
                continue
            if review.action == "close":
                self._exit(deal, "stalled", now)
            elif not deal.rescued and execs.busy < execs.capacity:
                deal.rescued = True
                deal.executive = True
                execs.busy += 1
                self._levels.append((now, execs.busy_series, execs.busy))
                visit = deal.draws.visit[deal.k]  # type: ignore[index]
                rescue = Wake(self._rescue_end, (deal, deal.stage, now))
                self._rescues[rescue] = None
                self._schedule(rescue, NORMAL, visit)
        if self.live or self._next < len(self._arrivals) or self._pending_repeats:
            self._schedule(Wake(self._review), NORMAL, every)

    def _rescue_end(self, event: Wake) -> None:
        del self._rescues[event]
        deal, stage, started = cast(tuple[Deal, int, float], event.value)
        now = self.env.now
        self.records.holds.append((deal.id, stage, EXECUTIVES, started, started, now, RELEASED))
        self._release(self.pools[EXECUTIVES], now)

    def _finish(self) -> None:
        """Record what is still in flight at the end as ``open``."""
        rec = self.records
        for deal in self.live.values():
            rec.visits.append((deal.id, deal.stage, deal.entered, deal.started, NAN, OPEN))
            for pool, stage, queued, started in deal.held:
                rec.holds.append((deal.id, stage, pool, queued, started, NAN, OPEN))
            if deal.queued is not None:
                rec.holds.append(
                    (deal.id, deal.stage, deal.queued.index, deal.waiting_since, NAN, NAN, OPEN)
                )
        for rescue in self._rescues:
            deal, stage, started = cast(tuple[Deal, int, float], rescue.value)
            rec.holds.append((deal.id, stage, EXECUTIVES, started, started, NAN, OPEN))


def run_replication(scenario: Scenario, seed: int, replication: int) -> Records:
    """Simulate one replication and return its plain records."""
    return World(scenario, seed, replication).run()
