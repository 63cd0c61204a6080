"""Closed forms of the many-server queue: Erlang B, Erlang C and Erlang A (M/M/c+M).

``kamsim check`` reads every pool as one queue with Poisson arrivals and exponential holds
(an approximation: kamsim's holds are lognormal, triangular, ... and arrivals are seasonal).
Erlang A adds customers who leave the queue after an exponential patience; with no patience
it is Erlang C. The functions are pure and work in log space, so a pool of a million slots
costs the same as one of five.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_TAIL_CHUNK = 4096
_TAIL_MAX_TERMS = 50_000_000
_TAIL_EPS = 1e-16


def erlang_b(servers: int, offered: float) -> float:
    """Erlang B: the chance that all ``servers`` are busy in M/G/c/c with offered load
    ``offered`` (= arrival rate x mean hold); insensitive to the hold's distribution."""
    if servers <= 0:
        return 1.0
    if offered <= 0:
        return 0.0
    log_b = _log_erlang_b(servers, offered)
    return math.exp(log_b)


def erlang_c(servers: int, offered: float) -> float:
    """Erlang C: the chance that an arrival waits in M/M/c (1 when ``offered >= servers``)."""
    if servers <= 0 or offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    b = erlang_b(servers, offered)
    rho = offered / servers
    return b / (1.0 - rho * (1.0 - b))


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Steady-state figures of one pool as a queue (rates per day, times in days)."""

    p_wait: float
    """Chance that an arrival finds every slot busy (PASTA)."""
    mean_wait: float
    """Mean time in the queue over all arrivals (inf when the queue grows without bound)."""
    mean_queue: float
    """Mean number waiting."""
    p_abandon: float
    """Chance that an arrival leaves the queue before service (customer patience)."""
    wait_rate: float
    """Rate of the exponential virtual wait of an arrival that finds every slot busy: the
    wait it would have without patience (``c mu - lambda`` in Erlang C; in Erlang A chosen
    so that the share abandoning under exponential patience is exact)."""
    stable: bool
    """Whether the queue has a steady state (always with patience; below capacity without)."""


def erlang_a(
    servers: int,
    arrival_rate: float,
    service_rate: float,
    patience_rate: float,
    hold_scv: float = 1.0,
) -> QueueFigures:
    """M/M/c+M (Erlang A): ``servers`` slots, Poisson arrivals, exponential holds with rate
    ``service_rate`` and exponential patience with rate ``patience_rate`` (0: Erlang C).

    The stationary distribution is a birth-death chain: below c as in Erlang B, above c with
    death rate ``c mu + j gamma``; the tail is summed in log space until it no longer counts.

    ``hold_scv``, the squared coefficient of variation of the holds, stretches the virtual
    wait of an arrival that finds every slot busy by (1 + scv) / 2 (Allen-Cunneen's M/G/c
    correction; 1 keeps the exact M/M/c+M figures). P(wait) is left as it is.
    """
    lam, mu, gam, c = arrival_rate, service_rate, patience_rate, servers
    if lam <= 0 or (c <= 0 and gam <= 0):
        stable = lam <= 0
        return QueueFigures(
            0.0 if stable else 1.0,
            0.0 if stable else math.inf,
            0.0 if stable else math.inf,
            0.0,
            math.inf,
            stable,
        )
    if mu <= 0 or not math.isfinite(mu):
        mu = math.inf if mu > 0 else mu
    if mu == math.inf:  # holds of no length: nobody waits
        return QueueFigures(0.0, 0.0, 0.0, 0.0, math.inf, True)
    if mu <= 0:
        return QueueFigures(1.0, math.inf, math.inf, 0.0 if gam <= 0 else 1.0, 0.0, gam > 0)
    a = lam / mu
    stretch = (1.0 + max(hold_scv, 0.0)) / 2.0
    if gam <= 0:
        if a >= c:
            return QueueFigures(1.0, math.inf, math.inf, 0.0, 0.0, False)
        pw = erlang_c(c, a)
        rate = (c * mu - lam) / stretch
        return QueueFigures(pw, pw / rate, pw * lam / rate, 0.0, rate, True)
    # Everything relative to pi_c, in logs: the tail t_j = prod_{i=1..j} lam / (c mu + i gam)
    # above c, and sum_{n<c} pi_n / pi_c = 1 / B - 1 below it.
    log_terms = _tail_log_terms(lam, c * mu, gam)
    j = np.arange(1, len(log_terms) + 1, dtype=float)
    log_tail = _logsumexp(log_terms)
    log_tail_j = _logsumexp(log_terms + np.log(j))
    log_below = -math.inf
    if c > 0:
        log_b = _log_erlang_b(c, a)
        if log_b < 0:
            log_below = -log_b + math.log1p(-math.exp(log_b))
    log_busy = float(np.logaddexp(0.0, log_tail))
    log_total = float(np.logaddexp(log_below, log_busy))
    pw = math.exp(log_busy - log_total)
    lq = math.exp(log_tail_j - log_total)
    p_ab = min(gam * lq / lam, 1.0)
    q = p_ab / pw if pw > 0 else 0.0
    if q <= 0:
        return QueueFigures(pw, lq / lam, lq, p_ab, math.inf, True)
    rate = gam * (1.0 - q) / q / stretch
    if stretch != 1.0:  # the stretched virtual wait: waits min(V, patience), abandon if V wins
        p_ab = pw * gam / (rate + gam)
        lq = lam * pw / (rate + gam)
    return QueueFigures(pw, lq / lam, lq, p_ab, rate, True)


def _tail_log_terms(lam: float, c_mu: float, gam: float) -> np.ndarray:
    """log t_j for j = 1.. until the terms are negligible (they fall once c mu + j gam > lam)."""
    chunks: list[np.ndarray] = []
    last = 0.0
    start = 1
    peak = 0.0
    while start <= _TAIL_MAX_TERMS:
        j = np.arange(start, start + _TAIL_CHUNK, dtype=float)
        logs = last + np.cumsum(math.log(lam) - np.log(c_mu + j * gam))
        chunks.append(logs)
        last = float(logs[-1])
        peak = max(peak, float(logs.max()))
        start += _TAIL_CHUNK
        falling = c_mu + (start - 1) * gam > lam
        if falling and last < peak + math.log(_TAIL_EPS) - 10:
            break
    return np.concatenate(chunks) if chunks else np.empty(0)


def _log_erlang_b(servers: int, offered: float) -> float:
    """log Erlang B = log P(Poisson(a) = c) - log P(Poisson(a) <= c), in log space so huge pools
    do not overflow (scipy is loaded on first use, not when kamsim is imported)."""
    from scipy.stats import poisson

    return float(poisson.logpmf(servers, offered) - poisson.logcdf(servers, offered))


def _logsumexp(x: np.ndarray) -> float:
    """log(sum(exp(x))) without overflow; -inf for no terms."""
    if len(x) == 0:
        return -math.inf
    top = float(np.max(x))
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.sum(np.exp(x - top))))
