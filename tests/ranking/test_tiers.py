"""Tests for ranking/tiers.py: statistical tiers from 95 % intervals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking import fit_bradley_terry, simulate_battles, statistical_tiers


def _overlap(lower, upper, i, j) -> bool:
    return lower[i] <= upper[j] and lower[j] <= upper[i]


# -- the rule on hand-written intervals ---------------------------------------------------
def test_it_puts_models_overlapping_the_leader_in_its_tier():
    rating = [1100, 1080, 1000]
    lower = [1070, 1060, 980]
    upper = [1130, 1100, 1020]
    assert statistical_tiers(rating, lower, upper).tolist() == [1, 1, 2]


def test_it_starts_the_next_tier_at_the_best_model_clear_of_the_leader():
    # b overlaps a; c overlaps b but not a: c leads tier 2 (overlap with a member is not
    # enough, only with the leader); d overlaps c, e overlaps nobody above it.
    rating = [1200, 1150, 1100, 1060, 900]
    lower = [1170, 1120, 1080, 1040, 880]
    upper = [1230, 1180, 1120, 1085, 920]
    assert statistical_tiers(rating, lower, upper).tolist() == [1, 1, 2, 2, 3]


def test_it_lets_a_wide_interval_join_the_first_leader_it_overlaps():
    # c is rated below b, but its interval (few votes) still reaches the leader's: it is
    # not shown to be worse than the leader, so it shares tier 1; b is, so b leads tier 2.
    rating = [1100, 1060, 1040]
    lower = [1080, 1050, 950]
    upper = [1120, 1070, 1130]
    assert statistical_tiers(rating, lower, upper).tolist() == [1, 2, 1]


def test_it_counts_touching_bounds_as_overlapping():
    assert statistical_tiers([1100, 1000], [1050, 950], [1150, 1050]).tolist() == [1, 1]
    assert statistical_tiers([1100, 1000], [1050, 950], [1150, 1049.9]).tolist() == [1, 2]


def test_it_breaks_ties_for_leader_by_upper_bound_then_order():
    # Equal ratings: the higher upper bound leads; here the other one does not reach it.
    assert statistical_tiers([1000, 1000], [990, 1002], [998, 1010]).tolist() == [2, 1]
    # Equal ratings and bounds: the first in input order leads, and both share its tier.
    assert statistical_tiers([1000, 1000, 900], [990, 990, 890], [1010, 1010, 910]).tolist() == [1, 1, 2]


def test_it_handles_no_model_and_one_model():
    assert statistical_tiers([], [], []).tolist() == []
    assert statistical_tiers([1000], [900], [1100]).tolist() == [1]


@pytest.mark.parametrize(
    "rating, lower, upper",
    [
        ([1000, 900], [950], [1050, 950]),
        ([[1000]], [[900]], [[1100]]),
        ([1000], [1100], [900]),
        ([float("nan")], [900], [1100]),
    ],
)
def test_it_refuses_inconsistent_input(rating, lower, upper):
    with pytest.raises(ValueError):
        statistical_tiers(rating, lower, upper)


# -- properties of the rule -----------------------------------------------------------------
@st.composite
def intervals(draw):
    n = draw(st.integers(0, 12))
    rating = np.array(draw(st.lists(st.integers(700, 1300), min_size=n, max_size=n)), dtype=float)
    below = np.array(draw(st.lists(st.integers(0, 150), min_size=n, max_size=n)), dtype=float)
    above = np.array(draw(st.lists(st.integers(0, 150), min_size=n, max_size=n)), dtype=float)
    return rating, rating - below, rating + above


@settings(max_examples=300, deadline=None)
@given(intervals())
def test_it_keeps_the_rule_on_any_intervals(data):
    rating, lower, upper = data
    tier = statistical_tiers(rating, lower, upper)

    assert sorted(set(tier.tolist())) == list(range(1, len(set(tier.tolist())) + 1))  # 1, 2, ... no gaps
    leaders = []
    for k in range(1, tier.max(initial=0) + 1):
        members = np.flatnonzero(tier == k)
        leader = members[np.lexsort((members, -upper[members], -rating[members]))[0]]
        leaders.append(leader)
        # The leader is the best-rated model left once earlier tiers are taken.
        left = np.flatnonzero(tier >= k)
        assert rating[leader] == rating[left].max()
        for member in members:
            assert _overlap(lower, upper, member, leader)
            for earlier in leaders[:-1]:
                assert not _overlap(lower, upper, member, earlier)
    assert all(rating[a] >= rating[b] for a, b in zip(leaders, leaders[1:], strict=False))


@settings(max_examples=100, deadline=None)
@given(intervals())
def test_it_does_not_depend_on_the_input_order(data):
    rating, lower, upper = data
    # Distinct leaders make the result order-free (ties are broken by input order).
    rating = rating + np.arange(len(rating)) * 1e-3
    tier = statistical_tiers(rating, lower, upper)
    flip = np.arange(len(rating))[::-1]
    assert statistical_tiers(rating[flip], lower[flip], upper[flip]).tolist() == tier[flip].tolist()


# -- on synthetic battles ---------------------------------------------------------------------
def _fit(true_ratings, n_battles, seed=0):
    sim = simulate_battles(true_ratings, n_battles, tie_rate=0.1, seed=seed)
    result = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=300, seed=seed)
    tiers = statistical_tiers(result.ratings, result.lower, result.upper)
    return result, dict(zip(result.names, tiers.tolist(), strict=True))


def test_it_puts_a_clearly_better_model_alone_in_tier_one():
    result, tiers = _fit({"best": 1300.0, "near_a": 1010.0, "near_b": 1000.0}, 3_000, seed=1)
    lower = dict(zip(result.names, result.lower, strict=True))
    upper = dict(zip(result.names, result.upper, strict=True))

    assert lower["best"] > max(upper["near_a"], upper["near_b"])  # clearly better
    assert lower["near_a"] <= upper["near_b"] and lower["near_b"] <= upper["near_a"]  # overlapping
    assert tiers == {"best": 1, "near_a": 2, "near_b": 2}


def test_it_lets_two_overlapping_models_share_the_top_tier():
    result, tiers = _fit({"a": 1100.0, "b": 1095.0, "c": 800.0}, 2_000, seed=2)
    lower = dict(zip(result.names, result.lower, strict=True))
    upper = dict(zip(result.names, result.upper, strict=True))

    assert lower["a"] <= upper["b"] and lower["b"] <= upper["a"]
    assert tiers == {"a": 1, "b": 1, "c": 2}


def test_it_separates_every_model_given_enough_votes():
    _, tiers = _fit({"a": 1200.0, "b": 1000.0, "c": 800.0}, 6_000, seed=3)
    assert tiers == {"a": 1, "b": 2, "c": 3}


def test_it_puts_everyone_in_one_tier_on_too_few_votes():
    _, tiers = _fit({"a": 1060.0, "b": 1030.0, "c": 1000.0}, 60, seed=4)
    assert set(tiers.values()) == {1}
