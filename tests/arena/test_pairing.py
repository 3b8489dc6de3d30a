"""Tests for arena.pairing: which two models answer a battle, and on which side."""

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.pairing import MODES, Candidate, PairingError, choose_pair

SMALL_MAX_B = 15
BIG_MIN_B = 60

MODELS = [
    Candidate("tiny", 1.0),
    Candidate("small", 8.0),
    Candidate("small2", 14.0),
    Candidate("medium", 30.0),
    Candidate("big", 70.0),
    Candidate("huge", 120.0),
]
SIZES = {m.slug: m.params_b for m in MODELS}


def _choose(mode, models=MODELS, *, votes=None, seed=0, chosen=(), rng=None):
    return choose_pair(
        models,
        mode,
        pair_votes=votes or {},
        rng=rng or random.Random(seed),
        chosen=chosen,
        small_max_params_b=SMALL_MAX_B,
        big_min_params_b=BIG_MIN_B,
    )


def _draws(mode, n, *, votes=None, chosen=(), models=MODELS, seed=1):
    rng = random.Random(seed)
    return [_choose(mode, models, votes=votes, chosen=chosen, rng=rng) for _ in range(n)]


@st.composite
def catalogues(draw):
    slugs = draw(st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=2, max_size=8, unique=True))
    return [Candidate(slug, draw(st.floats(min_value=0.0001, max_value=500)), draw(st.booleans())) for slug in slugs]


@settings(max_examples=200, deadline=None)
@given(
    models=catalogues(),
    mode=st.sampled_from(["random", "frugal", "david_vs_goliath"]),
    seed=st.integers(0, 2**32),
)
def test_it_never_puts_the_same_model_on_both_sides(models, mode, seed):
    try:
        a, b = _choose(mode, models, seed=seed)
    except PairingError:
        return
    assert a != b
    enabled = {m.slug for m in models if m.enabled}
    assert {a, b} <= enabled


def test_it_draws_any_two_enabled_models_in_random_mode():
    models = MODELS + [Candidate("off", 5.0, enabled=False)]
    pairs = {frozenset(p) for p in _draws("random", 2000, models=models)}
    assert "off" not in set().union(*pairs)
    assert len(pairs) == 15  # every pair of the 6 enabled models


def test_it_draws_only_small_models_in_frugal_mode():
    for a, b in _draws("frugal", 500):
        assert SIZES[a] <= SMALL_MAX_B and SIZES[b] <= SMALL_MAX_B


def test_it_draws_one_big_and_one_small_model_in_david_vs_goliath_mode():
    for a, b in _draws("david_vs_goliath", 500):
        sizes = sorted([SIZES[a], SIZES[b]])
        assert sizes[0] <= SMALL_MAX_B
        assert sizes[1] >= BIG_MIN_B


def test_it_puts_goliath_on_either_side():
    sides = Counter("a" if SIZES[a] >= BIG_MIN_B else "b" for a, _ in _draws("david_vs_goliath", 2000))
    assert 900 < sides["a"] < 1100


def test_it_uses_the_two_chosen_models_in_custom_mode():
    for a, b in _draws("custom", 200, chosen=["tiny", "huge"]):
        assert {a, b} == {"tiny", "huge"}


def test_it_puts_the_chosen_model_against_any_other_in_custom_mode():
    draws = _draws("custom", 2000, chosen=["medium"])
    assert all("medium" in pair and pair[0] != pair[1] for pair in draws)
    opponents = {a if b == "medium" else b for a, b in draws}
    assert opponents == set(SIZES) - {"medium"}


def test_it_swaps_sides_about_half_the_time():
    draws = _draws("custom", 4000, chosen=["tiny", "huge"])
    on_side_a = Counter(a for a, _ in draws)
    # Binomial(4000, 0.5): standard deviation ~32, so +-150 is more than 4 sigma.
    assert abs(on_side_a["tiny"] - 2000) < 150


def test_it_puts_every_model_on_side_a_about_as_often_as_on_side_b():
    draws = _draws("random", 6000)
    side_a = Counter(a for a, _ in draws)
    side_b = Counter(b for _, b in draws)
    for slug in SIZES:
        total = side_a[slug] + side_b[slug]
        assert abs(side_a[slug] / total - 0.5) < 0.06, slug


def test_it_favours_the_least_voted_pairs():
    models = [Candidate("x", 1.0), Candidate("y", 2.0), Candidate("z", 3.0)]
    votes = {frozenset({"x", "y"}): 1000, frozenset({"x", "z"}): 1000, frozenset({"y", "z"}): 0}
    counts = Counter(frozenset(p) for p in _draws("random", 3000, votes=votes, models=models))
    assert counts[frozenset({"y", "z"})] > 2900
    assert counts[frozenset({"y", "z"})] > 100 * counts[frozenset({"x", "y"})]


def test_it_favours_the_least_voted_opponent_in_custom_mode():
    votes = {frozenset({"medium", other}): 500 for other in SIZES if other != "small"}
    draws = _draws("custom", 1000, votes=votes, chosen=["medium"])
    opponents = Counter(a if b == "medium" else b for a, b in draws)
    assert opponents["small"] > 950


