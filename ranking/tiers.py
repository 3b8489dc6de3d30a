"""Statistical tiers: groups of models the votes cannot yet tell apart from their tier's leader.

A rank says how many models are significantly better; a tier answers the question people
ask of a leaderboard ("who is at the top?") without crowning a model whose lead is within
the noise. compar:IA added tiers after its number one on 191 votes was disputed.

The rule, on 95 % intervals (closed: touching bounds count as overlapping):

1. Tier 1 is led by the best-rated model. It holds that leader and every model whose
   interval overlaps the leader's.
2. Tier k+1 is led by the best-rated model not in tiers 1..k. It holds that leader and
   every model, not in tiers 1..k, whose interval overlaps this new leader's.
3. Repeat until every model has a tier.

So a model shares the tier of the first leader whose interval it overlaps, and each
leader's interval lies clear of every earlier leader's. Ties for leader (equal ratings)
go to the higher upper bound, then to the first in input order: the result is
deterministic. Tiers are computed over the models shown as ranked only: a model with too
few votes has an interval wide enough to swallow the whole table, so it is listed apart
before tiers are drawn.
"""

from __future__ import annotations

import numpy as np


def statistical_tiers(rating, lower, upper) -> np.ndarray:
    """Tier number of each model (1 = the leader's tier), by the rule of this module.

    rating, lower, upper: 1-d arrays of the same length (rating points), lower <= upper.
    Returns an int array aligned with the inputs; tiers are numbered 1, 2, ... without gaps.
    """
    rating = np.asarray(rating, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if not (rating.ndim == 1 and rating.shape == lower.shape == upper.shape):
        raise ValueError("rating, lower and upper must be 1-d arrays of the same length")
    if not (np.isfinite(rating).all() and np.isfinite(lower).all() and np.isfinite(upper).all()):
        raise ValueError("rating, lower and upper must be finite")
    if (lower > upper).any():
        raise ValueError("every lower bound must be <= its upper bound")
    n = len(rating)
    # Leader candidates, best first: rating, then upper bound, then input order.
    order = np.lexsort((np.arange(n), -upper, -rating))
    tier = np.zeros(n, dtype=np.int64)
    current = 0
    for leader in order:
        if tier[leader]:
            continue
        current += 1
        members = (tier == 0) & (lower <= upper[leader]) & (upper >= lower[leader])
        members[leader] = True
        tier[members] = current
    return tier
