"""Per-stage fits from a CRM stage history: each recorded stage's pass probability and time.

A stage history says when each deal entered each stage. A deal that entered a recorded stage
left it when it entered the next one: it *passed* (a later stage, or won) or *exited* (lost
while in it), or it is still in it on the as-of date (*censored*). Visits that ended before
the export's window are left out (deals closed then are missing from it); visits under way
when it begins enter late (left-truncated), as in :func:`kamsim.calibrate.calibrate`.

Per stage, with censoring and truncation:

- the pass probability: the Aalen-Johansen cumulative incidences of passing and exiting, as
  the share passing among deals that leave, ``F_pass / (F_pass + F_exit)`` at the last event.
  In kamsim the decision comes at the end of the stage's work, so passing and exiting deals
  take the same time and this share is the scenario's pass probability whatever the censoring
  left unresolved. Its standard error is the delta method over the counting-process
  (Aalen-type) representation of the two incidences; the 95% interval is normal on the logit
  scale;
- the mean time in stage: the Kaplan-Meier restricted mean up to the last observed time;
  its standard error is that of the Greenwood-type variance, from each visit's influence;
  the interval is normal on the log scale and assumes no family;
- a family for the scenario's duration: lognormal or gamma, whichever has the higher censored,
  truncated likelihood; its coefficient of variation is kept and its mean set to the
  Kaplan-Meier one.

Deals queued for the same people wait together: waits come in congestion episodes lasting
months, so visits are not independent. Both variances are therefore the larger of the
independent-visit one and the one clustered by the calendar quarter a visit began in (with a
t quantile on as many degrees of freedom as quarters less one). In the round trip at an
offered load of 0.8 this covers a queued stage's long-run mean time in 53 of 60 data sets,
inside the binomial acceptance region but below 95%: read such an interval as slightly
optimistic (docs/crm.md, the round trip).

The time in a CRM stage includes any wait for people, so the fitted duration is the time in
stage, queue included: a scenario built from it must not add pools to those stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kamsim.estimate import Z95, Estimate
from kamsim.vocabulary import STAGES

MIN_DAYS = 1e-3
"""Times in stage are floored here for the family fit (a log of zero has no likelihood)."""
MIN_VISITS = 3
"""A stage with fewer completed visits is not fitted: pass-through with a note."""

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

_Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class Visits:
    """One stage's visits: time in stage (days), how it ended (1 passed, 2 exited, 0
    censored) and the time it came under observation (0, or later when left-truncated)."""

    time: _Array
    event: _Array
    entry: _Array
    quarter: _Array
    """The calendar quarter each visit began in (a running number): visits of one quarter
    met the same congestion, so the variances also sum their influences by quarter."""


@dataclass(frozen=True, slots=True)
class StageFit:
    """One recorded stage's fit: estimates, and the scenario's duration and pass probability."""

    stage: str
    pass_probability: Estimate
    mean_days: Estimate
    family: str
    cv: float
    counts: tuple[int, int, int]
    """Visits passed, exited, censored."""

    def duration(self) -> dict[str, Any]:
        """The scenario's duration: the fitted family with the Kaplan-Meier mean."""
        mean = self.mean_days.value
        if mean <= MIN_DAYS:
            return {"dist": "fixed", "value": 0.0}
        if self.family == "gamma":
            shape = min(max(1.0 / self.cv**2, 1e-4), 1e6)
            return {"dist": "gamma", "shape": float(shape), "scale": float(mean / shape)}
        return {"dist": "lognormal", "mean": float(mean), "cv": float(min(max(self.cv, 1e-3), 100))}