def test_it_still_draws_pairs_that_have_many_votes():
    models = [Candidate("x", 1.0), Candidate("y", 2.0), Candidate("z", 3.0)]
    votes = {frozenset({"x", "y"}): 50, frozenset({"x", "z"}): 0, frozenset({"y", "z"}): 0}
    counts = Counter(frozenset(p) for p in _draws("random", 5000, votes=votes, models=models))
    # Weights 1/51, 1, 1: about 49 draws of the heavily voted pair expected.
    assert 15 < counts[frozenset({"x", "y"})] < 110


def test_it_draws_every_pair_eventually_when_votes_follow_the_draws():
    votes = Counter()
    rng = random.Random(7)
    for _ in range(300):
        votes[frozenset(_choose("random", votes=votes, rng=rng))] += 1
    assert len(votes) == 15
    # Steering towards the gaps keeps the counts within a few votes of each
    # other; uniform draws spread them by about 15 after 300 battles.
    assert max(votes.values()) - min(votes.values()) <= 6


def test_it_keeps_the_pull_towards_the_gaps_when_counts_are_large():
    models = [Candidate("x", 1.0), Candidate("y", 2.0), Candidate("z", 3.0)]
    votes = {frozenset({"x", "y"}): 10_000, frozenset({"x", "z"}): 10_000, frozenset({"y", "z"}): 9_990}
    counts = Counter(frozenset(p) for p in _draws("random", 3000, votes=votes, models=models))
    # Weights 1/11, 1/11, 1: the pair ten votes behind gets about 85% of the draws.
    assert counts[frozenset({"y", "z"})] > 2400


def test_it_gives_the_same_pair_for_the_same_seed_whatever_the_input_order():
    shuffled = list(reversed(MODELS))
    for seed in range(20):
        assert _choose("random", MODELS, seed=seed) == _choose("random", shuffled, seed=seed)


def test_it_rejects_an_unknown_mode():
    with pytest.raises(PairingError, match="Unknown mode blitz"):
        _choose("blitz")


def test_it_rejects_frugal_mode_with_fewer_than_two_small_models():
    models = [Candidate("small", 8.0), Candidate("big", 70.0), Candidate("medium", 30.0)]
    with pytest.raises(PairingError, match="at least two small models"):
        _choose("frugal", models)


def test_it_rejects_david_vs_goliath_without_a_big_model():
    models = [Candidate("small", 8.0), Candidate("small2", 9.0), Candidate("medium", 30.0)]
    with pytest.raises(PairingError, match="one big model"):
        _choose("david_vs_goliath", models)


def test_it_rejects_david_vs_goliath_when_the_only_big_model_is_disabled():
    models = [Candidate("small", 8.0), Candidate("big", 70.0, enabled=False)]
    with pytest.raises(PairingError, match="0 big and 1 small"):
        _choose("david_vs_goliath", models)


def test_it_rejects_random_mode_with_one_model():
    with pytest.raises(PairingError, match="at least two enabled models"):
        _choose("random", [Candidate("only", 8.0)])


def test_it_rejects_unknown_custom_slugs():
    with pytest.raises(PairingError, match="Unknown or disabled model.*nope"):
        _choose("custom", chosen=["tiny", "nope"])


def test_it_rejects_disabled_custom_slugs():
    models = MODELS + [Candidate("off", 5.0, enabled=False)]
    with pytest.raises(PairingError, match="off"):
        _choose("custom", models, chosen=["off"])


def test_it_rejects_the_same_custom_slug_twice():
    with pytest.raises(PairingError, match="both sides"):
        _choose("custom", chosen=["tiny", "tiny"])


@pytest.mark.parametrize("chosen", [[], ["tiny", "small", "big"]])
def test_it_rejects_custom_mode_without_one_or_two_models(chosen):
    with pytest.raises(PairingError, match="one or two models"):
        _choose("custom", chosen=chosen)


def test_it_rejects_picked_models_outside_custom_mode():
    with pytest.raises(PairingError, match="only be picked in custom mode"):
        _choose("random", chosen=["tiny"])


def test_it_rejects_custom_mode_with_no_possible_opponent():
    with pytest.raises(PairingError, match="No other enabled model"):
        _choose("custom", [Candidate("only", 8.0)], chosen=["only"])


def test_it_rejects_a_catalogue_listing_a_model_twice():
    with pytest.raises(PairingError, match="listed twice"):
        _choose("random", MODELS + [Candidate("tiny", 2.0)])


def test_it_rejects_overlapping_thresholds():
    with pytest.raises(PairingError, match="must be below"):
        choose_pair(
            MODELS,
            "random",
            pair_votes={},
            rng=random.Random(0),
            small_max_params_b=60,
            big_min_params_b=60,
        )


def test_it_lists_the_modes_of_the_public_contract():
    assert set(MODES) == {"random", "frugal", "david_vs_goliath", "custom"}
