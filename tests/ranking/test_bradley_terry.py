"""Tests for ranking/bradley_terry.py, the model and the leaderboard entry point: no Django, no database."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from ranking import (
    OUTCOMES,
    RATING_POINTS_PER_LOGIT,
    collapse_battles,
    fit_bradley_terry,
    fit_ratings,
    simulate_battles,
)
from tests.ranking.conftest import TRUE_RATINGS, as_strings, centred


def _reference_ratings(model_a, model_b, outcome, names, weights=None):
    """Plain logistic regression, one row per battle, a tie as two half-weighted rows."""
    index = {name: i for i, name in enumerate(names)}
    winners, losers, row_weights = [], [], []
    weights = np.ones(len(model_a)) if weights is None else weights
    for a, b, o, w in zip(model_a, model_b, outcome, weights, strict=True):
        a, b = index[a], index[b]
        if o == "a":
            winners.append(a), losers.append(b), row_weights.append(w)
        elif o == "b":
            winners.append(b), losers.append(a), row_weights.append(w)
        else:
            winners += [a, b]
            losers += [b, a]
            row_weights += [w / 2, w / 2]
    winners, losers, row_weights = np.array(winners), np.array(losers), np.array(row_weights)

    def negative_log_likelihood(theta):
        margin = theta[winners] - theta[losers]
        value = np.sum(row_weights * np.logaddexp(0.0, -margin))
        residual = row_weights * expit(-margin)
        grad = np.zeros_like(theta)
        np.add.at(grad, winners, -residual)
        np.add.at(grad, losers, residual)
        return value, grad

    solution = minimize(
        negative_log_likelihood,
        np.zeros(len(names)),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-10, "maxiter": 10_000},
    )
    return centred(RATING_POINTS_PER_LOGIT * solution.x)


def test_it_recovers_the_true_order():
    sim = simulate_battles(TRUE_RATINGS, 20_000, tie_rate=0.2, seed=3)
    result = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=200)
    assert [row.name for row in result.leaderboard] == list(TRUE_RATINGS)
    assert list(result.rank) == [1, 2, 3, 4, 5]
    assert np.allclose(result.ratings, centred(list(TRUE_RATINGS.values())), atol=15)
    assert result.ratings.mean() == pytest.approx(1000.0)


@pytest.mark.parametrize("with_weights", [False, True])
def test_it_matches_a_plain_scipy_logistic_regression(with_weights):
    sim = simulate_battles(TRUE_RATINGS, 3_000, tie_rate=0.3, both_bad_rate=0.1, seed=7)
    model_a, model_b, outcome = as_strings(sim)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(outcome)) if with_weights else None
    result = fit_bradley_terry(model_a, model_b, outcome, weights=weights, bootstrap=0)
    reference = _reference_ratings(model_a, model_b, outcome, result.names, weights)
    assert np.abs(result.ratings - reference).max() < 0.1


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_it_does_not_depend_on_the_scale_of_the_weights(scale):
    sim = simulate_battles(TRUE_RATINGS, 5_000, tie_rate=0.2, seed=8)
    weights = np.random.default_rng(3).uniform(0.5, 2.0, len(sim.outcome))

    def fit(w):
        return fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, weights=w, bootstrap=50)

    plain, scaled = fit(weights), fit(weights * scale)
    assert np.abs(scaled.ratings - plain.ratings).max() < 0.01
    assert np.abs(scaled.lower - plain.lower).max() < 0.01
    assert np.abs(scaled.upper - plain.upper).max() < 0.01


def test_it_does_not_shrink_ratings_when_weights_sum_to_one():
    # The finding: a ridge in raw weight units shrank these ratings by up to 5.5 points.
    sim = simulate_battles(np.linspace(-400.0, 400.0, 40), 200_000, tie_rate=0.1, seed=9)
    collapsed = collapse_battles(sim.model_a, sim.model_b, sim.outcome, names=sim.names)
    unit, _ = fit_ratings(collapsed)
    normalised = collapse_battles(
        sim.model_a, sim.model_b, sim.outcome, names=sim.names, weights=np.full(len(sim.outcome), 1 / 200_000)
    )
    ratings, _ = fit_ratings(normalised)
    assert np.abs(ratings - unit).max() < 0.01


def test_it_fits_without_a_ridge_on_many_battles():
    # ridge=0 used to hit a singular Hessian: ratings are only identified up to a shift.
    sim = simulate_battles(np.linspace(-400.0, 400.0, 40), 200_000, tie_rate=0.1, seed=10)

    def fit(**kwargs):
        return fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=20, **kwargs)

    unpenalised, default = fit(ridge=0.0), fit()
    assert unpenalised.ratings.mean() == pytest.approx(1000.0)
    assert np.abs(unpenalised.ratings - default.ratings).max() < 0.01
    assert np.abs(unpenalised.lower - default.lower).max() < 0.01
    assert np.abs(unpenalised.upper - default.upper).max() < 0.01


def test_it_fits_without_a_ridge_with_style_control():
    verbosity = np.array([0.0, 0.0, 0.6, 0.0, 0.0])[:, None]
    sim = simulate_battles(
        TRUE_RATINGS,
        5_000,
        model_style=verbosity,
        style_coefficients=[120.0],
        style_noise=0.2,
        seed=12,
    )
    collapsed = collapse_battles(sim.model_a, sim.model_b, sim.outcome, names=sim.names, style=sim.style)
    unpenalised, default = fit_ratings(collapsed, ridge=0.0), fit_ratings(collapsed)
    assert np.abs(unpenalised[0] - default[0]).max() < 0.01
    assert np.abs(unpenalised[1] - default[1]).max() < 0.01


def test_it_treats_both_bad_as_a_tie_or_excludes_it():
    sim = simulate_battles(TRUE_RATINGS, 4_000, tie_rate=0.1, both_bad_rate=0.3, seed=11)
    model_a, model_b, outcome = as_strings(sim)
    as_tie = fit_bradley_terry(model_a, model_b, outcome, bootstrap=0, both_bad="tie")
    tie_relabelled = fit_bradley_terry(model_a, model_b, np.where(outcome == "both_bad", "tie", outcome), bootstrap=0)
    excluded = fit_bradley_terry(model_a, model_b, outcome, bootstrap=0, both_bad="exclude")
    dropped = outcome != "both_bad"
    without = fit_bradley_terry(model_a[dropped], model_b[dropped], outcome[dropped], bootstrap=0)

    assert np.allclose(as_tie.ratings, tie_relabelled.ratings)
    assert np.allclose(excluded.ratings, without.ratings)
    assert excluded.votes.sum() == without.votes.sum() < as_tie.votes.sum()
    # Ties pull ratings together, so excluding them spreads the ratings out.
    assert np.ptp(excluded.ratings) > np.ptp(as_tie.ratings)
    with pytest.raises(ValueError):
        fit_bradley_terry(model_a, model_b, outcome, bootstrap=0, both_bad="ignore")


def test_it_recovers_a_planted_style_coefficient_and_removes_the_length_bias():
    # "charlie" writes long answers; voters like length: 120 points per unit.
    verbosity = np.array([0.0, 0.0, 0.6, 0.0, 0.0])[:, None]
    sim = simulate_battles(
        TRUE_RATINGS,
        30_000,
        tie_rate=0.1,
        model_style=verbosity,
        style_coefficients=[120.0],
        style_noise=0.2,
        seed=5,
    )
    truth = centred(list(TRUE_RATINGS.values()))
    plain = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=0)
    controlled = fit_bradley_terry(
        sim.model_a,
        sim.model_b,
        sim.outcome,
        names=sim.names,
        style=sim.style,
        style_names=["length"],
        bootstrap=100,
    )
    charlie = sim.names.index("charlie")
    assert plain.ratings[charlie] - truth[charlie] > 40  # biased upwards by its length
    assert abs(controlled.ratings[charlie] - truth[charlie]) < 15
    assert np.abs(controlled.ratings - truth).max() < 15
    coefficient, lower, upper = controlled.style["length"]
    assert coefficient == pytest.approx(120.0, abs=15)
    assert lower < 120.0 < upper


def test_it_gives_identical_results_for_names_and_codes():
    sim = simulate_battles(TRUE_RATINGS, 3_000, tie_rate=0.2, seed=2)
    model_a, model_b, outcome = as_strings(sim)
    by_code = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=50)
    for battles in ((model_a, model_b, outcome), (model_a.tolist(), model_b.tolist(), outcome.tolist())):
        by_name = fit_bradley_terry(*battles, bootstrap=50)
        assert by_name.names == by_code.names  # TRUE_RATINGS is in alphabetical order
        for field in ("ratings", "lower", "upper", "rank", "votes", "bootstrap_ratings", "battle_counts"):
            assert np.array_equal(getattr(by_name, field), getattr(by_code, field)), field


def test_it_gives_the_same_answer_for_swapped_sides():
    sim = simulate_battles(TRUE_RATINGS, 3_000, seed=2)
    model_a, model_b, outcome = as_strings(sim)
    by_name = fit_bradley_terry(model_a, model_b, outcome, bootstrap=0)
    swapped_outcome = np.array(OUTCOMES)[[1, 0, 2, 3]][sim.outcome]
    swapped = fit_bradley_terry(model_b, model_a, swapped_outcome, bootstrap=0)
    assert np.allclose(swapped.ratings, by_name.ratings)


def test_it_stays_finite_when_a_model_never_loses():
    result = fit_bradley_terry(
        ["x", "x", "y", "y", "z"], ["y", "z", "z", "x", "x"], ["a", "a", "a", "b", "b"], bootstrap=50
    )
    assert np.all(np.isfinite(result.ratings)) and np.all(np.isfinite(result.lower))
    assert result.leaderboard[0].name == "x"
    assert result.ratings.mean() == pytest.approx(1000.0)


def test_it_rejects_bad_input():
    with pytest.raises(ValueError):
        fit_bradley_terry(["x"], ["x"], ["a"])
    with pytest.raises(ValueError):
        fit_bradley_terry(["x"], ["y"], ["win"])
    with pytest.raises(ValueError):
        fit_bradley_terry(["x"], ["y"], ["both_bad"], both_bad="exclude")
    with pytest.raises(ValueError):
        fit_bradley_terry(["x"], ["y"], ["a"], style=[[0.1, 0.2]], style_names=["length"])
