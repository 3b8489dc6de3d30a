"""Pareto frontier of models: the ones no other model beats on both rating and cost.

The leaderboard marks with it the models worth their energy (rating against
Wh per 1k tokens): for each of them, no other model is at least as good for no
more energy.
"""

from __future__ import annotations

import numpy as np


def pareto_frontier(score, cost) -> np.ndarray:
    """Mask of models no other model dominates (higher score is better, lower cost is better).

    Model j dominates i when score_j >= score_i and cost_j <= cost_i with at
    least one strict. Models with identical (score, cost) both stay on the
    frontier. A NaN score or cost (say, energy never measured) is neither on
    the frontier nor dominates anyone.
    """
    score = np.asarray(score, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if score.shape != cost.shape or score.ndim != 1:
        raise ValueError("score and cost must be 1-d arrays of the same length")
    valid = ~(np.isnan(score) | np.isnan(cost))
    s, c = score[:, None], cost[:, None]  # i along rows, j along columns
    no_worse = (score[None, :] >= s) & (cost[None, :] <= c)
    better = (score[None, :] > s) | (cost[None, :] < c)
    dominated = (no_worse & better & valid[None, :]).any(1)
    return valid & ~dominated
