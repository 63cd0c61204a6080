"""From a CRM export to a scenario: estimates with their 95% intervals, and where each came from.

:func:`calibrate` fits, from the tables of a :class:`~kamsim.crm.CrmExport` as of a date:

- the lead arrival rate per month, from the create dates of the months the export covers in
  full (left-truncation: an export that starts late misses the deals that closed before its
  first close date, so months before it are left out);
- deal values by segment (product, else sector), a lognormal fitted by the moments of the
  logs of the won deals' values;
- the win probability and the cycle time with right-censoring: open deals are censored at the
  as-of date, won and lost are competing events (the Aalen-Johansen estimate; its cumulative
  incidence of ``won`` at the end is the win probability), deals created before the export's
  first close enter late (left-truncated); the time to a win is fitted by maximum likelihood
  (lognormal or gamma, whichever fits better) in a mixture model that also censors and
  truncates, with a share of stale deals that never close when the data call for one;
- the account managers' workload: active deals per owner at each month end (median, P90),
  which suggests a portfolio cap;
- the month-of-quarter calendar effect on wins and on losses (closes by month of the quarter
  with a chi-square test). When wins or losses are not flat, the timed stage gets it as
  ``month_of_quarter``: its pace from all closes per day in each month of quarter, its log
  odds from each month's win share among closes (shifted so the win probability is kept).

Every estimate carries a 95% interval and a ``source``: ``data`` or ``assumption``.
:meth:`Calibration.scenario` turns the fit into an ordinary, validated scenario; stages the
CRM does not record pass through (zero duration, pass probability 1). A stage history also
gives each recorded stage its own pass probability and time in stage (:mod:`kamsim.stage_fit`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kamsim.crm_repair import format_repairs
from kamsim.errors import Problem, ScenarioError
from kamsim.estimate import Z95, Estimate
from kamsim.stage_fit import StageFit, fit_stages
from kamsim.vocabulary import DAYS_PER_MONTH, GRADES, STAGES

if TYPE_CHECKING:
    from kamsim.crm import CrmExport
    from kamsim.scenario import Scenario

BOOTSTRAP = 200
"""Resamples of the bootstrap intervals (win probability, workload)."""
SEED = 20240601
"""The bootstrap's fixed seed: a calibration is reproducible."""
HORIZON_MONTHS = 36
STALE_LR = 2.71
"""Likelihood-ratio statistic above which a share of never-closing deals is fitted."""
MAX_LOAD = 0.85
"""The calibrated scenario's account managers are sized to an offered load below this."""
DEFAULT_VALUE = 1.0e6
"""Deal value when the export has no won values (an assumption, flagged)."""
CALENDAR_ALPHA = 0.01
"""Chi-square p-value (wins or losses against flat closes by month of quarter) below which
the timed stage gets the fitted month-of-quarter effect."""


