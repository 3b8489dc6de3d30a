"""Tests for the pure ranking core (arena/ranking.py): no Django, no database."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import expit

from arena.ranking import (
    OUTCOMES,
    RATING_POINTS_PER_LOGIT,
    collapse_battles,
    fit_bradley_terry,
    pairwise_matrices,
    pareto_frontier,
    rank_from_intervals,
    simulate_battles,
    style_covariates,
)

TRUE_RATINGS = {"alpha": 1200.0, "bravo": 1120.0, "charlie": 1040.0, "delta": 960.0, "echo": 880.0}


def _centred(ratings):
    values = np.asarray(ratings, dtype=np.float64)
    return values - values.mean() + 1000.0


def _as_strings(sim):
    names = np.asarray(sim.names)
    return names[sim.model_a], names[sim.model_b], np.asarray(OUTCOMES)[sim.outcome]


def _reference_ratings(model_a, model_b, outcome, names, weights=None):
    """Plain logistic regression, one row per battle, a tie as two half-weighted rows."""
    index = {name: i for i, name in enumerate(names)}
    winners, losers, row_weights = [], [], []
    weights = np.ones(len(model_a)) if weights is None else weights
    for a, b, o, w in zip(model_a, model_b, outcome, weights):
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
        negative_log_likelihood, np.zeros(len(names)), jac=True, method="BFGS",
        options={"gtol": 1e-10, "maxiter": 10_000},
    )
    return _centred(RATING_POINTS_PER_LOGIT * solution.x)


def test_it_recovers_the_true_order():
    sim = simulate_battles(TRUE_RATINGS, 20_000, tie_rate=0.2, seed=3)
    result = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=200)
    assert [row.name for row in result.leaderboard] == list(TRUE_RATINGS)
    assert list(result.rank) == [1, 2, 3, 4, 5]
    assert np.allclose(result.ratings, _centred(list(TRUE_RATINGS.values())), atol=15)
    assert result.ratings.mean() == pytest.approx(1000.0)


def test_it_covers_the_true_ratings_about_95_percent_of_the_time():
    truth = _centred(list(TRUE_RATINGS.values()))
    covered = []
    for repetition in range(40):
        sim = simulate_battles(TRUE_RATINGS, 2_000, tie_rate=0.2, seed=100 + repetition)
        result = fit_bradley_terry(
            sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=300, seed=repetition
        )
        covered.extend((result.lower <= truth) & (truth <= result.upper))
    coverage = np.mean(covered)
    assert 0.85 <= coverage <= 0.99, coverage


@pytest.mark.parametrize("with_weights", [False, True])
def test_it_matches_a_plain_scipy_logistic_regression(with_weights):
    sim = simulate_battles(TRUE_RATINGS, 3_000, tie_rate=0.3, both_bad_rate=0.1, seed=7)
    model_a, model_b, outcome = _as_strings(sim)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(outcome)) if with_weights else None
    result = fit_bradley_terry(model_a, model_b, outcome, weights=weights, bootstrap=0)
    reference = _reference_ratings(model_a, model_b, outcome, result.names, weights)
    assert np.abs(result.ratings - reference).max() < 0.1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from(OUTCOMES)).filter(
            lambda battle: battle[0] != battle[1]
        ),
        min_size=1,
        max_size=60,
    )
)
def test_it_collapses_losslessly(battles):
    names = ["m0", "m1", "m2", "m3", "m4"]
    model_a = np.array([names[a] for a, _, _ in battles])
    model_b = np.array([names[b] for _, b, _ in battles])
    outcome = np.array([o for _, _, o in battles])
    collapsed = collapse_battles(model_a, model_b, outcome)

    assert collapsed.n_battles == len(battles)
    assert np.all(collapsed.model_i < collapsed.model_j)
    rows = set(zip(collapsed.model_i, collapsed.model_j, collapsed.outcome))
    assert len(rows) == len(collapsed.count)  # unique rows
    # Wins per (winner, loser) and ties per pair survive the collapse.
    expected, found = {}, {}
    for a, b, o in zip(model_a, model_b, outcome):
        key = (a, b) if o == "a" else (b, a) if o == "b" else (o, *sorted((a, b)))
        expected[key] = expected.get(key, 0) + 1
    for i, j, o, count in zip(collapsed.model_i, collapsed.model_j, collapsed.outcome, collapsed.count):
        a, b = collapsed.names[i], collapsed.names[j]
        label = OUTCOMES[o]
        key = (a, b) if label == "a" else (b, a) if label == "b" else (label, a, b)
        found[key] = found.get(key, 0) + int(count)
    assert found == expected


def test_it_treats_a_swapped_battle_as_the_same_row():
    collapsed = collapse_battles(["x", "y", "x"], ["y", "x", "y"], ["a", "b", "tie"])
    assert collapsed.names == ("x", "y")
    assert sorted(zip(collapsed.outcome.tolist(), collapsed.count.tolist())) == [(0, 2), (2, 1)]


def test_it_ranks_by_non_overlapping_intervals():
    lower = [1100, 1050, 1040, 900]
    upper = [1150, 1120, 1060, 1000]
    # 1: nobody above. 2: overlaps model 0. 3: model 0 is entirely above. 4: all three above.
    assert rank_from_intervals(lower, upper).tolist() == [1, 1, 2, 4]


def test_it_computes_win_rates_and_battle_counts():
    collapsed = collapse_battles(
        ["x", "x", "y", "x", "z", "x"],
        ["y", "y", "x", "z", "x", "y"],
        ["a", "tie", "a", "a", "b", "both_bad"],
    )
    win_rate, counts = pairwise_matrices(collapsed)
    # x-y: x won one, tied two (tie and both_bad), lost one -> 2 / 4.
    # x-z: x won both.
    assert counts.tolist() == [[0, 4, 2], [4, 0, 0], [2, 0, 0]]
    assert win_rate[0, 1] == pytest.approx(0.5)
    assert win_rate[0, 2] == pytest.approx(1.0)
    assert win_rate[2, 0] == pytest.approx(0.0)
    assert np.isnan(win_rate[1, 2]) and np.isnan(win_rate[0, 0])

    win_rate, counts = pairwise_matrices(collapsed, both_bad="exclude")
    assert counts[0, 1] == 3
    assert win_rate[0, 1] == pytest.approx(1.5 / 3)


def test_it_treats_both_bad_as_a_tie_or_excludes_it():
    sim = simulate_battles(TRUE_RATINGS, 4_000, tie_rate=0.1, both_bad_rate=0.3, seed=11)
    model_a, model_b, outcome = _as_strings(sim)
    as_tie = fit_bradley_terry(model_a, model_b, outcome, bootstrap=0, both_bad="tie")
    tie_relabelled = fit_bradley_terry(
        model_a, model_b, np.where(outcome == "both_bad", "tie", outcome), bootstrap=0
    )
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
        TRUE_RATINGS, 30_000, tie_rate=0.1, model_style=verbosity, style_coefficients=[120.0],
        style_noise=0.2, seed=5,
    )
    truth = _centred(list(TRUE_RATINGS.values()))
    plain = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=0)
    controlled = fit_bradley_terry(
        sim.model_a, sim.model_b, sim.outcome, names=sim.names, style=sim.style,
        style_names=["length"], bootstrap=100,
    )
    charlie = sim.names.index("charlie")
    assert plain.ratings[charlie] - truth[charlie] > 40  # biased upwards by its length
    assert abs(controlled.ratings[charlie] - truth[charlie]) < 15
    assert np.abs(controlled.ratings - truth).max() < 15
    coefficient, lower, upper = controlled.style["length"]
    assert coefficient == pytest.approx(120.0, abs=15)
    assert lower < 120.0 < upper


def test_it_computes_normalised_style_covariates():
    x = style_covariates([[300, 2], [0, 0]], [[100, 0], [0, 0]])
    assert x.tolist() == [[0.5, 1.0], [0.0, 0.0]]
    assert (style_covariates([[100, 0]], [[300, 2]]) == -x[:1]).all()


def test_it_finds_the_pareto_frontier():
    score = [1200, 1150, 1100, 1100, 1000, 1250]
    cost = [10.0, 5.0, 5.0, 8.0, 1.0, np.nan]
    # 2 is dominated by 1 (same cost, lower score); 3 by 1; 5 has no cost.
    assert pareto_frontier(score, cost).tolist() == [True, True, False, False, True, False]
    # Identical models both stay; a NaN score is out.
    assert pareto_frontier([1, 1, np.nan], [2, 2, 0]).tolist() == [True, True, False]
    assert pareto_frontier([], []).tolist() == []


def test_it_is_deterministic_given_a_seed():
    sim = simulate_battles(TRUE_RATINGS, 2_000, seed=1)
    again = simulate_battles(TRUE_RATINGS, 2_000, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(sim[:3], again[:3]))

    def fit(seed):
        return fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=100, seed=seed)

    first, second, other = fit(0), fit(0), fit(1)
    assert np.array_equal(first.bootstrap_ratings, second.bootstrap_ratings)
    assert np.array_equal(first.lower, second.lower)
    assert not np.array_equal(first.bootstrap_ratings, other.bootstrap_ratings)


def test_it_gives_the_same_answer_for_names_and_codes_and_swapped_sides():
    sim = simulate_battles(TRUE_RATINGS, 3_000, seed=2)
    model_a, model_b, outcome = _as_strings(sim)
    by_code = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=50)
    by_name = fit_bradley_terry(model_a, model_b, outcome, bootstrap=50)
    order = [by_name.names.index(name) for name in by_code.names]
    assert np.allclose(by_code.ratings, by_name.ratings[order])
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
        simulate_battles(TRUE_RATINGS, 10, tie_rate=0.6)
