"""Tests for ranking/intervals.py: bootstrap refits, percentile intervals, ranks, re-centring."""

import numpy as np
import pytest

from ranking import collapse_battles, fit_bradley_terry, rank_from_intervals, recentre, simulate_battles
from ranking.intervals import bootstrap_ratings
from tests.ranking.conftest import TRUE_RATINGS, centred


def test_it_ranks_by_non_overlapping_intervals():
    lower = [1100, 1050, 1040, 900]
    upper = [1150, 1120, 1060, 1000]
    # 1: nobody above. 2: overlaps model 0. 3: model 0 is entirely above. 4: all three above.
    assert rank_from_intervals(lower, upper).tolist() == [1, 1, 2, 4]


def test_it_covers_the_true_ratings_about_95_percent_of_the_time():
    truth = centred(list(TRUE_RATINGS.values()))
    covered = []
    for repetition in range(40):
        sim = simulate_battles(TRUE_RATINGS, 2_000, tie_rate=0.2, seed=100 + repetition)
        result = fit_bradley_terry(
            sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=300, seed=repetition
        )
        covered.extend((result.lower <= truth) & (truth <= result.upper))
    coverage = np.mean(covered)
    assert 0.85 <= coverage <= 0.99, coverage


def test_it_is_deterministic_given_a_seed():
    sim = simulate_battles(TRUE_RATINGS, 2_000, seed=1)

    def fit(seed):
        return fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=100, seed=seed)

    first, second, other = fit(0), fit(0), fit(1)
    assert np.array_equal(first.bootstrap_ratings, second.bootstrap_ratings)
    assert np.array_equal(first.lower, second.lower)
    assert not np.array_equal(first.bootstrap_ratings, other.bootstrap_ratings)


def test_it_gives_the_same_rounds_cold_or_warm_started():
    sim = simulate_battles(TRUE_RATINGS, 3_000, seed=6)
    collapsed = collapse_battles(sim.model_a, sim.model_b, sim.outcome, names=sim.names)
    cold, _ = bootstrap_ratings(collapsed, rounds=30, seed=2)
    warm, _ = bootstrap_ratings(collapsed, rounds=30, seed=2, start=(centred([1000.0] * 5), np.empty(0)))
    assert cold.shape == (30, 5)
    assert np.abs(cold - warm).max() < 1e-3


def test_it_recentres_on_every_model_without_changing_anything():
    sim = simulate_battles(TRUE_RATINGS, 2_000, seed=8)
    result = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=100)

    rating, lower, upper = recentre(result.ratings, result.bootstrap_ratings, np.ones(5, bool), result.level)

    assert np.allclose(rating, result.ratings) and np.allclose(lower, result.lower) and np.allclose(upper, result.upper)


def test_it_keeps_a_model_with_few_votes_from_widening_the_others_intervals():
    sim = simulate_battles(TRUE_RATINGS, 3_000, seed=9)
    # "newcomer" played 4 battles and won them all: its refits swing by hundreds of points.
    names = (*sim.names, "newcomer")
    a = np.concatenate([sim.model_a, [5, 5, 5, 5]])
    b = np.concatenate([sim.model_b, [0, 1, 2, 3]])
    outcome = np.concatenate([sim.outcome, [0, 0, 0, 0]])
    result = fit_bradley_terry(a, b, outcome, names=names, bootstrap=200, seed=1)
    ranked = np.array([True] * 5 + [False])

    rating, lower, upper = recentre(result.ratings, result.bootstrap_ratings, ranked, result.level)

    assert np.mean(rating[ranked]) == pytest.approx(1000.0)
    assert np.allclose(np.diff(rating), np.diff(result.ratings))  # only the level moves
    assert ((upper - lower)[ranked] < (result.upper - result.lower)[ranked]).all()
    assert np.all(lower <= rating) and np.all(rating <= upper)


def test_it_recentres_a_fit_without_bootstrap_and_refuses_an_empty_anchor():
    rating, lower, upper = recentre([1100.0, 900.0, 1300.0], np.empty((0, 3)), [True, True, False])
    assert rating.tolist() == lower.tolist() == upper.tolist() == [1100.0, 900.0, 1300.0]
    with pytest.raises(ValueError):
        recentre([1000.0, 1000.0], np.empty((0, 2)), [False, False])
    with pytest.raises(ValueError):
        recentre([1000.0, 1000.0], np.empty((0, 3)), [True, True])