@dataclass(frozen=True, eq=False)
class Calibration:
    """The fit of one export as of one date; :meth:`scenario` makes it a scenario."""

    as_of: pd.Timestamp
    window: tuple[pd.Timestamp, pd.Timestamp]
    """The months the export covers in full: [start, end)."""
    estimates: tuple[Estimate, ...]
    grades: dict[str, tuple[float, float, float, str]]
    """Grade key: (lead share, mean value, cv of value, segments)."""
    rate_per_month: float
    win_probability: float
    cycle_mean: float
    cycle_cv: float
    cycle_family: str
    timed_stage: str
    pass_through: tuple[str, ...]
    untimed: tuple[str, ...]
    owners: int
    cap: int
    calendar: pd.DataFrame
    """Closes by outcome and month of quarter, with the expected counts if flat."""
    repairs: tuple[str, ...]
    month_of_quarter: dict[str, list[float]] | None = None
    """The timed stage's month-of-quarter effect (pace, log odds); None: flat calendar."""
    name: str = "calibrated"
    notes: tuple[str, ...] = field(default=())
    stage_fits: tuple[StageFit, ...] = ()
    """Shape ``history``: each recorded stage's own fit (:mod:`kamsim.stage_fit`)."""

    def estimate(self, name: str) -> Estimate:
        """The estimate called ``name``."""
        for e in self.estimates:
            if e.name == name:
                return e
        raise KeyError(name)

    def table(self) -> pd.DataFrame:
        """The estimates as a table: name, value, low, high, source, note."""
        return pd.DataFrame(
            [(e.name, e.value, e.low, e.high, e.source, e.note) for e in self.estimates],
            columns=["name", "value", "low", "high", "source", "note"],
        )

    def format(self) -> str:
        """The fit summary: each estimate with its interval and source, then the notes."""
        head = f"{'estimate':<40} {'value':>12} {'95% CI':>26}  source"
        lines = [
            f"calibration as of {self.as_of:%Y-%m-%d}; full months "
            f"{self.window[0]:%Y-%m} to {self.window[1] - pd.Timedelta(days=1):%Y-%m}",
            head,
            *(e.format() for e in self.estimates),
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def scenario_data(self) -> dict[str, Any]:
        """The scenario as a plain table (what :meth:`scenario` validates and TOML holds)."""
        start = (self.as_of + pd.offsets.MonthBegin(1)).date()
        warmup = min(12, max(1, math.ceil(3 * self.cycle_mean / DAYS_PER_MONTH)))
        grades = {
            g: {
                "share": share,
                "value": _lognormal(mean, cv),
                "accounts": 50,
            }
            for g, (share, mean, cv, _) in self.grades.items()
        }
        stages: dict[str, Any] = {}
        fitted = {f.stage: f for f in self.stage_fits}
        for stage in STAGES:
            if stage in fitted:
                stages[stage] = {
                    "duration": fitted[stage].duration(),
                    "pass_probability": _clip(fitted[stage].pass_probability.value),
                }
            elif stage == self.timed_stage and not fitted:
                stages[stage] = {
                    "duration": _duration(self.cycle_family, self.cycle_mean, self.cycle_cv),
                    "pass_probability": _clip(self.win_probability),
                }
                if self.month_of_quarter is not None:
                    stages[stage]["month_of_quarter"] = self.month_of_quarter
            else:
                stages[stage] = {"duration": {"dist": "fixed", "value": 0.0}}
        return {
            "name": self.name,
            "description": (
                f"Calibrated from a CRM export as of {self.as_of:%Y-%m-%d} (kamsim calibrate)."
            ),
            "calendar": {
                "start": start,
                "currency": "USD",
                "horizon_months": HORIZON_MONTHS,
                "warmup_months": warmup,
            },
            "arrivals": {"rate_per_month": self.rate_per_month},
            "grades": grades,
            "stages": stages,
            "resources": {
                "account_managers": {
                    "headcount": self.owners,
                    "deals_per_person": self.cap,
                    "ownership": True,
                }
            },
            "uncertainty": self._uncertainty(),
        }

    def _uncertainty(self) -> dict[str, Any]:
        """The sampling uncertainty of the fitted rates and probabilities, as the scenario's
        ``uncertainty`` section (drawn once per replication, :mod:`kamsim.uncertainty`).

        - the arrival rate: Gamma(count + 1/2, 1 / exposure), the posterior of a Poisson rate
          under Jeffreys' prior (``count`` leads over ``exposure`` months of the window); its
          mean, (count + 1/2) / exposure, is above the point estimate by half a lead over the
          window, and it stays proper when no lead arrived;
        - each fitted stage's pass probability (the timed stage's, or every stage fitted from
          a stage history): the beta whose mean is the point estimate and whose standard
          deviation is the interval's implied standard error, (high - low) / (2 x 1.96)
          (method of moments; left out when the interval is missing or too wide for a beta);
        - each fitted stage's mean time (on the log scale): the duration's parameter that is
          proportional to its mean at a fixed cv (a gamma's scale, a lognormal's mean), as a
          lognormal with the point value as mean and the spread of the log-scale interval.
        """
        exposure = (self.window[1] - self.window[0]).days / DAYS_PER_MONTH
        count = round(self.rate_per_month * exposure)
        out: dict[str, Any] = {
            "arrivals.rate_per_month": {
                "dist": "gamma",
                "shape": count + 0.5,
                "scale": 1.0 / exposure,
            }
        }
        if self.stage_fits:
            fits = [
                (f.stage, f.pass_probability, f.mean_days, f.duration()) for f in self.stage_fits
            ]
        else:
            duration = _duration(self.cycle_family, self.cycle_mean, self.cycle_cv)
            win = self.estimate("win_probability")
            win = Estimate(win.name, self.win_probability, win.low, win.high, win.source)
            fits = [(self.timed_stage, win, self.estimate("cycle_days_won.mean"), duration)]
        for stage, chance, mean, duration in fits:
            beta = _beta(chance)
            if beta is not None:
                out[f"stages.{stage}.pass_probability"] = beta
            # The parameter proportional to the mean at a fixed cv: gamma's scale, or the mean.
            name = {"gamma": "scale", "lognormal": "mean"}.get(duration["dist"])
            if name is not None and mean.source == "data" and 0 < mean.low < mean.high:
                log_se = math.log(mean.high / mean.low) / (2 * Z95)
                spread = _lognormal(duration[name], math.sqrt(math.expm1(log_se**2)))
                out[f"stages.{stage}.duration.{name}"] = spread
        return out

    def scenario(self) -> Scenario:
        """The calibrated scenario, validated (:func:`calibrate` has sized the account
        managers so that the analytic check's offered load is below ``MAX_LOAD``)."""
        from kamsim.scenario import Scenario

        return Scenario.model_validate(self.scenario_data())

    def toml(self) -> str:
        """The scenario as a TOML file with a header saying which numbers came from data and
        which are assumptions."""
        data = {k: v for k, v in self.scenario_data().items() if k in ("name", "description")}
        rest = {k: v for k, v in self.scenario_data().items() if k not in data}
        header = [
            "# Calibrated by `kamsim calibrate`: an ordinary scenario file.",
            f"# As of {self.as_of:%Y-%m-%d}; arrivals from the full months "
            f"{self.window[0]:%Y-%m} to {self.window[1] - pd.Timedelta(days=1):%Y-%m}.",
            "# From data: " + ", ".join(e.name for e in self.estimates if e.source == "data"),
            "# Assumptions: "
            + ", ".join(e.name for e in self.estimates if e.source == "assumption"),
            f"# Pass-through (not recorded by the CRM): {', '.join(self.pass_through) or 'none'}"
            ": zero duration, pass probability 1.",
        ]
        if self.stage_fits:
            header += [
                "# Each recorded stage has its own fitted time in stage (waits for people",
                "# included, so no pools on it) and pass probability; recorded stages with too",
                f"# few completed visits pass through: {', '.join(self.untimed) or 'none'}. "
                "Seasonality, margins,",
            ]
        else:
            if self.untimed:
                header += [
                    "# Recorded but not timed separately (an export of one row per opportunity",
                    f"# times only the whole cycle): {', '.join(self.untimed)}"
                    ": zero duration, pass probability 1.",
                ]
            header += [
                f"# The whole cycle and funnel loss sit on {self.timed_stage}; lost deals take the",
                "# won deals' cycle (the schema has one duration per stage). Seasonality, margins,",
            ]
        header += [
            "# accounts per grade, the currency, payments and mechanisms are defaults",
            "# (assumptions).",
            (
                f"# Closes and wins by month of quarter are simulated on {self.timed_stage} "
                "(month_of_quarter)."
                if self.month_of_quarter is not None
                else "# By month of quarter: no calendar effect is simulated (see the notes)."
            ),
        ]
        return "\n".join(header) + "\n\n" + to_toml({**data, **rest})


def _clip(p: float) -> float:
    return float(min(1.0, max(0.0, p)))


def _beta(chance: Estimate) -> dict[str, Any] | None:
    """The beta with the estimate's mean and the standard error its interval implies (method
    of moments), or None when the interval is missing or too wide for a beta."""
    p, se = _clip(chance.value), (chance.high - chance.low) / (2 * Z95)
    if not (math.isfinite(se) and se > 0 and 0 < p < 1 and se**2 < p * (1 - p)):
        return None
    n = p * (1 - p) / se**2 - 1
    return {"dist": "beta", "a": max(p * n, 1e-4), "b": max((1 - p) * n, 1e-4)}


def _duration(family: str, mean: float, cv: float) -> dict[str, Any]:
    if family == "gamma":
        shape = min(max(1.0 / cv**2, 1e-4), 1e6)
        return {"dist": "gamma", "shape": float(shape), "scale": float(mean / shape)}
    return _lognormal(mean, cv)


def _lognormal(mean: float, cv: float) -> dict[str, Any]:
    return {"dist": "lognormal", "mean": float(mean), "cv": float(min(max(cv, 1e-3), 100.0))}


# -- TOML ------------------------------------------------------------------------------------


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(v, list):
        return "[" + ", ".join(_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_literal(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _literal(k)


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for scenario tables: nested tables as ``[sections]``,
    distributions (tables with a ``dist`` key) inline."""
    lines: list[str] = []

    def is_table(v: Any) -> bool:
        return isinstance(v, dict) and "dist" not in v

    def section(table: dict[str, Any], name: str) -> None:
        scalars = [(k, v) for k, v in table.items() if not is_table(v)]
        if scalars:
            if name:
                lines.extend(["", f"[{name}]"])
            lines.extend(f"{_key(k)} = {_literal(v)}" for k, v in scalars)
        for k, v in table.items():
            if is_table(v):
                section(v, f"{name}.{_key(k)}" if name else _key(k))

    section(data, "")
    return "\n".join(lines) + "\n"


# -- the fit ---------------------------------------------------------------------------------


def _month_floor(t: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(year=t.year, month=t.month, day=1)


def _poisson_interval(count: int, exposure: float) -> tuple[float, float]:
    from scipy.stats import chi2

    low = 0.0 if count == 0 else chi2.ppf(0.025, 2 * count) / 2
    high = chi2.ppf(0.975, 2 * count + 2) / 2
    return float(low / exposure), float(high / exposure)


def aalen_johansen(
    time: np.ndarray[Any, Any], event: np.ndarray[Any, Any], entry: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Cumulative incidences of two competing events (``event`` 1 and 2; 0 censored) with
    left-truncation (``entry``: the time a deal came under observation): the event times and
    the two cumulative incidence curves at them."""
    order = np.argsort(time, kind="stable")
    t, e = time[order], event[order]
    times = np.unique(t[e > 0])
    if times.size == 0:
        return times, np.zeros(0), np.zeros(0)
    sorted_time = np.sort(time)
    sorted_entry = np.sort(entry)
    at_risk = (len(time) - np.searchsorted(sorted_time, times, side="left")) - (
        len(entry) - np.searchsorted(sorted_entry, times, side="left")
    )
    d1 = np.bincount(np.searchsorted(times, t[e == 1]), minlength=times.size)
    d2 = np.bincount(np.searchsorted(times, t[e == 2]), minlength=times.size)
    n = np.maximum(at_risk, 1).astype(float)
    hazard = (d1 + d2) / n
    survival = np.cumprod(1.0 - hazard)
    before = np.concatenate([[1.0], survival[:-1]])
    return times, np.cumsum(before * d1 / n), np.cumsum(before * d2 / n)


def _mixture_fit(
    time: np.ndarray[Any, Any],
    event: np.ndarray[Any, Any],
    entry: np.ndarray[Any, Any],
    stale: bool = False,
    family: str = "lognormal",
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float] | None:
    """Maximum likelihood of a mixture: a deal is won after a lognormal time (mu_w, s_w), or
    lost after another lognormal (mu_l, s_l), or (``stale``) never closes; open deals are
    censored, late entries truncated. ``family`` ``gamma`` takes gamma times instead, with
    (log shape, log scale) in place of (mu, log s). The shares are a softmax of (a, 0, q);
    without ``stale``, q is minus infinity. The parameters (a, mu_w, log s_w, mu_l, log s_l[, q]),
    their covariance (the inverse of the numerical Hessian) and the log-likelihood, or None
    when the fit fails."""
    from scipy.optimize import minimize
    from scipy.special import gammaincc, gammaln, log_ndtr

    t = np.maximum(time, 0.5)
    lt = np.log(t)
    le = np.log(np.maximum(entry, 1e-9))
    late = entry > 0
    won, lost, cens = event == 1, event == 2, event == 0
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def shares(x: np.ndarray[Any, Any]) -> tuple[float, float, float]:
        q = float(x[5]) if stale else -math.inf
        top = max(float(x[0]), 0.0, q)
        w, lo, st = math.exp(x[0] - top), math.exp(-top), math.exp(q - top)
        total = w + lo + st
        return w / total, lo / total, st / total

    ev = np.maximum(entry, 1e-9)

    def logpdf(a: float, b: float, mask: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if family == "gamma":
            k, th = math.exp(a), math.exp(b)
            return np.asarray((k - 1) * lt[mask] - t[mask] / th - gammaln(k) - k * b)
        z = (lt[mask] - a) / math.exp(b)
        return np.asarray(-0.5 * z**2 - b - lt[mask] - half_log_2pi)

    def sf(a: float, b: float, x: np.ndarray[Any, Any], logx: np.ndarray[Any, Any]) -> Any:
        if family == "gamma":
            return gammaincc(math.exp(a), x / math.exp(b))
        return np.exp(log_ndtr(-(logx - a) / math.exp(b)))

    def nll(x: np.ndarray[Any, Any]) -> float:
        mw, lsw, ml, lsl = (float(v) for v in x[1:5])
        if max(abs(lsw), abs(lsl)) > 20 or (family == "gamma" and max(mw, ml) > 20):
            return 1e300
        pw, pl, ps = shares(x)
        if pw <= 0 or pl <= 0:
            return 1e300
        ll = float(
            np.sum(math.log(pw) + logpdf(mw, lsw, won))
            + np.sum(math.log(pl) + logpdf(ml, lsl, lost))
        )
        if cens.any():
            alive = pw * sf(mw, lsw, t[cens], lt[cens]) + pl * sf(ml, lsl, t[cens], lt[cens]) + ps
            ll += float(np.sum(np.log(np.maximum(alive, 1e-300))))
        if late.any():
            ew = sf(mw, lsw, ev[late], le[late])
            el = sf(ml, lsl, ev[late], le[late])
            ll -= float(np.sum(np.log(np.maximum(pw * ew + pl * el + ps, 1e-300))))
        return -ll if math.isfinite(ll) else 1e300

    def start(mask: np.ndarray[Any, Any]) -> tuple[float, float]:
        if family == "gamma":
            x = t[mask] if mask.sum() >= 2 else t
            k = max(float(np.mean(x) ** 2 / max(np.var(x), 1e-9)), 0.05)
            return math.log(k), math.log(float(np.mean(x)) / k)
        x = lt[mask] if mask.sum() >= 2 else lt
        return float(np.mean(x)), float(math.log(max(np.std(x), 0.1)))

    closed = won.sum() + lost.sum()
    p0 = min(max(won.sum() / max(closed, 1), 0.02), 0.98)
    x0 = [math.log(p0 / (1 - p0)), *start(won), *start(lost)]
    if stale:
        x0.append(math.log(max(cens.mean(), 0.01) / (1 - p0)))
    res = minimize(nll, np.array(x0), method="Nelder-Mead", options={"maxiter": 6000})
    res = minimize(nll, res.x, method="BFGS")
    if not np.all(np.isfinite(res.x)) or not math.isfinite(res.fun):
        return None
    h = _hessian(nll, res.x)
    try:
        cov = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        return None
    return np.asarray(res.x), cov, -float(res.fun)


def _best_fit(
    time: np.ndarray[Any, Any],
    event: np.ndarray[Any, Any],
    entry: np.ndarray[Any, Any],
    notes: list[str],
) -> tuple[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float] | None, str]:
    """The lognormal or the gamma mixture, whichever has the higher likelihood (same number of
    parameters), each with a share of stale deals that never close when the likelihood ratio
    test keeps it (boundary: chi-square 1 df, halved)."""
    best: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float] | None = None
    family = ""
    for kind in ("lognormal", "gamma"):
        fit = _mixture_fit(time, event, entry, family=kind)
        if fit is not None and (event == 0).any():
            stale = _mixture_fit(time, event, entry, stale=True, family=kind)
            if stale is not None and 2 * (stale[2] - fit[2]) > STALE_LR:
                fit = stale
        if fit is not None and (best is None or fit[2] > best[2]):
            best, family = fit, kind
    if best is not None and best[0].size == 6:
        e = np.exp([float(best[0][0]), 0.0, float(best[0][5])])
        notes.append(
            f"stale deals: a share {e[2] / e.sum():.3g} of deals never closes (open far longer "
            "than closed deals take); the scenario loses them at the end of the stage"
        )
    return best, family


def _moments(
    x: np.ndarray[Any, Any], i: int, family: str
) -> tuple[tuple[float, np.ndarray[Any, Any]], tuple[float, np.ndarray[Any, Any]]]:
    """Log mean and log cv of the time with parameters ``x[i], x[i + 1]``, each with its
    gradient in ``x`` (for the delta method)."""
    a, b = float(x[i]), float(x[i + 1])
    g_mean, g_cv = np.zeros(x.size), np.zeros(x.size)
    if family == "gamma":
        g_mean[i], g_mean[i + 1] = 1.0, 1.0
        g_cv[i] = -0.5
        return (a + b, g_mean), (-a / 2, g_cv)
    s2 = math.exp(2 * b)
    g_mean[i], g_mean[i + 1] = 1.0, s2
    g_cv[i + 1] = s2 * math.exp(s2) / math.expm1(s2)
    return (a + s2 / 2, g_mean), (0.5 * math.log(math.expm1(s2)), g_cv)


def _hessian(f: Any, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    n = x.size
    h = np.zeros((n, n))
    step = 1e-4 * np.maximum(np.abs(x), 1.0)
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = step[i], step[j]
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * step[i] * step[j]
            )
            h[i, j] = h[j, i] = v
    return h


def _wilson(p: float, n: int) -> tuple[float, float]:
    """The Wilson 95% interval of a proportion ``p`` of ``n``."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def _quantile_interval(values: np.ndarray[Any, Any]) -> tuple[float, float]:
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def competing_risks(
    dated: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Each dated deal's days from creation to its close (open deals: to ``end``, censored),
    its event (1 won, 2 lost, 0 open) and its entry: the days before ``start``, the first day
    the export sees closes, for deals created earlier (left-truncation)."""
    created = dated["created"]
    closed = dated["closed"].where(dated["outcome"] != "open")
    stop = closed.fillna(end)
    time = ((stop - created).dt.total_seconds() / 86400.0).to_numpy(float)
    time = np.maximum(time, 0.5)
    outcome = dated["outcome"].astype(str).to_numpy()
    event = np.where(outcome == "won", 1, np.where(outcome == "lost", 2, 0))
    entry = np.maximum(((start - created).dt.total_seconds() / 86400.0).to_numpy(float), 0.0)
    entry = np.minimum(entry, time - 1e-6)
    return time, event, entry


def segment_column(dated: pd.DataFrame) -> str | None:
    """The column deal values are segmented by: product, else sector (filled for most deals)."""
    return next((c for c in ("product", "sector") if dated[c].notna().mean() > 0.5), None)


def calibrate(crm: CrmExport, as_of: object = None) -> Calibration:
    """Fit ``crm`` as known at the end of ``as_of`` (default: its latest date)."""
    full = crm.opportunities()
    dates = pd.concat([full["created"], full["closed"]]).dropna()
    if dates.empty:
        raise ScenarioError([Problem("", "no dated deals to calibrate", crm.path.name)])
    latest = pd.Timestamp(dates.max()).normalize()
    notes: list[str] = []
    try:
        stamp = latest if as_of is None else pd.Timestamp(str(as_of))
    except ValueError:
        raise ScenarioError([Problem("as_of", f"{as_of!r} is not a date")]) from None
    if stamp > latest:
        # The export says nothing after its latest date: months after it are not empty months.
        notes.append(f"as-of {stamp:%Y-%m-%d} is after the export's latest date: fitted as of it")
        stamp = latest
    day = f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else stamp.isoformat()
    deals = crm.opportunities(as_of=day)
    repairs = tuple(format_repairs(crm.repairs(day)).splitlines())
    end = stamp + pd.Timedelta(days=1) if stamp == stamp.normalize() else stamp
    dated = deals[deals["created"].notna()]
    if len(dated) < 2:
        raise ScenarioError(
            [Problem("", f"fewer than 2 dated deals as of {stamp:%Y-%m-%d}", crm.path.name)]
        )
    mapping = crm.mapping
    estimates: list[Estimate] = []

    # (a) arrivals over the full months the export covers
    first_close = dated["closed"].min()
    first = dated["created"].min()
    start = _month_floor(first if pd.isna(first_close) else max(first, first_close))
    if start < first:
        start = start if start.day == 1 and first <= start else _month_floor(first)
    last = _month_floor(end)
    window_end = last
    if window_end <= start:
        window_end = end
        notes.append("no full month covered: the arrival rate uses the whole span")
    in_window = (dated["created"] >= start) & (dated["created"] < window_end)
    count = int(in_window.sum())
    exposure = (window_end - start).days / DAYS_PER_MONTH
    rate = count / exposure
    low, high = _poisson_interval(count, exposure)
    estimates.append(
        Estimate("arrivals.rate_per_month", rate, low, high, "data", f"{count} leads, Poisson")
    )
    if start > _month_floor(first):
        notes.append(
            f"left-truncation: closes start {first_close:%Y-%m-%d} but creates "
            f"{first:%Y-%m-%d}; months before {start:%Y-%m} are left out of the arrival rate "
            "(deals that closed before the export began are missing), and deals created "
            "before it enter the survival fit late"
        )
    notes.append("arrivals: created (engaged) deals; undated leads have no known arrival")

    # (c) win probability and cycle time: competing risks with censoring and truncation
    time, event, entry = competing_risks(dated, start, end)
    _, cif_won, _ = aalen_johansen(time, event, entry)
    win = float(cif_won[-1]) if cif_won.size else math.nan
    rng = np.random.default_rng(SEED)
    boots = []
    n = len(time)
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, n, n)
        _, cw, _ = aalen_johansen(time[i], event[i], entry[i])
        boots.append(cw[-1] if cw.size else math.nan)
    wl, wh = _quantile_interval(np.asarray(boots))
    n_open = int((event == 0).sum())
    estimates.append(
        Estimate(
            "win_probability",
            win,
            wl,
            wh,
            "data",
            f"Aalen-Johansen, {n_open} open deals censored, bootstrap",
        )
    )
    n_closed = max(int((event > 0).sum()), 1)
    naive = float((event == 1).sum() / n_closed)
    nl, nh = _wilson(naive, n_closed)
    estimates.append(
        Estimate("win_rate_closed_only", naive, nl, nh, "data", "open deals dropped: biased")
    )
    fit, family = _best_fit(time, event, entry, notes) if (event == 1).sum() >= 3 else (None, "")
    if fit is not None:
        x, cov, _ = fit
        (log_mean, g_mean), (log_cv, g_cv) = _moments(x, 1, family)
        se = math.sqrt(float(g_mean @ cov @ g_mean))
        se_cv = math.sqrt(float(g_cv @ cov @ g_cv))
        cycle_mean, cycle_cv = math.exp(log_mean), math.exp(log_cv)
        how = f"{family}, censored competing-risks mixture MLE"
        for name, value, err in (("mean", log_mean, se), ("cv", log_cv, se_cv)):
            estimates.append(Estimate.on_log_scale(f"cycle_days_won.{name}", value, err, how))
        (lm, gl), _ = _moments(x, 3, family)
        se2 = math.sqrt(float(gl @ cov @ gl))
        estimates.append(
            Estimate.on_log_scale(
                "cycle_days_lost.mean", lm, se2, "not simulated: lost deals take the won cycle"
            )
        )
    else:
        won_times = time[event == 1]
        cycle_mean = float(np.mean(won_times)) if won_times.size else 30.0
        cycle_cv = float(np.std(won_times) / cycle_mean) if won_times.size > 1 else 1.0
        estimates.append(
            Estimate(
                "cycle_days_won.mean",
                cycle_mean,
                math.nan,
                math.nan,
                "assumption",
                "too few wins to fit: mean of the wins seen",
            )
        )
    if not math.isfinite(win):
        win = naive
    estimates += [
        Estimate("arrivals.seasonality", 1.0, 1.0, 1.0, "assumption", "flat: not fitted"),
        Estimate("grades.margin", 0.2, 0.2, 0.2, "assumption", "the schema's default"),
        Estimate("grades.accounts", 50, 50, 50, "assumption", "accounts per grade"),
    ]
    # (b) deal values by segment
    grades, value_estimates, seg_note = _values(dated)
    estimates += value_estimates
    notes.append(seg_note)
    # (d) workload
    owners, cap, workload = _workload(dated, start, window_end, end)
    estimates += workload
    # (e) calendar
    calendar, cal_estimates, quarter, cal_note = _calendar(dated, start, window_end, win)
    estimates += cal_estimates
    notes.append(cal_note)
    recorded = {s for s in mapping.stages.values() if s in STAGES}
    at_creation = mapping.stage_at_creation
    timed: str = "proposal" if at_creation is None else str(at_creation)
    untimed = tuple(s for s in STAGES if s in recorded and s != timed)
    stage_fits: tuple[StageFit, ...] = ()
    if mapping.shape == "history":
        stage_fits = fit_stages(crm.history(day), tuple(recorded), start, end)
        estimates += [e for f in stage_fits for e in (f.pass_probability, f.mean_days)]
        done = {f.stage for f in stage_fits}
        untimed = tuple(s for s in STAGES if s in recorded and s not in done)
        if stage_fits and quarter is not None:
            # The effect is fitted on the whole cycle's closes: per-stage fits have no stage
            # whose pass probability is the win probability it preserves.
            quarter = None
            notes.append(
                "calendar: with per-stage fits the month-of-quarter effect is measured, not "
                "simulated"
            )
    cal = Calibration(
        as_of=stamp,
        window=(start, window_end),
        estimates=tuple(estimates),
        grades=grades,
        rate_per_month=rate,
        win_probability=win,
        cycle_mean=cycle_mean,
        cycle_cv=cycle_cv,
        cycle_family=family or "lognormal",
        timed_stage=timed,
        pass_through=tuple(mapping.pass_through),
        untimed=untimed,
        owners=owners,
        cap=cap,
        calendar=calendar,
        month_of_quarter=quarter,
        repairs=repairs,
        notes=tuple(notes),
        stage_fits=stage_fits,
    )
    return _sized(cal)


def _sized(cal: Calibration) -> Calibration:
    """Raise the cap until the analytic check finds every pool's offered load below
    ``MAX_LOAD``, so that waits for account managers do not distort the fitted cycle."""
    from dataclasses import replace

    from kamsim.analytic import check

    fitted = cal.cap
    for _ in range(60):
        result = check(cal.scenario())
        if float(result.pools["offered_load"].max()) < MAX_LOAD:
            break
        cal = replace(cal, cap=max(cal.cap + 1, math.ceil(cal.cap * 1.1)))
    if cal.cap != fitted:
        note = (
            f"account managers: deals_per_person raised from the P90 workload {fitted} to "
            f"{cal.cap} so that the offered load stays below {MAX_LOAD}"
        )
        cal = replace(cal, notes=(*cal.notes, note))
    return cal


def _values(
    dated: pd.DataFrame,
) -> tuple[dict[str, tuple[float, float, float, str]], list[Estimate], str]:
    won = dated[(dated["outcome"] == "won") & (dated["value"] > 0)]
    by = segment_column(dated)
    estimates: list[Estimate] = []
    if won.empty:
        cv = 0.5
        estimates.append(
            Estimate("value.mean", DEFAULT_VALUE, math.nan, math.nan, "assumption", "no values")
        )
        return {"A": (1.0, DEFAULT_VALUE, cv, "all")}, estimates, "values: none in the export"
    seg_won = won[by].fillna("?") if by else pd.Series("all", won.index)
    seg_all = dated[by].fillna("?") if by else pd.Series("all", dated.index)
    fits: dict[str, tuple[float, float, int]] = {}
    for seg, values in np.log(won["value"]).groupby(seg_won.to_numpy()):
        v = values.to_numpy(float)
        if v.size < 2:
            continue
        mu, s = float(v.mean()), float(v.std(ddof=1))
        fits[str(seg)] = (mu, s, v.size)
        m = mu + s**2 / 2
        se = math.sqrt(s**2 / v.size + s**4 / (2 * (v.size - 1)))
        estimates.append(
            Estimate.on_log_scale(
                f"value.mean[{seg}]", m, se, f"lognormal, {v.size} wins, sigma_log {s:.3g}"
            )
        )
    if not fits:
        v = np.log(won["value"].to_numpy(float))
        fits["all"] = (float(v.mean()), float(v.std()) if v.size > 1 else 0.5, v.size)
        seg_all = pd.Series("all", dated.index)
        seg_won = pd.Series("all", won.index)
    ordered = sorted(fits, key=lambda k: fits[k][0], reverse=True)
    groups = [
        list(g) for g in np.array_split(np.array(ordered, dtype=object), min(4, len(ordered)))
    ]
    counts = seg_all.value_counts()
    total = float(sum(counts.get(s, 0) for s in ordered)) or 1.0
    grades: dict[str, tuple[float, float, float, str]] = {}
    for key, group in zip(GRADES, groups, strict=False):
        # The grade's value: the mixture of its segments' lognormals, weighted by their wins,
        # matched by its mean and variance (so bookings keep their mean).
        w = np.array([fits[s][2] for s in group], dtype=float)
        mus = np.array([fits[s][0] for s in group])
        s2s = np.array([fits[s][1] ** 2 for s in group])
        w /= w.sum()
        mean = float(np.sum(w * np.exp(mus + s2s / 2)))
        second = float(np.sum(w * np.exp(2 * mus + 2 * s2s)))
        cv = math.sqrt(max(second / mean**2 - 1, 1e-6))
        share = float(sum(counts.get(s, 0) for s in group)) / total
        grades[key] = (share, mean, cv, ", ".join(str(s) for s in group))
    shares = sum(g[0] for g in grades.values())
    grades = {k: (g[0] / shares, g[1], g[2], g[3]) for k, g in grades.items()}
    for grade, (share, _, _, segs) in grades.items():
        low, high = _wilson(share, int(total))
        estimates.append(Estimate(f"grades.{grade}.share", share, low, high, "data", segs))
    note = (
        f"values: lognormal by {by or 'one segment'} (won deals); segments grouped "
        "into grades A-D by their median value (each grade's value matches its segments' mixture "
        "in mean and variance); win probability and cycle are the same for all "
        "grades (assumption)"
    )
    return grades, estimates, note


def _workload(
    dated: pd.DataFrame, start: pd.Timestamp, window_end: pd.Timestamp, end: pd.Timestamp
) -> tuple[int, int, list[Estimate]]:
    owners = dated["owner"].dropna()
    names = sorted(set(owners.astype(str)))
    if not names:
        return (
            1,
            1000,
            [Estimate("account_managers.headcount", 1, 1, 1, "assumption", "no owners")],
        )
    points = pd.date_range(start, window_end, freq="MS")[1:]
    if len(points) == 0:
        points = pd.DatetimeIndex([end])
    d = dated[dated["owner"].notna()]
    created = d["created"].to_numpy()
    closed = d["closed"].to_numpy()
    code = pd.Categorical(d["owner"].astype(str), categories=names).codes
    counts = np.zeros((len(names), len(points)))
    for j, t in enumerate(points.to_numpy()):
        active = (created < t) & ~(closed < t)  # open deals (NaT) stay active
        counts[:, j] = np.bincount(code[active], minlength=len(names))
    flat = counts.ravel()
    median, p90 = float(np.median(flat)), float(np.quantile(flat, 0.9))
    rng = np.random.default_rng(SEED + 1)
    boots = np.empty((BOOTSTRAP, 2))
    for b in range(BOOTSTRAP):
        rows = counts[rng.integers(0, len(names), len(names))].ravel()
        boots[b] = np.median(rows), np.quantile(rows, 0.9)
    ml, mh = _quantile_interval(boots[:, 0])
    pl, ph = _quantile_interval(boots[:, 1])
    cap = max(1, math.ceil(p90))
    return (
        len(names),
        cap,
        [
            Estimate(
                "account_managers.headcount", len(names), len(names), len(names), "data", "owners"
            ),
            Estimate(
                "workload.median_active_deals", median, ml, mh, "data", "per owner, month ends"
            ),
            Estimate("workload.p90_active_deals", p90, pl, ph, "data", "suggested portfolio cap"),
        ],
    )


def _calendar(
    dated: pd.DataFrame, start: pd.Timestamp, window_end: pd.Timestamp, win: float
) -> tuple[pd.DataFrame, list[Estimate], dict[str, list[float]] | None, str]:
    """Closes by month of quarter for wins and losses, each tested against flat (closes per day
    of the months the window covers), and the timed stage's ``month_of_quarter`` when either
    is not flat (p < ``CALENDAR_ALPHA``); with the note saying which."""
    from scipy.stats import chisquare

    days = pd.date_range(start, window_end - pd.Timedelta(days=1), freq="D")
    exposure = np.bincount((days.month.to_numpy() - 1) % 3, minlength=3).astype(float)
    rows = []
    estimates: list[Estimate] = []
    counts: dict[str, np.ndarray[Any, Any]] = {}
    pvalues: list[float] = []
    for outcome in ("won", "lost"):
        closes = dated.loc[dated["outcome"] == outcome, "closed"]
        closes = closes[(closes >= start) & (closes < window_end)]
        observed = np.bincount((closes.dt.month.to_numpy() - 1) % 3, minlength=3).astype(float)
        counts[outcome] = observed
        total = observed.sum()
        expected = exposure / exposure.sum() * total if exposure.sum() else observed
        p = math.nan
        if total > 0 and exposure.all():
            p = float(chisquare(observed, expected).pvalue)
        pvalues.append(p)
        for m in range(3):
            rows.append((outcome, m + 1, int(observed[m]), float(expected[m])))
        a, b = observed[2], observed[:2].sum()
        ea, eb = exposure[2], exposure[:2].sum()
        if a > 0 and b > 0 and ea > 0 and eb > 0:
            log_ratio = math.log((a / ea) / (b / eb))
            se = math.sqrt(1 / a + 1 / b)
            estimates.append(
                Estimate.on_log_scale(
                    f"calendar.{outcome}.quarter_end_ratio",
                    log_ratio,
                    se,
                    f"closes per day, month 3 vs 1-2; chi-square p = {p:.3g}",
                )
            )
    table = pd.DataFrame(rows, columns=["outcome", "month_of_quarter", "closes", "expected"])
    won, lost = counts["won"], counts["lost"]
    none = "no month-of-quarter effect is simulated"
    if not any(p < CALENDAR_ALPHA for p in pvalues):
        why = f"closes by month of quarter look flat (chi-square p >= {CALENDAR_ALPHA})"
        return table, estimates, None, f"calendar: {why}: {none}"
    if not (exposure.all() and (won > 0).all() and (lost > 0).all()):
        return (
            table,
            estimates,
            None,
            f"calendar: a month of quarter has no wins or no losses: {none}",
        )
    pace, pace_estimates = _quarter_pace(won + lost, exposure)
    log_odds, odds_estimates = _quarter_log_odds(won, lost, pace, win)
    effect = {"pace": pace, "log_odds": log_odds}
    table["fitted"] = _quarter_fitted(won, lost, exposure, pace, log_odds, win)
    note = (
        "calendar: closes by month of quarter are not flat; the timed stage's month_of_quarter "
        "simulates them (pace from all closes, log odds from the win share of each month)"
    )
    return table, [*estimates, *pace_estimates, *odds_estimates], effect, note


def _quarter_pace(
    closes: np.ndarray[Any, Any], exposure: np.ndarray[Any, Any]
) -> tuple[list[float], list[Estimate]]:
    """Pace of closing in each month of quarter: closes per day relative to their mean (so the
    mean pace is 1). Intervals by the delta method on the log, counts Poisson."""
    rate = closes / exposure
    pace = 3 * rate / rate.sum()
    estimates = []
    for m in range(3):
        # d log pace_m / d n_j = [j == m] / n_m - (1 / e_j) / sum(rate); var(n_j) = n_j
        grad = -(1 / exposure) / rate.sum()
        grad[m] += 1 / closes[m]
        se = math.sqrt(float((grad**2 * closes).sum()))
        estimates.append(
            Estimate.on_log_scale(
                f"calendar.pace.month_{m + 1}",
                math.log(pace[m]),
                se,
                "closes per day (won and lost) relative to the mean, delta method",
            )
        )
    return [float(x) for x in pace], estimates


def _quarter_log_odds(
    won: np.ndarray[Any, Any], lost: np.ndarray[Any, Any], pace: list[float], win: float
) -> tuple[list[float], list[Estimate]]:
    """Log odds of a win by month of quarter: logit of the month's win share among closes
    minus logit of the share among all closes, shifted by the one constant that keeps the
    win probability: the mean of logistic(logit(win) + log odds) over the months, weighted by
    the share of decisions each gets (its pace), is ``win``. Intervals: the delta method of
    each month's logit, 1/won + 1/lost."""
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    raw = logit(won / (won + lost)) - logit(won.sum() / (won.sum() + lost.sum()))
    weight = np.asarray(pace) / sum(pace)
    base = float(logit(_clip(win)))

    def gap(c: float) -> float:
        return float((weight * expit(base + raw + c)).sum()) - _clip(win)

    shift = float(brentq(gap, -50.0, 50.0))
    log_odds = raw + shift
    estimates = []
    for m in range(3):
        half = Z95 * math.sqrt(1 / won[m] + 1 / lost[m])
        estimates.append(
            Estimate(
                f"calendar.log_odds.month_{m + 1}",
                float(log_odds[m]),
                float(log_odds[m] - half),
                float(log_odds[m] + half),
                "data",
                "logit of the month's win share among closes vs all closes, delta method",
            )
        )
    return [float(x) for x in log_odds], estimates


def _quarter_fitted(
    won: np.ndarray[Any, Any],
    lost: np.ndarray[Any, Any],
    exposure: np.ndarray[Any, Any],
    pace: list[float],
    log_odds: list[float],
    win: float,
) -> np.ndarray[Any, Any]:
    """Closes by month of quarter as the fitted effect shapes them (rows won 1-3, lost 1-3):
    decisions in a month go with its days times its pace, a win with logistic(logit(win) +
    its log odds); each outcome scaled to its observed total, so the table compares shapes."""
    from scipy.special import expit, logit

    decisions = exposure * np.asarray(pace)
    chance = expit(float(logit(_clip(win))) + np.asarray(log_odds))
    out = []
    for observed, share in ((won, decisions * chance), (lost, decisions * (1 - chance))):
        out.append(observed.sum() * share / share.sum())
    return np.concatenate(out)


def calendar_pvalue(cal: Calibration, outcome: str) -> float:
    """The chi-square p-value of flat closes by month of quarter for ``outcome``."""
    from scipy.stats import chisquare

    t = cal.calendar[cal.calendar["outcome"] == outcome]
    return float(chisquare(t["closes"].to_numpy(float), t["expected"].to_numpy(float)).pvalue)
