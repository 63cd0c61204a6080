"""The expected funnel of a scenario and its fixed point with the pools' queues.

The engine of ``kamsim check`` (:mod:`kamsim.analytic` turns it into tables). A *walk* takes
one cohort (a grade's new leads, or its follow-on leads) through the six stages under one
guess of the queues, ties and focus, and returns its flows per lead; the *solver* sums the
cohorts' flows into each pool's arrivals and holds, reads the queues off them
(:mod:`kamsim.queueing`), and repeats, damped, until the pool flows settle.

How expectations are taken (a fixed numerical rule, so ``check`` is deterministic):

- Binary relationship state (access, champion at arrival, executive, shaped) is enumerated
  exactly as 16 weighted states; pass, shaping, withdrawal and no-bid draws are carried as
  probabilities, never sampled.
- Continuous inputs (value, margin, durations, rivals, patience, discounts, the calendar day
  a negotiation closes or a customer accepts, champion loss, change orders) and the queue
  waits are a stratified sample of ``SAMPLE`` deals per grade and lead type from a fixed seed:
  each input's values are the means of ``SAMPLE`` equal-probability blocks of a larger sorted
  sample, in a fixed random order, so indicators such as the margin bar are accurate to well
  under 1%.
- A queue wait is 0 with probability P(wait) and otherwise exponential: Erlang C's
  conditional wait, or in Erlang A the rate that makes the share going cold exact, stretched
  by (1 + cv^2) / 2 of the pool's holds (Allen-Cunneen). Patience is the deal's own draw,
  counted over every queue of the stage, as in the engine.
- An odds ratio given as a distribution (drawn once per replication by the engine) enters as
  its geometric mean, exp(E[log OR]).
- Time: the funnel is in steady state, except what builds up over years: account ties and
  follow-on chains are averaged over the measured window (after warm-up, to the horizon),
  and ``busy_window`` also counts the pipeline filling from day 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kamsim.distributions import Distribution, Fixed
from kamsim.limits import MAX_COMPETITORS, MAX_FOLLOW_ON_GENERATIONS, MAX_LOG_ODDS
from kamsim.model.periods import PeriodClock
from kamsim.queueing import QueueFigures, erlang_a, erlang_b
from kamsim.scenario import Scenario
from kamsim.vocabulary import DAYS_PER_MONTH, GRADES, POOLS, STAGES, GradeKey, StageKey

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

SAMPLE = 1024
"""Sample deals per grade and lead type."""
_OVERSAMPLE = 16
_SEED = 20_270_101
_NO_WAIT = 1e-12
"""P(wait) below which a pool's waits are left out (one sample deal in a trillion)."""
_HALF_LOG_ODDS = MAX_LOG_ODDS / 2
"""Two clipped log odds (a deal's and its owner's focus) still sum to a finite odds ratio."""
_TOLERANCE = 1e-3
"""Relative change of the pool flows at which the fixed point stops (the sample's patience
indicators leave a jitter of about 2e-4)."""
_MAX_ITERATIONS = 100
_DAMPING = 0.7
"""Share of a new estimate taken each iteration (halved whenever the change grows)."""
YEAR = 365.0

DEV, APPR, PROP, TEND, NEGO, IMPL = range(len(STAGES))
AM, PRESALES, DELIVERY, APPROVERS, EXECUTIVES = range(len(POOLS))
_ACCESS, _CHAMPION, _EXECUTIVE, _SHAPED = 1, 2, 4, 8
_STATES = np.arange(16)
_BIT_A = ((_STATES & _ACCESS) > 0).astype(float)
_BIT_C = (_STATES & _CHAMPION) > 0
_BIT_E = ((_STATES & _EXECUTIVE) > 0).astype(float)
_BIT_S = ((_STATES & _SHAPED) > 0).astype(float)


# -- numbers of the scenario ---------------------------------------------------------------


