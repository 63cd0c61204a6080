"""Tier 1: the queueing closed forms behind ``kamsim check`` against independent oracles.

Erlang C against ``helpers.erlang_c`` (the suite's own textbook formula); Erlang B and Erlang A
(M/M/c+M) against a brute-force sum over the birth-death chain's states, written here.
"""

from __future__ import annotations

import math

import pytest
from helpers import erlang_c as textbook_erlang_c

from kamsim.queueing import erlang_a, erlang_b, erlang_c


def brute_force(c: int, lam: float, mu: float, gamma: float, states: int = 4000) -> dict:
    """Stationary M/M/c+M by summing the chain: birth lam, death min(n, c) mu + max(n - c, 0)
    gamma, truncated where the terms are negligible."""
    weights = [1.0]
    for n in range(1, states):
        death = min(n, c) * mu + max(n - c, 0) * gamma
        weights.append(weights[-1] * lam / death)
        if n > c and weights[-1] < 1e-300:
            break
    total = sum(weights)
    p = [w / total for w in weights]
    lq = sum(max(n - c, 0) * pn for n, pn in enumerate(p))
    return {
        "p_wait": sum(p[c:]),
        "mean_queue": lq,
        "mean_wait": lq / lam,
        "p_abandon": gamma * lq / lam,
        "p_full": p[c] if gamma == 0 and len(p) > c else None,
    }


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (1, 0.95), (5, 4.0), (12, 9.6), (40, 39.0)])
def test_erlang_c_is_the_textbook_formula(c: int, a: float) -> None:
    assert erlang_c(c, a) == pytest.approx(textbook_erlang_c(c, a), rel=1e-10)


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (3, 2.0), (10, 12.0), (50, 40.0)])
def test_erlang_b_is_the_loss_formula(c: int, a: float) -> None:
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    assert erlang_b(c, a) == pytest.approx(terms[-1] / sum(terms), rel=1e-10)


def test_at_or_above_capacity_without_patience_has_no_steady_state() -> None:
    assert erlang_c(5, 5.0) == 1.0
    q = erlang_a(5, 5.0, 1.0, 0.0)
    assert not q.stable
    assert math.isinf(q.mean_wait) and math.isinf(q.mean_queue)


@pytest.mark.parametrize(("c", "lam"), [(1, 0.8), (5, 4.0), (20, 17.0)])
def test_erlang_a_without_patience_is_erlang_c(c: int, lam: float) -> None:
    q = erlang_a(c, lam, 1.0, 0.0)
    pw = textbook_erlang_c(c, lam)
    assert q.p_wait == pytest.approx(pw, rel=1e-10)
    assert q.mean_wait == pytest.approx(pw / (c - lam), rel=1e-10)
    assert q.wait_rate == pytest.approx(c - lam, rel=1e-10)
    assert q.p_abandon == 0.0


@pytest.mark.parametrize(
    ("c", "lam", "mu", "gamma"),
    [
        (1, 0.8, 1.0, 0.5),
        (5, 4.5, 1.0, 0.1),
        (5, 6.0, 1.0, 0.5),  # above capacity: patience keeps the queue finite
        (30, 29.0, 1.0 / 3.0 * 3.0, 0.02),
        (3, 0.1, 0.05, 1.0 / 60.0),
    ],
)
def test_erlang_a_matches_the_birth_death_chain(
    c: int, lam: float, mu: float, gamma: float
) -> None:
    q = erlang_a(c, lam, mu, gamma)
    want = brute_force(c, lam, mu, gamma)
    assert q.stable
    assert q.p_wait == pytest.approx(want["p_wait"], rel=1e-8)
    assert q.mean_queue == pytest.approx(want["mean_queue"], rel=1e-8)
    assert q.mean_wait == pytest.approx(want["mean_wait"], rel=1e-8)
    assert q.p_abandon == pytest.approx(want["p_abandon"], rel=1e-8)
    # The exponential virtual wait the funnel samples reproduces the abandonment exactly:
    # P(abandon | wait) = gamma / (rate + gamma).
    assert q.p_wait * gamma / (q.wait_rate + gamma) == pytest.approx(q.p_abandon, rel=1e-8)


def test_hold_spread_stretches_the_wait_allen_cunneen() -> None:
    exponential = erlang_a(4, 3.0, 1.0, 0.0)
    fixed = erlang_a(4, 3.0, 1.0, 0.0, hold_scv=0.0)
    assert fixed.p_wait == exponential.p_wait
    assert fixed.mean_wait == pytest.approx(exponential.mean_wait / 2)


def test_a_huge_pool_stays_finite() -> None:
    q = erlang_a(1_000_000, 950_000.0, 1.0, 0.0)
    assert 0.0 <= q.p_wait < 1e-100
    assert erlang_b(1_000_000, 999_000.0) > 0
    q = erlang_a(100, 150.0, 1.0, 1e-3)  # far above capacity, slow patience: a long tail
    assert q.stable and q.p_wait == pytest.approx(1.0, abs=1e-6)
    assert q.p_abandon == pytest.approx(1 - 100 / 150, rel=1e-3)  # the excess goes cold
