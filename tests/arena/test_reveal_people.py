"""The reveal's figures for people, over the API: five indicators with ranges and their
split, warnings, classes, the whole conversation and the sobriety lines."""

import pytest

from arena.models import Battle

pytestmark = pytest.mark.django_db


def test_the_reveal_gives_five_indicators_with_ranges_classes_and_warnings(owner_client, make_battle):
    battle = make_battle(model_a="heron", model_b="mesange", vote="b", energy_a_j=36.0, energy_b_j=3.6)
    reveal = owner_client.get(f"/api/battles/{battle.id}/reveal").json()
    for side in "ab":
        indicators = reveal[side]["impacts"]["indicators"]
        assert set(indicators) == {"energy_wh", "gwp_g", "water_ml", "adpe_mgsbeq", "pe_wh"}
        for figure in indicators.values():
            total = figure["total"]
            assert total["min"] <= total["value"] <= total["max"]
        assert reveal[side]["impacts"]["warnings"]  # the demo's CPU records name no known device
        assert all(w["text"] and w["code"] for w in reveal[side]["impacts"]["warnings"])
        # One statement of the unknown manufacturing share, not one per code that implies it.
        codes = [w["code"] for w in reveal[side]["impacts"]["warnings"]]
        assert [c for c in codes if c.startswith("embodied-")] == ["embodied-unknown-device"]
    # 36 J = 0.01 Wh over 16 tokens: 0.625 Wh per 1,000 tokens, class C; 3.6 J: 0.0625, class A.
    assert reveal["a"]["energy"]["energy_class"] == "C" and reveal["b"]["energy"]["energy_class"] == "A"
    assert reveal["a"]["energy"]["completion_tokens"] == 16 and reveal["a"]["energy"]["duration_ms"] == 500
    both = reveal["conversation"]["indicators"]["energy_wh"]["total"]["value"]
    assert both == pytest.approx(
        reveal["a"]["impacts"]["indicators"]["energy_wh"]["total"]["value"]
        + reveal["b"]["impacts"]["indicators"]["energy_wh"]["total"]["value"]
    )
    texts = [line["text"] for line in reveal["sobriety"]]
    assert any("0,3 Wh" in t for t in texts)
    assert "La réponse du plus petit modèle a gagné votre vote." in texts  # mesange (b) is the smaller


def test_a_tie_says_the_smaller_model_was_judged_as_good(owner_client, make_battle):
    battle = make_battle(model_a="heron", model_b="mesange", vote="tie")
    texts = [line["text"] for line in owner_client.get(f"/api/battles/{battle.id}/reveal").json()["sobriety"]]
    assert any("aussi bonne" in t for t in texts)
    assert Battle.objects.get(pk=battle.pk).vote.choice == "tie"