def stage_visits(
    history: pd.DataFrame, stage: str, start: pd.Timestamp, end: pd.Timestamp
) -> Visits:
    """The visits to ``stage`` in ``history`` (:meth:`kamsim.crm.CrmExport.history` as of the
    date whose end is ``end``), observed from ``start``."""
    h = history.sort_values(["id", "entered", "line"], kind="stable")
    same = h["id"].to_numpy() == np.roll(h["id"].to_numpy(), -1)
    same[-1:] = False
    following = h["stage"].astype(str).shift(-1).to_numpy()
    leave = h["entered"].shift(-1).where(same, end)
    here = (h["stage"].astype(str) == stage).to_numpy() & (leave >= start).to_numpy()
    entered = h["entered"][here]
    days = ((leave[here] - entered).dt.total_seconds() / 86400.0).to_numpy(float)
    event = np.where(~same[here], 0, np.where(following[here] == "lost", 2, 1))
    entry = ((start - entered).dt.total_seconds() / 86400.0).to_numpy(float)
    entry = np.clip(entry, 0.0, None)
    quarter = (entered.dt.year * 4 + (entered.dt.month - 1) // 3).to_numpy(int)
    return Visits(np.maximum(days, entry), event, np.minimum(entry, days), quarter)


def risk_table(v: Visits) -> tuple[_Array, _Array, _Array, _Array]:
    """The distinct times at which visits ended (passed or exited), the visits at risk just
    before each (entered before it, not yet left), and the passes and exits at each."""
    done = v.event > 0
    times = np.unique(v.time[done])
    # at risk at t: entry < t <= time; a visit observed from its start is at risk from
    # time 0 on (an instant stage ends at 0)
    entry = np.where(v.entry > 0, v.entry, -1.0)
    at_risk = np.searchsorted(np.sort(entry), times, side="left") - np.searchsorted(
        np.sort(v.time), times, side="left"
    )
    d1 = np.bincount(np.searchsorted(times, v.time[v.event == 1]), minlength=times.size)
    d2 = np.bincount(np.searchsorted(times, v.time[v.event == 2]), minlength=times.size)
    return times, np.maximum(at_risk, 1).astype(float), d1.astype(float), d2.astype(float)


def _variance(
    v: Visits, times: _Array, at_event: tuple[_Array, _Array], drift: _Array
) -> tuple[float, float]:
    """The variance of an estimate linear in the counting processes, from each visit's
    influence: ``at_event[k][j]`` per event of kind k+1 at ``times[j]``, less ``drift[j]`` for
    each event time the visit was at risk; and the degrees of freedom of its t quantile.

    Visits that began in the same calendar quarter met the same congestion, so the variance is
    the larger of the sum of squared influences (independent visits, normal quantile) and the
    sum of squared quarterly sums (clustered by quarter, t quantile with one degree of freedom
    fewer than there are quarters, as for cluster-robust variances with few clusters)."""
    ahead = np.concatenate([[0.0], np.cumsum(drift)])
    entry = np.where(v.entry > 0, v.entry, -1.0)
    exposed = (
        ahead[np.searchsorted(times, v.time, side="right")]
        - ahead[np.searchsorted(times, entry, side="right")]
    )
    at = np.minimum(np.searchsorted(times, v.time), times.size - 1)
    jump = np.zeros(v.time.size)
    for kind, weights in enumerate(at_event, start=1):
        jump = np.where(v.event == kind, weights[at], jump)
    influence = jump - exposed
    _, quarter = np.unique(v.quarter, return_inverse=True)
    by_quarter = np.bincount(quarter, weights=influence)
    independent, clustered = float(influence @ influence), float(by_quarter @ by_quarter)
    if clustered > independent and by_quarter.size > 1:
        return clustered, float(by_quarter.size - 1)
    return independent, math.inf


def _quantile(df: float) -> float:
    """The two-sided 95% quantile with ``df`` degrees of freedom (normal when infinite)."""
    from scipy.stats import t

    return Z95 if math.isinf(df) else float(t.ppf(0.975, df))


def pass_share(v: Visits) -> tuple[float, float, float]:
    """``F_pass / (F_pass + F_exit)`` at the last event (Aalen-Johansen), its standard
    error (delta method on the martingale representation of the two incidences) and the 95%
    quantile to use with it (:func:`_variance`)."""
    times, n, d1, d2 = risk_table(v)
    if times.size == 0:
        return math.nan, math.nan, Z95
    hazard = (d1 + d2) / n
    before = np.concatenate([[1.0], np.cumprod(1.0 - hazard)[:-1]])
    f1, f2 = np.cumsum(before * d1 / n), np.cumsum(before * d2 / n)
    total = f1[-1] + f2[-1]
    share = float(f1[-1] / total)
    # F_k(tau) - F_k(t_j): what the incidence still gains after each event time
    b1, b2 = f1[-1] - f1, f2[-1] - f2
    a1, a2 = before - b1, before - b2
    c1 = (f2[-1] * a1 + f1[-1] * b2) / total**2  # weight of a pass at t_j
    c2 = -(f2[-1] * b1 + f1[-1] * a2) / total**2  # weight of an exit at t_j
    drift = (c1 * d1 + c2 * d2) / n**2
    variance, df = _variance(v, times, (c1 / n, c2 / n), drift)
    return share, math.sqrt(variance), _quantile(df)


def restricted_mean(v: Visits) -> tuple[float, float, float]:
    """The Kaplan-Meier mean time in stage up to the last observed time, its standard error
    (the influence of each visit on the restricted mean, as in its Greenwood-type variance)
    and the 95% quantile to use with it (:func:`_variance`)."""
    times, n, d1, d2 = risk_table(v)
    tau = float(v.time.max()) if v.time.size else 0.0
    if times.size == 0:
        return tau, math.nan, Z95
    d = d1 + d2
    survival = np.cumprod(1.0 - d / n)
    edges = np.append(times, tau)
    area = survival * np.diff(edges)  # S is constant between event times
    mean = float(times[0] + area.sum())
    after = np.cumsum(area[::-1])[::-1]  # the area beyond each event time
    weight = -after / n
    variance, df = _variance(v, times, (weight, weight), weight * d / n)
    return mean, math.sqrt(variance), _quantile(df)


def _family_fit(v: Visits) -> tuple[str, float]:
    """Lognormal or gamma by censored, truncated maximum likelihood: the family with the
    higher likelihood and its coefficient of variation."""
    from scipy.optimize import minimize
    from scipy.special import gammaincc, gammaln, log_ndtr

    t = np.maximum(v.time, MIN_DAYS)
    lt = np.log(t)
    done = v.event > 0
    late = v.entry > 0
    e = np.maximum(v.entry[late], MIN_DAYS)
    le = np.log(e)

    def lognormal(x: _Array) -> float:
        mu, s = float(x[0]), math.exp(float(x[1]))
        z = (lt - mu) / s
        ll = np.sum(-0.5 * z[done] ** 2 - x[1] - lt[done] - HALF_LOG_2PI)
        ll += np.sum(log_ndtr(-z[~done]))
        ll -= np.sum(log_ndtr(-(le - mu) / s))
        return -float(ll)

    def gamma(x: _Array) -> float:
        k, theta = math.exp(float(x[0])), math.exp(float(x[1]))
        if k > 1e6:
            return 1e300
        ll = np.sum((k - 1) * lt[done] - t[done] / theta - gammaln(k) - k * x[1])
        ll += np.sum(np.log(np.maximum(gammaincc(k, t[~done] / theta), 1e-300)))
        ll -= np.sum(np.log(np.maximum(gammaincc(k, e / theta), 1e-300)))
        return -float(ll)

    m, s = float(np.mean(lt[done])), max(float(np.std(lt[done])), 0.05)
    mean, var = float(np.mean(t[done])), max(float(np.var(t[done])), 1e-9)
    shape = max(mean**2 / var, 0.05)
    fits = []
    for family, nll, x0 in (
        ("lognormal", lognormal, [m, math.log(s)]),
        ("gamma", gamma, [math.log(shape), math.log(mean / shape)]),
    ):
        res = minimize(nll, np.array(x0), method="Nelder-Mead")
        if math.isfinite(res.fun):
            a, b = float(res.x[0]), float(res.x[1])
            cv = (
                math.sqrt(math.expm1(math.exp(2 * b)))
                if family == "lognormal"
                else math.exp(-a / 2)
            )
            fits.append((float(res.fun), family, cv))
    if not fits:
        return "lognormal", math.sqrt(var) / mean
    _, family, cv = min(fits)
    return family, cv


def fit_stage(stage: str, v: Visits) -> StageFit | None:
    """One stage's fit, or None with too few completed visits."""
    counts = tuple(int((v.event == k).sum()) for k in (1, 2, 0))
    if counts[0] + counts[1] < MIN_VISITS:
        return None
    passed, exited, censored = counts
    how = f"{passed} passed, {exited} exited, {censored} censored"
    share, se, q = pass_share(v)
    if exited == 0 or passed == 0 or not se > 0:
        low = high = share
    else:
        logit, se_logit = math.log(share / (1 - share)), se / (share * (1 - share))
        low, high = (1 / (1 + math.exp(-(logit + z * se_logit))) for z in (-q, q))
    p = Estimate(
        f"stages.{stage}.pass_probability", share, low, high, "data", f"Aalen-Johansen, {how}"
    )
    mean, se_mean, q = restricted_mean(v)
    km = "Kaplan-Meier restricted mean, waits included"
    if mean > MIN_DAYS and se_mean > 0:
        days = Estimate.on_log_scale(
            f"stages.{stage}.mean_days", math.log(mean), se_mean / mean, km, q
        )
    else:
        days = Estimate(f"stages.{stage}.mean_days", mean, mean, mean, "data", km)
    family, cv = _family_fit(v) if mean > MIN_DAYS else ("fixed", 0.0)
    return StageFit(stage, p, days, family, cv, (passed, exited, censored))


def fit_stages(
    history: pd.DataFrame,
    recorded: tuple[str, ...],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[StageFit, ...]:
    """The fits of the ``recorded`` stages with enough completed visits, in stage order."""
    fits = (fit_stage(s, stage_visits(history, s, start, end)) for s in STAGES if s in recorded)
    return tuple(f for f in fits if f is not None)
