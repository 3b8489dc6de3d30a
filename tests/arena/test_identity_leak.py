"""An answer that names its model: `LLM.leaked_in`, and flagged battles left out of the rankings."""

from __future__ import annotations

import pytest

from arena.models import LLM, Vote
from leaderboard.snapshots import compute_leaderboard


def _llm(*words: str) -> LLM:
    return LLM(slug="x", name="X", identity_words=list(words))


@pytest.mark.parametrize(
    "text",
    ["Je suis Albatros.", "je suis albatros", "ALBATROS here", "(albatros)", "Albatros", "un modèle d'Arena demo"],
)
def test_it_finds_a_whole_word_in_any_case(text):
    assert _llm("Albatros", "Arena demo").leaked_in(text) in {"Albatros", "Arena demo"}


def test_it_returns_the_word_found():
    assert _llm("Albatros", "Albatross").leaked_in("An albatross flew by") == "Albatross"


@pytest.mark.parametrize(
    "text",
    ["Les albatroses volent.", "superalbatros", "albatros_v2", "Albatros2", "Arena demos", "Un arena, une démo.", ""],
)
def test_it_ignores_substrings(text):
    assert _llm("Albatros", "Arena demo").leaked_in(text) is None


def test_it_handles_accents_and_hyphens():
    heron = _llm("Héron", "Rouge-gorge")
    assert heron.leaked_in("Je suis HÉRON.") == "Héron"
    assert heron.leaked_in("Un rouge-gorge chante") == "Rouge-gorge"
    assert heron.leaked_in("des rouge-gorges") is None
    assert heron.leaked_in("Héronnière") is None


def test_it_treats_words_literally():
    assert _llm("GPT-4.1", "a+b").leaked_in("I am gpt-4.1.") == "GPT-4.1"
    assert _llm("GPT-4.1").leaked_in("gpt-4x1") is None
    assert _llm("a+b").leaked_in("aab") is None


def test_it_ignores_empty_words():
    assert _llm("", "Pivert").leaked_in("rien à signaler") is None
    assert _llm().leaked_in("Pivert") is None


@pytest.mark.django_db
def test_it_leaves_flagged_battles_out_of_the_leaderboard(make_battle):
    for _ in range(3):
        make_battle(model_a="heron", model_b="mesange", vote="a")
    flagged = make_battle(model_a="heron", model_b="mesange", vote="b", leak_flagged=True)
    flagged_alone = make_battle(model_a="albatros", model_b="pivert", vote="a", leak_flagged=True)

    board = compute_leaderboard(bootstrap=10)

    assert board["battles"] == 3
    rows = {row["slug"]: row for row in board["rows"]}
    assert set(rows) == {"heron", "mesange"}
    assert rows["heron"]["votes"] == rows["mesange"]["votes"] == 3
    # The votes are kept: only the ranking ignores them.
    assert Vote.objects.filter(battle__in=[flagged, flagged_alone]).count() == 2
    assert Vote.objects.count() == 5


@pytest.mark.django_db
def test_it_ranks_a_battle_once_unflagged(make_battle):
    battle = make_battle(model_a="albatros", model_b="pivert", vote="a", leak_flagged=True)
    assert compute_leaderboard(bootstrap=10)["battles"] == 0
    battle.leak_flagged = False
    battle.save(update_fields=["leak_flagged"])
    board = compute_leaderboard(bootstrap=10)
    assert board["battles"] == 1
    assert {row["slug"] for row in board["rows"]} == {"albatros", "pivert"}
