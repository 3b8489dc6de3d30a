"""Uncertainty on the ratings: bootstrap refits, percentile intervals, and ranks from intervals.

`bootstrap_ratings` resamples battles on the collapsed table and refits the
Bradley-Terry model on every resample (through `ranking.bradley_terry`);
`percentile_intervals` turns those refits into bounds and
`rank_from_intervals` into Chatbot Arena's ranks, where models whose
intervals overlap share a rank. `recentre` moves a fit's ratings and intervals onto
the mean of a subset of its models (the ones a leaderboard ranks).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ranking.bradley_terry import DEFAULT_RIDGE, RATING_MEAN, fit_ratings, fit_reweighted
from ranking.collapse import CollapsedBattles

# Bootstrap rounds are solved together as one batched Newton problem; cap the
# size of the (rounds x rows) arrays of one batch so memory stays bounded.
_MAX_BATCH_CELLS = 2_000_000


def _resampled_row_weights(collapsed: CollapsedBattles, rounds: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """(B, R) row weights of multinomial resamples of the battles, in batches of bounded size."""
    n = collapsed.n_battles
    probabilities = collapsed.count / n
    mean_weight = collapsed.weight / collapsed.count
    batch = max(1, _MAX_BATCH_CELLS // len(collapsed.count))
    for first in range(0, rounds, batch):
        size = min(batch, rounds - first)
        yield rng.multinomial(n, probabilities, size=size) * mean_weight


def bootstrap_ratings(
    collapsed: CollapsedBattles,
    *,
    rounds: int = 1000,
    seed: int = 0,
    both_bad: str = "tie",
    ridge: float = DEFAULT_RIDGE,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit on ``rounds`` multinomial resamples of the collapsed rows.

    Each round draws new row counts (total = number of battles, probabilities
    = observed counts / total), the non-parametric bootstrap over battles done
    on the collapsed table. A row's weight scales with its drawn count (its
    mean weight per battle is kept). Rounds are solved together as batched
    Newton problems, warm-started from ``start`` (the full fit) when given.
    Returns (ratings (rounds, M), style coefficients (rounds, k)).
    """
    rng = np.random.default_rng(seed)
    if start is None:
        start = fit_ratings(collapsed, both_bad=both_bad, ridge=ridge)
    k = 0 if collapsed.style is None else collapsed.style.shape[1]
    ratings = np.empty((rounds, collapsed.n_models))
    coefficients = np.empty((rounds, k))
    first = 0
    batches = _resampled_row_weights(collapsed, rounds, rng)
    for batch_ratings, batch_coefficients in fit_reweighted(
        collapsed, batches, start=start, both_bad=both_bad, ridge=ridge
    ):
        stop = first + len(batch_ratings)
        ratings[first:stop], coefficients[first:stop] = batch_ratings, batch_coefficients
        first = stop
    return ratings, coefficients


def percentile_intervals(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over axis 0 (bootstrap rounds)."""
    tail = 100.0 * (1.0 - level) / 2.0
    lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return lower, upper


def rank_from_intervals(lower, upper) -> np.ndarray:
    """Chatbot Arena rank: 1 + number of models whose lower bound is above my upper bound.

    Models whose intervals overlap share a rank, so ranks may repeat and skip.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    return 1 + (lower[None, :] > upper[:, None]).sum(1)


def recentre(ratings, bootstrap, anchor, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ratings, lower, upper) of every model, centred so that the `anchor` models average
    RATING_MEAN in the fit and in every bootstrap round.

    Bradley-Terry identifies differences only, and the fit centres each round on the mean
    of all its models. A model with a handful of votes swings by hundreds of points from
    one round to the next (it may win every battle of a resample), and that mean carries
    the swing into every other model's interval. Centred on the models a leaderboard
    ranks, their intervals show their own uncertainty. With every model as anchor this
    gives back the fit's own ratings and intervals.

    ratings: (M,); bootstrap: (rounds, M) refits (no rounds: the bounds are the ratings);
    anchor: (M,) boolean mask, at least one model.
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    bootstrap = np.asarray(bootstrap, dtype=np.float64)
    anchor = np.asarray(anchor, dtype=bool)
    if ratings.ndim != 1 or anchor.shape != ratings.shape or bootstrap.ndim != 2 or bootstrap.shape[1] != len(ratings):
        raise ValueError("ratings (M,), bootstrap (rounds, M) and anchor (M,) must agree")
    if not anchor.any():
        raise ValueError("the anchor must hold at least one model")
    centred = ratings - ratings[anchor].mean() + RATING_MEAN
    if len(bootstrap) == 0:
        return centred, centred.copy(), centred.copy()
    rounds = bootstrap - bootstrap[:, anchor].mean(1, keepdims=True) + RATING_MEAN
    lower, upper = percentile_intervals(rounds, level)
    return centred, lower, upper
