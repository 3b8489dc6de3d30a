"""A remote API's CO2e in the leaderboard is the reveal's: EcoLogits' own impacts, manufacturing
included. It used to count the electricity only (its record names no hardware we know), so a
remote model looked cleaner per token than in its own reveal."""

from __future__ import annotations

import pytest
from django.test import Client

from leaderboard.snapshots import energy_columns
from tests.arena.test_reveal_honesty import _as_remote_api

pytestmark = pytest.mark.django_db


def test_a_remote_apis_co2e_counts_its_manufacturing_as_its_reveal_does(make_battle, owner_client):
    battle = make_battle(model_a="martinet", model_b="mesange", vote="a")
    answer = _as_remote_api(battle, "a")
    column = energy_columns(["martinet"])["martinet"]
    assert column["gwp_embodied_g_per_1k_tokens"] is not None and column["gwp_embodied_g_per_1k_tokens"] > 0
    reveal = owner_client.get(f"/api/battles/{battle.id}/reveal").json()["a"]["impacts"]
    per_1k = reveal["gwp_g"] / answer.completion_tokens * 1000
    assert column["gwp_total_g_per_1k_tokens"] == pytest.approx(per_1k)
    assert Client().get("/api/leaderboard").status_code == 200
