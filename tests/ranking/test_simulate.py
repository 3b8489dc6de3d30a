"""Tests for ranking/simulate.py: synthetic battles of known strength."""

import numpy as np
import pytest
from scipy.special import expit

from ranking import A_WINS, RATING_POINTS_PER_LOGIT, TIE, simulate_battles
from tests.ranking.conftest import TRUE_RATINGS


def test_it_is_deterministic_given_a_seed():
    sim = simulate_battles(TRUE_RATINGS, 2_000, seed=1)
    again = simulate_battles(TRUE_RATINGS, 2_000, seed=1)
    other = simulate_battles(TRUE_RATINGS, 2_000, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(sim[:3], again[:3], strict=True))
    assert not np.array_equal(sim.outcome, other.outcome)


def test_it_scores_a_pair_as_the_model_predicts():
    sim = simulate_battles({"strong": 1100.0, "weak": 1000.0}, 200_000, tie_rate=0.2, seed=3)
    strong_is_a = sim.model_a == 0
    score_a = (sim.outcome == A_WINS) + 0.5 * (sim.outcome == TIE)
    strong_score = np.where(strong_is_a, score_a, 1.0 - score_a).mean()
    assert strong_score == pytest.approx(expit(100.0 / RATING_POINTS_PER_LOGIT), abs=0.005)


def test_it_rejects_impossible_rates():
    with pytest.raises(ValueError):
        simulate_battles(TRUE_RATINGS, 10, tie_rate=0.6)
    with pytest.raises(ValueError):
        simulate_battles([1000.0], 10)
