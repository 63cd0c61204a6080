"""One fitted number with its 95% interval and where it came from: what every fit reports.

Calibration (:mod:`kamsim.calibrate`) and the per-stage fits (:mod:`kamsim.stage_fit`) both
report :class:`Estimate` values, so the type lives below both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
"""The two-sided 95% quantile of the standard normal."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """One fitted number with its 95% interval and where it came from."""

    name: str
    value: float
    low: float
    high: float
    source: str
    """``data`` (estimated from the export) or ``assumption``."""
    note: str = ""

    @classmethod
    def on_log_scale(
        cls, name: str, log_value: float, se: float, note: str, quantile: float = Z95
    ) -> Estimate:
        """A positive figure estimated on the log scale (standard error ``se`` there): its
        interval is the exponential of the normal (or, with ``quantile``, t) interval of the
        log, from the data."""
        return cls(
            name,
            math.exp(log_value),
            math.exp(log_value - quantile * se),
            math.exp(log_value + quantile * se),
            "data",
            note,
        )

    def format(self) -> str:
        def f(x: float) -> str:
            return "-" if math.isnan(x) else f"{x:.4g}"

        ci = f"[{f(self.low)}, {f(self.high)}]"
        note = f"  {self.note}" if self.note else ""
        return f"{self.name:<40} {f(self.value):>12} {ci:>26}  {self.source}{note}"
