"""Leaderboard maths, pure numpy/scipy: importable with neither Django nor Celery.

In the arena-rank layout: `collapse` prepares the battles, `bradley_terry` fits
the model (and `fit_bradley_terry` chains everything for the leaderboard),
`intervals` bootstraps and ranks, `tiers` groups the models the intervals cannot tell
from their tier's leader, `pareto` and `simulate` are the extras.
"""

from ranking.bradley_terry import (
    DEFAULT_RIDGE,
    RATING_MEAN,
    RATING_POINTS_PER_LOGIT,
    BradleyTerryResult,
    ModelRating,
    fit_bradley_terry,
    fit_ratings,
    fit_reweighted,
)
from ranking.collapse import (
    A_WINS,
    B_WINS,
    BOTH_BAD,
    OUTCOMES,
    TIE,
    CollapsedBattles,
    collapse_battles,
    credit_shares,
    pairwise_matrices,
    style_covariates,
    without_both_bad,
)
from ranking.intervals import bootstrap_ratings, percentile_intervals, rank_from_intervals, recentre
from ranking.pareto import pareto_frontier
from ranking.simulate import SimulatedBattles, simulate_battles
from ranking.tiers import statistical_tiers

__all__ = [
    "A_WINS",
    "B_WINS",
    "BOTH_BAD",
    "DEFAULT_RIDGE",
    "OUTCOMES",
    "RATING_MEAN",
    "RATING_POINTS_PER_LOGIT",
    "TIE",
    "BradleyTerryResult",
    "CollapsedBattles",
    "ModelRating",
    "SimulatedBattles",
    "bootstrap_ratings",
    "collapse_battles",
    "credit_shares",
    "fit_bradley_terry",
    "fit_ratings",
    "fit_reweighted",
    "pairwise_matrices",
    "pareto_frontier",
    "percentile_intervals",
    "rank_from_intervals",
    "recentre",
    "simulate_battles",
    "statistical_tiers",
    "style_covariates",
    "without_both_bad",
]