def _log_ratio(effect: float | Distribution, rng: np.random.Generator) -> float:
    """log of an odds ratio; a distribution enters as E[log OR] (its geometric mean)."""
    if isinstance(effect, int | float):
        r = float(effect)
        return -MAX_LOG_ODDS if r <= 0 else float(np.clip(math.log(r), -MAX_LOG_ODDS, MAX_LOG_ODDS))
    draws = np.asarray(effect.sample(rng, 200_000), dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.clip(np.log(draws), -MAX_LOG_ODDS, MAX_LOG_ODDS)
    return float(logs.mean())


def _with_log_odds(p: float, log_odds: FloatArray) -> FloatArray:
    """logistic(logit(p) + log_odds), exact at p = 0 and 1 (as the engine computes it)."""
    r = np.exp(np.clip(log_odds, -MAX_LOG_ODDS, MAX_LOG_ODDS))
    return np.asarray(p * r / (1.0 - p + p * r))


def _stratified(dist: Distribution, n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` values standing for ``dist``: the means of n equal-probability blocks of a larger
    sorted sample (so the sample's mean is kept), in a random (fixed-seed) order."""
    if isinstance(dist, Fixed):
        return np.full(n, dist.value)
    draws = np.sort(np.asarray(dist.sample(rng, n * _OVERSAMPLE), dtype=float))
    means = draws.reshape(n, _OVERSAMPLE).mean(axis=1)
    return np.asarray(rng.permutation(means), dtype=float)


def _uniforms(n: int, rng: np.random.Generator) -> FloatArray:
    """Stratified uniforms: one in each of n equal blocks of (0, 1), in random order."""
    return np.asarray((rng.permutation(n) + rng.uniform(size=n)) / n, dtype=float)


@dataclass(frozen=True)
class Model:
    """The scenario's numbers as the walk reads them (per scenario, not per iteration)."""

    scenario: Scenario
    grades: tuple[GradeKey, ...]
    capacity: tuple[int, ...]
    owner: bool
    work_pools: tuple[tuple[int, ...], ...]
    log_odds: tuple[tuple[float, float, float, float, float] | None, ...]
    shaping: tuple[float, float, float]
    focus_log: float
    base: tuple[tuple[float, ...], ...]
    """Pass probability by stage and grade index."""
    half_life: tuple[float, ...]
    stall_half_life: tuple[float, ...]
    stall_norm: tuple[float, ...]
    patience_rate: tuple[float, ...]
    engage: int | None
    skip: bool
    approval: bool
    escalation: bool
    review: bool
    rescue: bool

    def in_window(self, start: FloatArray, end: FloatArray) -> FloatArray:
        """Mean busy slots over the measured window that a hold from ``start`` to ``end`` days
        after its lead brings, per lead a day: leads arrive from day 0 until arrivals stop, so
        a pool deep in the pipeline fills up over the first months (the steady state counts
        ``end - start``). With phi(x) = integral of clip(y, 0, end - start) over [0, x]:
        (phi(t1 - start) - phi(t0 - start) - the same shifted by the arrival stop) / (t1 - t0).
        """
        cal = self.scenario.calendar
        t0, t1 = cal.warmup_days, cal.horizon_days
        stop = cal.arrivals_until_days
        d = np.maximum(end - start, 0.0)

        def phi(x: FloatArray) -> FloatArray:
            x = np.maximum(x, 0.0)
            inside = np.minimum(x, d)
            return np.asarray(inside * inside / 2 + d * np.maximum(x - d, 0.0))

        total = phi(t1 - start) - phi(t0 - start)
        if stop < t1:
            total = total - phi(t1 - stop - start) + phi(t0 - stop - start)
        return np.asarray(total / max(t1 - t0, 1e-9))

    @classmethod
    def of(cls, scenario: Scenario) -> Model:
        rng = np.random.default_rng(_SEED)
        res, pol, stages = scenario.resources, scenario.policy, scenario.stages
        capacity = [res[p].capacity for p in POOLS]
        if pol.am_active_deal_cap is not None:
            ams = res.account_managers
            capacity[AM] = ams.headcount * min(ams.deals_per_person, pol.am_active_deal_cap)
        owner = res.account_managers.ownership
        work: list[tuple[int, ...]] = []
        for i, s in enumerate(STAGES):
            idx = [
                POOLS.index(p) for p in stages[s].pools if not (owner and p == "account_managers")
            ]
            if i == DEV and owner:
                idx = [AM, *idx]
            work.append(tuple(idx))
        log_odds: list[tuple[float, float, float, float, float] | None] = []
        for s in STAGES:
            o = stages[s].odds
            lo = tuple(
                _log_ratio(getattr(o, n), rng)
                for n in ("access", "champion", "executive", "shaped", "competitor")
            )
            log_odds.append(
                None if all(x == 0.0 for x in lo) else (lo[0], lo[1], lo[2], lo[3], lo[4])
            )
        so = scenario.competition.shaping_odds
        shaping = (
            _log_ratio(so.access, rng),
            _log_ratio(so.champion, rng),
            _log_ratio(so.executive, rng),
        )

        def rate(s: StageKey) -> float:
            p = stages[s].patience
            return 0.0 if p is None else 1.0 / max(p.mean, 1e-6)

        review = pol.pipeline_review.every_days is not None
        approval = scenario.contract.approval_days is not None
        return cls(
            scenario=scenario,
            grades=tuple(scenario.grade_keys),
            capacity=tuple(capacity),
            owner=owner,
            work_pools=tuple(work),
            log_odds=tuple(log_odds),
            shaping=shaping,
            focus_log=_log_ratio(scenario.focus.odds_per_deal, rng) if owner else 0.0,
            base=tuple(tuple(stages[s].pass_for(g) for g in scenario.grade_keys) for s in STAGES),
            half_life=tuple(stages[s].wait_half_life_days or 0.0 for s in STAGES),
            stall_half_life=tuple(
                (stages[s].stall_half_life_days or 0.0) if i < IMPL else 0.0
                for i, s in enumerate(STAGES)
            ),
            stall_norm=tuple(stages[s].stall_norm for s in STAGES),
            patience_rate=tuple(rate(s) for s in STAGES),
            engage=None
            if pol.executive_engagement == "none"
            else STAGES.index(pol.executive_engagement),
            skip=pol.executive_wait == "skip",
            approval=approval,
            escalation=approval and pol.discount_authority is not None,
            review=review,
            rescue=review and pol.pipeline_review.action == "rescue",
        )


# -- one cohort: a grade's new leads or its follow-on leads ---------------------------------


@dataclass(frozen=True)
class _Cohort:
    """The stratified sample of one grade and lead type (see the module docstring)."""

    grade: int
    follow_on: bool
    value: FloatArray
    margin: FloatArray
    duration: tuple[FloatArray, ...]
    """Per stage; negotiation already paced by period ends, implementation scaled by value and
    extended by change orders' work."""
    change_orders: FloatArray
    close_discount: FloatArray
    accept_delay: FloatArray
    rivals: FloatArray
    champion_loss: FloatArray
    patience: tuple[FloatArray | None, ...]
    visit: FloatArray
    approval: FloatArray
    price_discount: FloatArray
    qualified: FloatArray
    bar_ok: tuple[FloatArray, FloatArray]
    """Margin bar passed (1) or not (0): (unshaped, shaped)."""
    u_skip: FloatArray
    u_wait: dict[tuple[int, str], FloatArray]
    quarter_lo: tuple[FloatArray | None, ...] = ()
    """Per stage: the log odds its month-of-quarter effect adds at the deal's decision (None:
    no effect)."""

    @classmethod
    def draw(cls, model: Model, grade: int, follow_on: bool) -> _Cohort:
        sc = model.scenario
        g = model.grades[grade]
        rng = np.random.default_rng([_SEED, grade, int(follow_on)])
        n = SAMPLE
        spec = sc.grades[g]
        value = _stratified(spec.value, n, rng)
        margin = _stratified(spec.margin, n, rng)
        durations = [_stratified(sc.stages[s].duration, n, rng) for s in STAGES]
        impl = sc.implementation
        work = durations[IMPL]
        if impl.value_elasticity:
            work = work * (np.maximum(value, 0.0) / impl.reference_value) ** impl.value_elasticity
        co = np.zeros(n)
        if impl.change_orders_per_month > 0:
            mean = impl.change_orders_per_month * work / DAYS_PER_MONTH
            from scipy.stats import poisson  # loaded by a check that has change orders

            co = np.asarray(poisson.ppf(_uniforms(n, rng), mean), dtype=float)
            co = np.nan_to_num(co, nan=0.0)
            work = work + co * impl.change_order_days
        durations[IMPL] = work
        work_days = list(durations)
        periods = PeriodClock(sc.period_end, sc.calendar.start.month)
        phase = _uniforms(n, rng) * YEAR
        close = durations[NEGO]
        discount = np.zeros(n)
        discounts = sc.period_end.month, sc.period_end.quarter, sc.period_end.year
        if periods.warps_close or (periods.window > 0 and any(d.discount for d in discounts)):
            ends = np.array([periods.close_at(t, w) for t, w in zip(phase, close, strict=True)])
            discount = np.array([periods.discount_at(t) for t in ends])
            close = ends - phase
        durations[NEGO] = np.asarray(close, dtype=float)
        delay = _stratified(impl.acceptance_delay_days, n, rng)
        if periods.warps_accept:
            phase2 = _uniforms(n, rng) * YEAR
            delay = np.array(
                [periods.accept_at(t, w) - t for t, w in zip(phase2, delay, strict=True)]
            )
        comp = sc.competition
        rivals = np.minimum(np.floor(_stratified(comp.competitors, n, rng)), MAX_COMPETITORS)
        rel = sc.relationship
        loss = np.full(n, np.inf)
        if rel.champion_loss_per_year > 0:
            loss = -np.log1p(-_uniforms(n, rng)) * YEAR / rel.champion_loss_per_year
        patience = tuple(
            None if (p := sc.stages[s].patience) is None else _stratified(p, n, rng) for s in STAGES
        )
        visit = _stratified(rel.executive_visit_days, n, rng)
        appr_dist = sc.contract.approval_days
        approval = np.zeros(n) if appr_dist is None else _stratified(appr_dist, n, rng)
        price = _stratified(comp.price_fight_discount, n, rng)
        qual = sc.policy.qualification
        ok = GRADES.index(g) <= GRADES.index(qual.min_grade)
        qualified = np.full(n, ok, dtype=bool)
        if qual.min_margin is not None:
            qualified &= margin >= qual.min_margin
        if qual.min_value is not None:
            qualified &= value >= qual.min_value
        bar = sc.policy.bid_min_margin
        bars: list[FloatArray] = []
        for shaped_discount in (comp.price_fight_discount.mean, 0.0):
            if bar is None:
                bars.append(np.ones(n))
            else:
                after = 1.0 - (1.0 - margin) / (1.0 - shaped_discount)
                bars.append((after >= bar - 1e-12).astype(float))
        u_wait: dict[tuple[int, str], FloatArray] = {}
        for s in range(len(STAGES)):
            for slot in ("visit", "contract", "escalate", *(POOLS[p] for p in model.work_pools[s])):
                u_wait[(s, slot)] = _uniforms(n, rng)
        then = {NEGO: approval, IMPL: delay}
        quarter_lo, warped = _quarter(sc, periods, work_days, durations, then, (grade, follow_on))
        for i, (days, ends) in warped.items():
            durations[i] = days
            if i == NEGO:  # its closes moved: so did the discounts of those in a window
                discount = np.array([periods.discount_at(t) for t in ends])
        return cls(
            grade=grade,
            follow_on=follow_on,
            value=value,
            margin=margin,
            duration=tuple(durations),
            change_orders=co,
            close_discount=np.asarray(discount, dtype=float),
            accept_delay=np.asarray(delay, dtype=float),
            rivals=np.asarray(rivals, dtype=float),
            champion_loss=np.asarray(loss, dtype=float),
            patience=patience,
            visit=visit,
            approval=approval,
            price_discount=price,
            qualified=qualified.astype(float),
            bar_ok=(bars[0], bars[1]),
            u_skip=_uniforms(n, rng),
            u_wait=u_wait,
            quarter_lo=quarter_lo,
        )


def _quarter(
    sc: Scenario,
    periods: PeriodClock,
    work: list[FloatArray],
    durations: list[FloatArray],
    after: dict[int, FloatArray],
    cohort: tuple[int, bool],
) -> tuple[tuple[FloatArray | None, ...], dict[int, tuple[FloatArray, FloatArray]]]:
    """Stages' month-of-quarter effects on a cohort: the work of a paced stage, started on a
    uniform day of the year (steady state), walked through the stage's pace; and the log odds
    of the month of quarter its decision falls in (work's end, plus contract approval or the
    acceptance delay that follow it). Returns the log odds by stage and, per paced stage, its
    durations and ends. Its own stream: scenarios without the effect draw as before."""
    rng = np.random.default_rng([_SEED, *map(int, cohort), 1])
    quarter_lo: list[FloatArray | None] = [None] * len(STAGES)
    warped: dict[int, tuple[FloatArray, FloatArray]] = {}
    for i, s in enumerate(STAGES):
        q = sc.stages[s].month_of_quarter
        if q is None or not (q.warps or q.shifts):
            continue
        start = _uniforms(len(work[i]), rng) * YEAR
        if q.warps or i == NEGO:  # negotiation: its closes from these starts, windows too
            warp = periods.stage_warp(q.pace, i == NEGO)
            ends = np.array([warp.at(t, w) for t, w in zip(start, work[i], strict=True)])
            warped[i] = (ends - start, ends)
        else:
            ends = start + durations[i]
        if q.shifts:
            decided = ends + after.get(i, 0.0)
            months = [periods.month_of_quarter(t) for t in decided]
            quarter_lo[i] = np.asarray(q.log_odds, dtype=float)[months]
    return tuple(quarter_lo), warped


@dataclass
class _Env:
    """What the walk reads of the queues and of the other cohorts (one iteration's guess)."""

    p_wait: list[float]
    wait_rate: list[float]
    skip_busy: float = 0.0
    rescue_busy: float = 0.0
    tie: dict[int, float] = field(default_factory=dict)
    """Chance that a new lead's account has an executive tie, by grade index."""
    tie_follow_on: dict[int, float] = field(default_factory=dict)
    focus: tuple[tuple[float, float], ...] = ()
    """The owner's focus as (log odds shift, chance) pairs; empty: no focus effect."""


@dataclass
class Flow:
    """Per lead of a cohort: stage flows, pool flows and money."""

    entered: FloatArray = field(default_factory=lambda: np.zeros(len(STAGES)))
    passed: FloatArray = field(default_factory=lambda: np.zeros(len(STAGES)))
    exits: list[dict[str, float]] = field(default_factory=lambda: [{} for _ in STAGES])
    arrivals: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Deals arriving at each pool (queueing or taking it)."""
    served: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    busy: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Slot-days held."""
    busy_window: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Slot-days held, as the measured window sees them (see ``Model.in_window``)."""
    hold2: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Sum of squared holds (for the holds' spread, Allen-Cunneen)."""
    hazard: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Arrivals times their patience rate (for Erlang A's mean patience rate)."""
    loss_arrivals: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Arrivals that take a slot only when one is free (skipped visits, rescues)."""
    visits: float = 0.0
    visits_tied: float = 0.0
    """Of the visits, those of deals that already had an executive relationship (before the
    engagement stage that is a tie or the arrival draw: the deal's start)."""
    p_start: float = 0.0
    """Chance that a lead starts with an executive relationship (arrival draw or tie)."""
    p_drawn: float = 0.0
    """Chance of the arrival draw alone."""
    visit_days: float = 0.0
    """Sum over visits of days from the lead to the visit."""
    repeat_days: float = 0.0
    """Sum over follow-on leads of days from the parent lead to the parent's acceptance."""
    """Executive relationships built by completed visits (engagement and rescue)."""
    wins: float = 0.0
    bookings: float = 0.0
    cycle: float = 0.0
    """Sum over wins of days from lead to signature."""
    repeat: float = 0.0
    """Follow-on leads brought."""
    repeat_tied: float = 0.0
    """Of those, leads whose parent built an executive relationship by a visit."""
    repeat_gap: float = 0.0
    """Their summed days from that visit to the parent's acceptance."""


class _Walk:
    """One cohort's deals walked through the six stages under one environment.

    Weights ``A`` (sample x state) are the chance that sample deal i is alive in state k; times
    ``T`` (since arrival) and ``t_in``/``cw`` (in the stage, queued in the stage) are per
    sample and state because escalation depends on the shaped state.
    """

    def __init__(self, model: Model, cohort: _Cohort, env: _Env, queues: bool) -> None:
        self.m, self.c, self.env, self.queues = model, cohort, env, queues
        self.f = Flow()
        sc = model.scenario
        g = model.grades[cohort.grade]
        rel = sc.relationship
        pa = rel.access_probability.get(g, 0.0)
        pc = rel.champion_probability.get(g, 0.0)
        drawn = rel.executive_probability.get(g, 0.0)
        tie = (env.tie_follow_on if cohort.follow_on else env.tie).get(cohort.grade, 0.0)
        pe = 1.0 - (1.0 - drawn) * (1.0 - tie)
        self.f.p_start, self.f.p_drawn = pe, drawn
        start = (
            np.where(_BIT_A > 0, pa, 1 - pa)
            * np.where(_BIT_C, pc, 1 - pc)
            * np.where(_BIT_E > 0, pe, 1 - pe)
            * (_BIT_S == 0)
        )
        n = SAMPLE
        self.A: FloatArray = np.tile(start / n, (n, 1))
        self.T: FloatArray = np.zeros((n, 16))
        self.t_in: FloatArray = np.zeros((n, 16))
        self.cw: FloatArray = np.zeros((n, 16))
        self.held: list[int] = []
        self.acquired: dict[int, FloatArray] = {}
        """Time in the stage at which each held pool was taken."""
        self.owner_held = False
        self.owner_from: FloatArray = np.zeros((n, 16))
        """Time since arrival at which the account manager was taken."""
        self.work_span: tuple[FloatArray, FloatArray] | None = None
        """Start and end of the stage's work (time in the stage), for review closes."""
        self.work_pools_held: list[int] = []
        self.visited: FloatArray = np.zeros(n)
        """Chance that the deal built an executive relationship by a visit."""
        self.visit_time: FloatArray = np.zeros((n, 16))
        self.eligible: FloatArray = np.ones(n)
        """Share of the sample's weight not yet rescued (a deal is rescued once; per sample,
        whatever its state)."""

    # -- time and pools --------------------------------------------------------------------

    def _accrue(self, dt: FloatArray) -> None:
        """Every held pool is busy for ``dt`` more days (by sample and state) from now."""
        if not self.held and not self.owner_held:
            return
        total = float((self.A * dt).sum())
        if total == 0.0:
            return
        start = self.T + self.t_in
        window = float((self.A * self.m.in_window(start, start + dt)).sum())
        for p in self.held:
            self.f.busy[p] += total
            self.f.busy_window[p] += window
        if self.owner_held:
            self.f.busy[AM] += total
            self.f.busy_window[AM] += window

    def _unbusy(self, pool: int, days: float) -> None:
        """Take back slot-days counted for a hold that a review cut short."""
        f = self.f
        share = f.busy_window[pool] / f.busy[pool] if f.busy[pool] > 0 else 1.0
        f.busy[pool] -= days
        f.busy_window[pool] -= days * share

    def _exit(self, stage: int, reason: str, weight: FloatArray) -> None:
        w = float(weight.sum())
        if w > 0:
            ex = self.f.exits[stage]
            ex[reason] = ex.get(reason, 0.0) + w
            if self.owner_held:
                hold = self.T + self.t_in - self.owner_from
                self.f.hold2[AM] += float((weight * hold * hold).sum())
        self.A = self.A - weight

    def _queue(self, stage: int, pool: int, slot: str, mask: FloatArray | None = None) -> None:
        """Queue for ``pool`` (with the stage's patience), then hold it."""
        A = self.A if mask is None else self.A * mask
        arriving = float(A.sum())
        self.f.arrivals[pool] += arriving
        self.f.hazard[pool] += arriving * self.m.patience_rate[stage]
        pw, rate = self.env.p_wait[pool], self.env.wait_rate[pool]
        if self.queues and pw > _NO_WAIT and rate < math.inf:
            u = self.c.u_wait[(stage, slot)]
            tail = math.log(pw) - np.log(np.maximum(1.0 - u, 1e-300))
            v = np.where(u < 1.0 - pw, 0.0, np.maximum(tail, 0.0) / max(rate, 1e-300))
            v2 = np.broadcast_to(v[:, None], A.shape)
            pat = self.c.patience[stage]
            if pat is not None:
                left = np.maximum(pat[:, None] - self.cw, 0.0)
                cold = v2 > left
                dt = np.where(cold, left, v2)
            else:
                cold = None
                dt = v2
            if mask is not None:
                dt = dt * mask
            self._accrue(dt)
            if cold is not None:
                out = A * cold
                self._exit(stage, "went_cold", out)
            self.cw = self.cw + dt
            self.t_in = self.t_in + dt
        served = self.A if mask is None else self.A * mask
        self.f.served[pool] += float(served.sum())
        self.held.append(pool)
        self.acquired[pool] = self.t_in.copy()

    def _hold(self, dt: FloatArray) -> None:
        """Work of ``dt`` days (per sample, or per sample and state) holding ``self.held``."""
        d = dt[:, None] if dt.ndim == 1 else dt
        self._accrue(np.broadcast_to(d, self.A.shape))
        self.t_in = self.t_in + d

    def _release(self) -> None:
        for p in self.held:
            hold = self.t_in - self.acquired[p]
            self.f.hold2[p] += float((self.A * hold * hold).sum())
        self.held = []

    def _set_executive(self, share: FloatArray) -> None:
        """Move ``share`` (per sample) of each state without an executive relationship to the
        same state with one (column k to column k + 4)."""
        moved = self.A[:, _BIT_E == 0] * share[:, None]
        self.A[:, _BIT_E == 0] -= moved
        self.A[:, _BIT_E > 0] += moved

    # -- steps -----------------------------------------------------------------------------

    def _check(self) -> None:
        """Tender: withdraw when unshaped, no-bid by chance, no-bid below the margin bar."""
        sc = self.m.scenario
        comp = sc.competition
        w = comp.withdraw_probability * (1.0 - _BIT_S)
        if comp.withdraw_probability > 0:
            self._exit(TEND, "withdrew", self.A * w)
        g = self.m.grades[self.c.grade]
        q = comp.no_bid_probability.get(g, 0.0)
        ok = np.where(_BIT_S > 0, self.c.bar_ok[1][:, None], self.c.bar_ok[0][:, None])
        stay = (1.0 - q) * ok
        self._exit(TEND, "no_bid", self.A * (1.0 - stay))

    def _visit(self, stage: int) -> None:
        """An executive visit: queue (or skip when every executive is busy), hold, and the
        deal has an executive relationship."""
        m = self.m
        if m.skip:
            arriving = float(self.A.sum())
            self.f.arrivals[EXECUTIVES] += arriving
            self.f.loss_arrivals[EXECUTIVES] += arriving
            busy = self.env.skip_busy if self.queues else 0.0
            went = (self.c.u_skip >= busy).astype(float)
            self.f.served[EXECUTIVES] += float((self.A * went[:, None]).sum())
            self.held.append(EXECUTIVES)
            self.acquired[EXECUTIVES] = self.t_in.copy()
            self._hold(self.c.visit * went)
        else:
            self._queue(stage, EXECUTIVES, "visit")
            self._hold(self.c.visit)
            went = np.ones(SAMPLE)
        self._release()
        self.f.visits += float((self.A * went[:, None]).sum())
        self.f.visits_tied += float((self.A[:, _BIT_E > 0] * went[:, None]).sum())
        self.visited = np.maximum(self.visited, went)
        self.visit_time = np.where(went[:, None] > 0, self.T + self.t_in, self.visit_time)
        self.f.visit_days += float((self.A * went[:, None] * (self.T + self.t_in)).sum())
        self._set_executive(went)

    def _work(self, stage: int) -> None:
        for p in self.m.work_pools[stage]:
            if p == AM and self.m.owner:
                self._queue(stage, p, POOLS[p])
                self.held.remove(AM)
                self.owner_held = True
                self.owner_from = self.T + self.t_in
            else:
                self._queue(stage, p, POOLS[p])
        c = self.c
        if stage == IMPL:
            # Change orders book value when delivery work starts.
            extra = c.change_orders * self.m.scenario.implementation.change_order_value_share
            self.f.bookings += float((self.A * self._booked() * extra[:, None]).sum())
        start = self.t_in
        self._hold(c.duration[stage])
        self.work_span = (start, self.t_in)
        self.work_pools_held = list(self.held)
        self._release()

    def _booked(self) -> FloatArray:
        """Signed value by sample and state: value after price-fight and period-end discounts."""
        c = self.c
        fight = c.price_discount[:, None] * (1.0 - _BIT_S)
        return np.asarray(c.value[:, None] * (1.0 - fight) * (1.0 - c.close_discount[:, None]))

    def _contract(self) -> None:
        self._queue(NEGO, APPROVERS, "contract")
        self._hold(self.c.approval)
        self._release()
        if self.m.escalation:
            authority = self.m.scenario.policy.discount_authority
            assert authority is not None
            c = self.c
            fight = c.price_discount[:, None] * (1.0 - _BIT_S)
            total = 1.0 - (1.0 - fight) * (1.0 - c.close_discount[:, None])
            mask = (total > authority + 1e-12).astype(float)
            if mask.any():
                self._queue(NEGO, APPROVERS, "escalate", mask)
                self._hold(self.c.approval[:, None] * mask)
                self._release()

    def _chance(
        self, stage: int, executive: bool = False, stall_from: FloatArray | None = None
    ) -> FloatArray:
        """Pass chance by sample and state at the decision (``executive``: as if the deal had
        an executive relationship; ``stall_from``: the stall clock restarted then)."""
        m, c = self.m, self.c
        base = m.base[stage][c.grade]
        o = m.log_odds[stage]
        lo: FloatArray | float = 0.0
        if o is not None:
            ex = 1.0 if executive else _BIT_E
            by_state = _BIT_A * o[0] + ex * o[2] + _BIT_S * o[3]
            lo = by_state + np.maximum(c.rivals - 1.0, 0.0)[:, None] * o[4]
            if o[1] != 0.0:
                champ = _BIT_C & (self.T + self.t_in < c.champion_loss[:, None])
                lo = lo + champ * o[1]
        quarter = c.quarter_lo[stage] if c.quarter_lo else None
        if quarter is not None:
            lo = lo + quarter[:, None]
        lo = np.broadcast_to(lo, self.A.shape)
        focus = self.env.focus if stage < IMPL else ()
        if focus and 0.0 < base < 1.0:
            # Mix over the owner's active deals (log odds shift, weight).
            inv = np.exp(-np.clip(lo, -_HALF_LOG_ODDS, _HALF_LOG_ODDS)) * ((1.0 - base) / base)
            p = np.zeros(self.A.shape)
            for shift, w in focus:
                p += w / (1.0 + inv * math.exp(-shift))
        else:
            p = _with_log_odds(base, lo)
        h = m.half_life[stage]
        if h:
            p = p * np.exp2(-self.cw / h)
        sh = m.stall_half_life[stage]
        if sh:
            t = self.t_in if stall_from is None else self.t_in - stall_from
            p = p * np.exp2(-np.maximum(t - m.stall_norm[stage], 0.0) / sh)
        return p

    def _decide(self, stage: int) -> FloatArray:
        """Qualification, reviews, then the pass draw; returns the weight that passes."""
        m, sc = self.m, self.m.scenario
        if stage == APPR:
            self._exit(APPR, "not_approved", self.A * (1.0 - self.c.qualified[:, None]))
        rescued: FloatArray | None = None
        caught_at: FloatArray | None = None
        if m.review and stage < IMPL:
            rv = sc.policy.pipeline_review
            every = rv.every_days
            assert every is not None
            over = self.t_in - rv.stale_after_days
            caught = np.clip(over / every, 0.0, 1.0)
            caught_at = rv.stale_after_days + np.minimum(np.maximum(over, 0.0), every) / 2
            if not m.rescue:
                out = self.A * caught
                if self.owner_held:  # the account manager is free from the review on
                    self._unbusy(AM, float((out * (self.t_in - caught_at)).sum()))
                if self.work_span is not None:  # so are the pools of unfinished work
                    w0, w1 = self.work_span
                    left = np.maximum(w1 - np.maximum(caught_at, w0), 0.0)
                    for pool in self.work_pools_held:
                        self._unbusy(pool, float((out * left).sum()))
                self._exit(stage, "stalled", out)
            else:
                attempts = self.A * self.eligible[:, None] * caught
                busy = self.env.rescue_busy if self.queues else 0.0
                rescued = attempts * (1.0 - busy)
                a = float(attempts.sum())
                r = float(rescued.sum())
                self.f.arrivals[EXECUTIVES] += a
                self.f.loss_arrivals[EXECUTIVES] += a
                self.f.served[EXECUTIVES] += r
                self.f.busy[EXECUTIVES] += float((rescued * self.c.visit[:, None]).sum())
                start = self.T + caught_at
                self.f.busy_window[EXECUTIVES] += float(
                    (rescued * self.m.in_window(start, start + self.c.visit[:, None])).sum()
                )
                self.f.hold2[EXECUTIVES] += float((rescued * self.c.visit[:, None] ** 2).sum())
                self.f.visits += r
                self.f.visits_tied += float(rescued[:, _BIT_E > 0].sum())
        p = self._chance(stage)
        if rescued is not None and caught_at is not None and float(rescued.sum()) > 0:
            pr = self._chance(stage, executive=True, stall_from=caught_at)
            plain = self.A - rescued
            win_plain = plain * p
            win_res = rescued * pr
            fail = plain * (1 - p) + rescued * (1 - pr)
            self._exit(stage, self._reason(stage), fail)
            # Rescued weight passes with an executive relationship (column k to k | 4).
            new = win_plain.copy()
            new[:, _BIT_E > 0] += win_res[:, _BIT_E > 0] + win_res[:, _BIT_E == 0]
            alive = self.A.sum(axis=1)
            share = np.divide(rescued.sum(axis=1), alive, out=np.zeros_like(alive), where=alive > 0)
            self.eligible = self.eligible * (1.0 - np.clip(share, 0.0, 1.0))
            self.A = new
            return new
        self._exit(stage, self._reason(stage), self.A * (1.0 - p))
        return self.A

    def _reason(self, stage: int) -> str:
        return self.m.scenario.stages.exit_reason(STAGES[stage])

    # -- the walk --------------------------------------------------------------------------

    def run(self) -> Flow:
        m, c, f = self.m, self.c, self.f
        sc = m.scenario
        for s in range(len(STAGES)):
            f.entered[s] = float(self.A.sum())
            self.t_in = np.zeros_like(self.A)
            self.cw = np.zeros_like(self.A)
            self.work_span = None
            self.work_pools_held = []
            if s == TEND:
                self._check()
            if m.engage == s:
                self._visit(s)
            self._work(s)
            if s == NEGO and m.approval:
                self._contract()
            if s == IMPL:
                self.t_in = self.t_in + c.accept_delay[:, None]
            self._decide(s)
            f.passed[s] = float(self.A.sum())
            if s == PROP and sc.competition.shaping_probability.get(m.grades[c.grade], 0.0) > 0:
                self._shape()
            if s == NEGO:
                self._sign()
            self.T = self.T + self.t_in
        # Accepted projects with an executive relationship bring follow-on leads.
        p = sc.repeat.probability
        if p > 0:
            # An executive relationship of its own, or the account's tie at acceptance.
            tie = self.env.tie.get(c.grade, 0.0)
            ex = self.A * (_BIT_E + (1.0 - _BIT_E) * tie)
            f.repeat = float(ex.sum()) * p
            tied = ex * self.visited[:, None]
            f.repeat_tied = float(tied.sum()) * p
            f.repeat_gap = float((tied * (self.T - self.visit_time)).sum()) * p
            f.repeat_days = float((ex * self.T).sum()) * p
        return f

    def _shape(self) -> None:
        m, c = self.m, self.c
        g = m.grades[c.grade]
        base = m.scenario.competition.shaping_probability.get(g, 0.0)
        champ = _BIT_C & (self.T + self.t_in < c.champion_loss[:, None])
        a, ch, e = m.shaping
        p = _with_log_odds(base, _BIT_A * a + champ * ch + _BIT_E * e)
        moved = self.A[:, _BIT_S == 0] * p[:, _BIT_S == 0]
        self.A[:, _BIT_S == 0] -= moved
        self.A[:, _BIT_S > 0] += moved
        # Shaped and unshaped states of one sample share their times so far.

    def _sign(self) -> None:
        f = self.f
        f.wins += float(self.A.sum())
        f.bookings += float((self.A * self._booked()).sum())
        f.cycle += float((self.A * (self.T + self.t_in)).sum())
        if self.owner_held:
            hold = self.T + self.t_in - self.owner_from
            f.hold2[AM] += float((self.A * hold * hold).sum())
        self.owner_held = False


# -- the fixed point ------------------------------------------------------------------------


_BLOCKS = 6
"""Pool figures in ``Totals.vector``: arrivals, served, busy, hazard, loss arrivals, hold2."""


@dataclass
class Totals:
    """Rates per day summed over cohorts (what the queues and ties see)."""

    arrivals: FloatArray
    served: FloatArray
    busy: FloatArray
    hazard: FloatArray
    loss_arrivals: FloatArray
    hold2: FloatArray
    visits: dict[int, float]
    leads: dict[tuple[int, bool], float]
    flows: dict[tuple[int, bool], Flow]
    busy_window: FloatArray = field(default_factory=lambda: np.zeros(len(POOLS)))
    """Mean busy slots over the measured window (new leads fill the pipeline from day 0;
    follow-on leads count at their rate over the window)."""

    @classmethod
    def empty(
        cls, leads: dict[tuple[int, bool], float], flows: dict[tuple[int, bool], Flow]
    ) -> Totals:
        z = len(POOLS)
        return cls(
            np.zeros(z),
            np.zeros(z),
            np.zeros(z),
            np.zeros(z),
            np.zeros(z),
            np.zeros(z),
            visits={},
            leads=leads,
            flows=flows,
        )

    def vector(self) -> FloatArray:
        return np.concatenate(
            [self.arrivals, self.served, self.busy, self.hazard, self.loss_arrivals, self.hold2]
        )


def _new_lead_rate(scenario: Scenario) -> float:
    """New leads per day: the mean rate over the arrival window (seasonality averages out
    over whole years)."""
    _, lengths, rates = scenario.arrival_months()
    total = float(np.sum(lengths))
    return float(np.dot(rates, lengths) / total) if total > 0 else 0.0


def _window(scenario: Scenario) -> tuple[float, float]:
    """The days the KPIs measure: after warm-up, up to the horizon."""
    cal = scenario.calendar
    return cal.warmup_days, cal.horizon_days


def _covered(start: float, scenario: Scenario) -> float:
    """Share of the measured window after ``start`` (a stream that begins then)."""
    t0, t1 = _window(scenario)
    t1 = min(t1, scenario.calendar.arrivals_until_days)
    if t1 <= t0:
        return 0.0
    return max(0.0, t1 - max(t0, start)) / (t1 - t0)


def _chain(r_first: float, r: float, lag: float, scenario: Scenario) -> float:
    """Follow-on leads per new lead over the measured window: generation g (r_first r^(g-1)
    per new lead) starts ``g x lag`` days into the run, for at most the engine's generations."""
    total, rate = 0.0, r_first
    for g in range(1, MAX_FOLLOW_ON_GENERATIONS + 1):
        cover = _covered(g * lag, scenario)
        if cover <= 0 or rate <= 1e-12:
            break
        total += rate * cover
        rate *= r
    return total


class Solver:
    def __init__(self, scenario: Scenario) -> None:
        self.model = Model.of(scenario)
        m = self.model
        repeat = scenario.repeat.probability > 0
        self.cohorts: dict[tuple[int, bool], _Cohort] = {}
        for gi, g in enumerate(m.grades):
            if scenario.grades[g].share <= 0:
                continue
            for follow in (False, True) if repeat else (False,):
                self.cohorts[(gi, follow)] = _Cohort.draw(m, gi, follow)
        self.lead_rate = _new_lead_rate(scenario)

    def totals(self, env: _Env, queues: bool) -> Totals:
        m = self.model
        sc = m.scenario
        flows = {key: _Walk(m, c, env, queues).run() for key, c in self.cohorts.items()}
        leads: dict[tuple[int, bool], float] = {}
        for (gi, follow), _ in self.cohorts.items():
            if follow:
                continue
            new = self.lead_rate * sc.grades[m.grades[gi]].share
            leads[(gi, False)] = new
            if (gi, True) in flows:
                fn, ff = flows[(gi, False)], flows[(gi, True)]
                lag = sc.repeat.delay_days.mean
                lag += fn.repeat_days / fn.repeat if fn.repeat > 0 else 0.0
                leads[(gi, True)] = new * _chain(fn.repeat, ff.repeat, lag, sc)
        t = Totals.empty(leads, flows)
        for key, fl in flows.items():
            rate = leads[key]
            t.arrivals += rate * fl.arrivals
            t.served += rate * fl.served
            t.busy += rate * fl.busy
            t.hazard += rate * fl.hazard
            t.loss_arrivals += rate * fl.loss_arrivals
            t.hold2 += rate * fl.hold2
            t.busy_window += rate * (fl.busy if key[1] else fl.busy_window)
            t.visits[key[0]] = t.visits.get(key[0], 0.0) + rate * fl.visits
        return t

    def env_from(self, t: Totals, queues: bool) -> tuple[_Env, list[QueueFigures]]:
        m = self.model
        sc = m.scenario
        figures = [self._queue(p, t) for p in range(len(POOLS))]
        env = _Env(
            p_wait=[f.p_wait if f.stable else 0.0 for f in figures],
            wait_rate=[f.wait_rate if f.stable else math.inf for f in figures],
        )
        ex = figures[EXECUTIVES]
        loss_only = t.loss_arrivals[EXECUTIVES] >= t.arrivals[EXECUTIVES] * (1 - 1e-12)
        if t.arrivals[EXECUTIVES] > 0:
            if loss_only:
                hold = t.busy[EXECUTIVES] / t.served[EXECUTIVES] if t.served[EXECUTIVES] else 0.0
                blocked = erlang_b(m.capacity[EXECUTIVES], t.arrivals[EXECUTIVES] * hold)
            else:
                blocked = ex.p_wait
            env.skip_busy = env.rescue_busy = blocked
        # Executive ties by account: visits per account and day against the tie's loss.
        rel = sc.relationship
        if rel.account_ties:
            loss = rel.tie_loss_per_year / YEAR
            for gi, g in enumerate(m.grades):
                key = (gi, False)
                fl = t.flows.get(key)
                if fl is None:
                    continue
                # Visits per account and day while it is tied and while it is not: a lead at
                # a tied account starts with the relationship, which changes its visits.
                leads = sum(rate for (gj, _), rate in t.leads.items() if gj == gi)
                per_account = leads / sc.grades[g].accounts
                untied_visits = fl.visits - fl.visits_tied
                v0 = untied_visits / (1.0 - fl.p_start) if fl.p_start < 1.0 else 0.0
                v1 = fl.visits_tied / fl.p_start if fl.p_start > 0.0 else v0
                nu1 = per_account * v1
                nu0 = per_account * (fl.p_drawn * v1 + (1.0 - fl.p_drawn) * v0)
                lag = fl.visit_days / fl.visits if fl.visits > 0 else 0.0
                env.tie[gi] = _tie_share(nu0, nu1, loss, lag, sc)
                if fl is not None and fl.repeat > 0:
                    gap = fl.repeat_gap / fl.repeat_tied if fl.repeat_tied > 0 else 0.0
                    gap += sc.repeat.delay_days.mean
                    own = fl.repeat_tied / fl.repeat * math.exp(-loss * gap)
                    env.tie_follow_on[gi] = 1.0 - (1.0 - env.tie[gi]) * (1.0 - own)
                else:
                    env.tie_follow_on[gi] = env.tie[gi]
        # Focus: the owner's active deals at a pass draw (the deal itself and a Poisson count
        # of others around the pool's mean load per person, within the person's slots).
        if m.focus_log != 0.0:
            env.focus = _focus_mix(m, float(t.busy[AM]))
        if not queues:
            env.p_wait = [0.0] * len(POOLS)
            env.skip_busy = env.rescue_busy = 0.0
        return env, figures

    def _queue(self, pool: int, t: Totals) -> QueueFigures:
        lam = float(t.arrivals[pool])
        if lam <= 0:
            return erlang_a(self.model.capacity[pool], 0.0, 1.0, 0.0)
        busy, served = float(t.busy[pool]), float(t.served[pool])
        mu = served / busy if busy > 0 else math.inf
        gamma = float(t.hazard[pool]) / lam
        return erlang_a(self.model.capacity[pool], lam, mu, gamma, _spread(t, pool))

    def solve(
        self, queues: bool, start: Totals | None = None
    ) -> tuple[Totals, list[QueueFigures], _Env, int]:
        """Iterate walk -> pool flows -> queues, ties, focus -> walk, damped, until the pool
        flows settle (from ``start``'s flows, or from a walk without waits)."""
        if start is None:
            start = self.totals(_Env([0.0] * len(POOLS), [math.inf] * len(POOLS)), queues)
        t = start
        x = t.vector()
        env, figures = self.env_from(t, queues)
        iterations = 0
        damping, last = _DAMPING, math.inf
        for iterations in range(1, _MAX_ITERATIONS + 1):  # noqa: B007
            t_new = self.totals(env, queues)
            x_new = t_new.vector()
            scale = np.repeat(np.abs(x).reshape(_BLOCKS, -1).max(axis=1), len(POOLS))
            floor = np.maximum(1e-6 * scale, 1e-12)
            change = float(np.max(np.abs(x_new - x) / np.maximum(np.abs(x), floor)))
            if change > last:
                damping = max(damping / 2, 0.05)
            last = change
            x = x + damping * (x_new - x)
            t = _damped(t_new, x)
            env, figures = self.env_from(t, queues)
            if change < _TOLERANCE:
                break
        return t, figures, env, iterations


FOCUS_DISPERSION = 0.5
"""Variance over mean of an account manager's active deals. Deals go to their account's
owner while that person has a free slot, else to the least-loaded: loads spread less than a
Poisson count (1) and more than an even split (0); 0.5 is what the engine shows on
tests/data/check_all.toml (an approximation for other staffing and account counts)."""


def _focus_mix(m: Model, busy: float) -> tuple[tuple[float, float], ...]:
    """The owner's active deals at a pass draw, as (log odds shift, chance) pairs.

    A person's load has the pool's mean per person and variance ``FOCUS_DISPERSION`` times
    it (a discretised normal within their slots); a deal sees its owner's load size-biased
    (a busier owner carries more of the deals). Loads up to the norm shift nothing.
    """
    sc = m.scenario
    people = max(sc.resources.account_managers.headcount, 1)
    slots = max(m.capacity[AM] // people, 1)
    mean = min(busy / people, float(slots)) if math.isfinite(busy) else float(slots)
    var = max(FOCUS_DISPERSION * mean, 1e-9)
    load = np.arange(1, slots + 1, dtype=float)
    weight = load * np.exp(-((load - mean) ** 2) / (2 * var))
    if not weight.sum() > 0:
        weight = np.zeros(slots)
        weight[int(np.clip(round(mean), 1, slots)) - 1] = 1.0
    weight = weight / weight.sum()
    over = np.maximum(load - sc.focus.norm_deals, 0.0)
    mix: dict[float, float] = {}
    for k, w in zip(over.tolist(), weight.tolist(), strict=True):
        if w > 1e-9:
            mix[k] = mix.get(k, 0.0) + w
    total = sum(mix.values())
    shift = float(np.clip(m.focus_log, -_HALF_LOG_ODDS, _HALF_LOG_ODDS))
    return tuple(
        (float(np.clip(shift * k, -_HALF_LOG_ODDS, _HALF_LOG_ODDS)), w / total)
        for k, w in sorted(mix.items())
    )


def _spread(t: Totals, pool: int) -> float:
    """Squared coefficient of variation of the pool's holds (1 when unknown)."""
    served, busy, hold2 = float(t.served[pool]), float(t.busy[pool]), float(t.hold2[pool])
    if served <= 0 or busy <= 0 or hold2 <= 0:
        return 1.0
    mean = busy / served
    return max(hold2 / served / (mean * mean) - 1.0, 0.0)


def _damped(t: Totals, x: FloatArray) -> Totals:
    k = len(POOLS)
    a, b, c, d, e, f = (x[i * k : (i + 1) * k] for i in range(_BLOCKS))
    return Totals(
        a, b, c, d, e, f, visits=t.visits, leads=t.leads, flows=t.flows, busy_window=t.busy_window
    )


def _tie_share(nu0: float, nu1: float, loss: float, lag: float, scenario: Scenario) -> float:
    """Chance that an account has an executive tie when a lead arrives, averaged over the
    measured window (ties build up over years, often longer than a run).

    Visits come at ``nu0`` per account and day while it has no tie and at ``nu1`` while it
    has one (its leads then start with the relationship and go further), from ``lag`` days
    into the run (the first leads' way to their visit); each visit's tie lasts an
    exponential time of rate ``loss`` and the account is tied while any lasts. A tied spell
    is an M/M/inf busy period, (exp(nu1 / loss) - 1) / nu1 days long, an untied one 1 / nu0:
    the share tends to busy / (busy + 1 / nu0) at rate 1 / busy + nu0 (a two-state chain).
    """
    if nu0 <= 0:
        return 0.0
    if loss > 0:
        rho = nu1 / loss
        if rho > 700:
            return _relaxed(1.0, nu0, lag, scenario)
        busy = math.expm1(rho) / nu1 if nu1 > 0 else 1.0 / loss
        return _relaxed(busy / (busy + 1.0 / nu0), 1.0 / busy + nu0, lag, scenario)
    return _relaxed(1.0, nu0, lag, scenario)


def _relaxed(limit: float, rate: float, lag: float, scenario: Scenario) -> float:
    """Mean over the measured window of limit x (1 - exp(-rate (t - lag))) for t > lag."""
    t0, t1 = _window(scenario)
    if t1 <= t0:
        return limit
    s = max(t0, lag)
    if s >= t1:
        return 0.0
    k = rate
    if k * (t1 - s) < 1e-9:
        return 0.0
    area = (t1 - s) - (math.exp(-k * (s - lag)) - math.exp(-k * (t1 - lag))) / k
    return limit * area / (t1 - t0)


# -- the result --------------------------------------------------------------------------
