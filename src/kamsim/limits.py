"""The bounds that make every accepted scenario runnable.

A scenario that validates must run to completion in time proportional to its expected work,
with finite numbers everywhere, or be refused before anything is simulated. These constants
are the one home of the bounds that guarantee it; the scenario schema checks them and the
engine relies on them. Each is far beyond any real sales organisation, so no honest scenario
meets them, yet each stops a typo (``1e20`` leads a month, a ``1e308`` deal) from overflowing,
exhausting memory or looping forever.
"""

from __future__ import annotations

MAX_EXPECTED_LEADS = 100_000
"""Expected leads of one replication: new leads over the arrival window, plus the most
follow-on leads they can bring (every lead accepted with an executive relationship)."""

MAX_FOLLOW_ON_GENERATIONS = 20
"""Follow-on leads of follow-on leads stop after this many generations, so a chain of
zero-length stages and zero delays cannot loop at one instant."""

FOLLOW_ON_ID_STRIDE = 10_000_000
"""Deal ids: a new lead's id is its arrival index (below this stride); a follow-on lead's id
is its parent's id plus this stride, so ``id // stride`` is its generation and
``id % stride`` the new lead its chain started from. Ids are unique but not dense."""

OPEN_DEAL_ID_BASE = 1_000_000_000
"""Deal ids of a pipeline already under way (``kamsim.pipeline``): open deal i (its row in
the pipeline, from 0) has id ``OPEN_DEAL_ID_BASE + i``, above every new lead's and follow-on
lead's id (those stay below ``(MAX_FOLLOW_ON_GENERATIONS + 1) * FOLLOW_ON_ID_STRIDE``)."""

MAX_OPEN_DEALS = 100_000
"""Most deals in a pipeline already under way."""

MAX_DRAIN_MONTHS = 600
"""A drained run stops at the latest this many months past the horizon; a deal still in
progress then stays ``open``."""

MAX_HORIZON_MONTHS = 600
"""Longest horizon, in months of 365/12 days."""

MAX_DAYS = 36_500.0
"""Largest mean of a duration, delay or lag distribution, in days (a century)."""

MAX_MONEY = 1.0e12
"""Largest mean deal value and largest monthly cost, in the scenario currency."""

MAX_PARAMETER = 1.0e15
"""Largest magnitude of any distribution parameter, so means and variances stay finite."""

MAX_CV = 100.0
"""Largest coefficient of variation of a lognormal or gamma distribution."""

MAX_COMPETITORS = 100.0
"""Most rival bidders a deal can draw; the engine clips each (floored) draw to it."""

MAX_CHANGE_ORDERS = 1.0e12
"""Most change orders one implementation can expect (engine side): the cap on the Poisson
mean, which numpy refuses above about 9e18. Only an implementation whose work, scaled by
``value_elasticity``, runs far past any calendar can reach it."""

MAX_LOG_ODDS = 700.0
"""Largest magnitude of the summed log odds ratios applied to one chance (engine side).
``exp(700)`` is about 1e304, still finite, and a chance shifted this far is 0 or 1 to double
precision anyway, so clipping there changes nothing a scenario could observe."""

MAX_ACCOUNTS = 1_000_000
"""Most accounts of one grade."""

MAX_HEADCOUNT = 100_000
"""Most people in one pool."""

MAX_DEALS_PER_PERSON = 10_000
"""Most deals one person carries at once."""

MIN_REVIEW_DAYS = 1.0
"""Shortest interval between pipeline reviews, in days."""

PACE_RANGE = (0.01, 100.0)
"""Smallest and largest pace multiplier (closing intensity, acceptance pace)."""

MAX_SEED = 2**63 - 1
"""Largest root seed: seeds are stored in 64-bit integer columns."""

MAX_REPS = 1_000_000
"""Most replications of one run."""
