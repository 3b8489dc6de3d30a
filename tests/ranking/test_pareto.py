"""Tests for ranking/pareto.py: the rating-versus-cost frontier."""

import numpy as np

from ranking import pareto_frontier


def test_it_finds_the_pareto_frontier():
    score = [1200, 1150, 1100, 1100, 1000, 1250]
    cost = [10.0, 5.0, 5.0, 8.0, 1.0, np.nan]
    # 2 is dominated by 1 (same cost, lower score); 3 by 1; 5 has no cost.
    assert pareto_frontier(score, cost).tolist() == [True, True, False, False, True, False]


def test_it_keeps_identical_models_and_drops_nan():
    assert pareto_frontier([1, 1, np.nan], [2, 2, 0]).tolist() == [True, True, False]
    assert pareto_frontier([], []).tolist() == []
