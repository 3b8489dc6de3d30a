"""NUL characters are refused at the HTTP edge (arena/nul.py): PostgreSQL text cannot hold
them, so a prompt, a comment or a workshop code carrying one used to end in a 500 there."""

from __future__ import annotations

import json

import pytest

from arena.models import Battle, Turn
from arena.nul import contains_nul
from tests.arena.conftest import post_json

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "Bonjour\u0000"},
        {"prompt": "Bonjour", "workshop": "AC\u0000DEF"},
        {"prompt": "Bonjour", "models": ["heron", "\u0000"]},
        {"prompt": "Bonjour", "\u0000": 1},
    ],
)
def test_it_refuses_a_nul_character_in_a_body(owner_client, catalogue, clear_cache, body):
    response = post_json(owner_client, "/api/battles", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert not Battle.objects.exists() and not Turn.objects.exists()


def test_it_refuses_a_nul_character_in_a_comment(owner_client, make_battle, clear_cache):
    battle = make_battle()
    response = post_json(owner_client, f"/api/battles/{battle.id}/vote", {"choice": "a", "comments": {"a": "\u0000"}})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert not hasattr(Battle.objects.get(pk=battle.pk), "vote")


@pytest.mark.parametrize(
    "url",
    ["/api/models?workshop=%00", "/api/workshops/AC%00DEF", "/api/workshops/%00/stats", "/api/leaderboard?mode=%00"],
)
def test_it_refuses_a_nul_character_in_an_api_url(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_url"
    assert response.json()["error"]["message"]


def test_it_refuses_a_nul_character_in_a_page_url(client):
    response = client.get("/w/AC%00DEF/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_url"


def test_it_lets_ordinary_text_through(owner_client, catalogue, clear_cache):
    response = post_json(owner_client, "/api/battles", {"prompt": "Bonjour \\u0000 n'est pas un NUL ici"})
    assert response.status_code == 201
    assert owner_client.get("/api/models?workshop=").status_code == 200


def test_it_finds_a_nul_at_any_depth():
    deep = "\u0000"
    for _ in range(5000):  # deeper than the stack would allow a recursive walk
        deep = [deep]
    assert contains_nul(deep)
    assert contains_nul({"a": {"b\u0000": 1}})
    assert not contains_nul({"a": ["b", 1, None, 2.5, {"c": True}]})
    assert not contains_nul(json.loads('{"a": "\\\\u0000"}'))  # a backslash, then u0000: no NUL


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_nul_character_in_a_websocket_prompt(make_battle, owner, clear_cache, settings):
    from channels.db import database_sync_to_async

    from tests.arena.test_consumer import communicator

    settings.ARENA_PROMPTS_PER_MINUTE_VISITOR = settings.ARENA_PROMPTS_PER_MINUTE_IP = 10**6
    battle = await database_sync_to_async(make_battle)()
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    for _side in "ab":  # a new socket is first told the finished answers
        assert (await comm.receive_json_from(timeout=10))["type"] == "done"
    await comm.send_json_to({"type": "prompt", "text": "Bonjour\u0000"})
    try:
        reply = await comm.receive_json_from(timeout=10)
        assert reply["type"] == "error" and reply["side"] is None, reply
        assert await database_sync_to_async(Turn.objects.filter(battle=battle).count)() == 1
    finally:
        await comm.disconnect()
