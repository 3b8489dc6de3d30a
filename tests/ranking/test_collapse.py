"""Tests for ranking/collapse.py: encoding, collapsing and the tables derived from collapsed battles."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking import OUTCOMES, collapse_battles, pairwise_matrices, simulate_battles, style_covariates
from tests.ranking.conftest import TRUE_RATINGS, as_strings


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
    rows = set(zip(collapsed.model_i, collapsed.model_j, collapsed.outcome, strict=True))
    assert len(rows) == len(collapsed.count)  # unique rows
    # Wins per (winner, loser) and ties per pair survive the collapse.
    expected, found = {}, {}
    for a, b, o in zip(model_a, model_b, outcome, strict=True):
        key = (a, b) if o == "a" else (b, a) if o == "b" else (o, *sorted((a, b)))
        expected[key] = expected.get(key, 0) + 1
    for i, j, o, count in zip(collapsed.model_i, collapsed.model_j, collapsed.outcome, collapsed.count, strict=True):
        a, b = collapsed.names[i], collapsed.names[j]
        label = OUTCOMES[o]
        key = (a, b) if label == "a" else (b, a) if label == "b" else (label, a, b)
        found[key] = found.get(key, 0) + int(count)
    assert found == expected


def test_it_treats_a_swapped_battle_as_the_same_row():
    collapsed = collapse_battles(["x", "y", "x"], ["y", "x", "y"], ["a", "b", "tie"])
    assert collapsed.names == ("x", "y")
    assert sorted(zip(collapsed.outcome.tolist(), collapsed.count.tolist(), strict=True)) == [(0, 2), (2, 1)]


def test_it_collapses_names_and_codes_to_the_same_rows():
    sim = simulate_battles(TRUE_RATINGS, 5_000, tie_rate=0.2, both_bad_rate=0.1, seed=4)
    model_a, model_b, outcome = as_strings(sim)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(outcome))
    by_code = collapse_battles(sim.model_a, sim.model_b, sim.outcome, names=sim.names, weights=weights)
    as_lists = (model_a.tolist(), model_b.tolist(), outcome.tolist())  # what the leaderboard passes
    as_objects = (model_a.astype(object), model_b.astype(object), outcome.astype(object))
    for battles in ((model_a, model_b, outcome), as_lists, as_objects):
        by_name = collapse_battles(*battles, weights=weights)
        assert by_name.names == by_code.names
        for field in ("model_i", "model_j", "outcome", "count", "weight"):
            assert np.array_equal(getattr(by_name, field), getattr(by_code, field)), field


def test_it_sorts_names_and_drops_models_without_battles():
    collapsed = collapse_battles(["zeta", "alpha"], ["mu", "zeta"], ["a", "b"])
    assert collapsed.names == ("alpha", "mu", "zeta")
    by_code = collapse_battles([2, 0], [0, 2], [0, 1], names=["x", "unused", "y"])
    assert by_code.names == ("x", "y")


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


def test_it_computes_normalised_style_covariates():
    x = style_covariates([[300, 2], [0, 0]], [[100, 0], [0, 0]])
    assert x.tolist() == [[0.5, 1.0], [0.0, 0.0]]
    assert (style_covariates([[100, 0]], [[300, 2]]) == -x[:1]).all()


def test_it_rejects_bad_battles():
    with pytest.raises(ValueError):
        collapse_battles(["x"], ["x"], ["a"])
    with pytest.raises(ValueError):
        collapse_battles(["x"], ["y"], ["win"])
    with pytest.raises(ValueError):
        collapse_battles(["x", "y"], ["y"], ["a"])
    with pytest.raises(ValueError):
        collapse_battles(["x"], ["y"], ["a"], names=["x", "y"])
    with pytest.raises(ValueError):
        collapse_battles([0], [3], [0], names=["x", "y"])
    with pytest.raises(ValueError):
        collapse_battles(["x"], ["y"], ["a"], weights=[-1.0])
