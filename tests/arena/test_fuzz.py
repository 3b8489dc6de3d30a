"""Hostile input, generated: every JSON endpoint and the battle WebSocket answer any body or
frame with a clear 4xx or error frame, never a 5xx or a crashed socket, and lose nothing
already stored."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from hypothesis import given
from hypothesis import strategies as st

from arena.models import Message, Vote
from tests.hostile import FUZZ, JSON, TEXT, printable

pytestmark = pytest.mark.django_db

KEYS = [
    "accept_terms",
    "publish",
    "prompt",
    "mode",
    "models",
    "workshop",
    "choice",
    "tags",
    "comments",
    "worth",
    "liked",
    "comment",
    "a",
    "b",
    "type",
    "text",
    "side",
]
BODY = st.dictionaries(st.sampled_from(KEYS) | TEXT, JSON, max_size=6)
RAW = st.sampled_from(
    [
        '{"prompt": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"choice": ' + "7" * 5000 + "}",
        '{"comment": "\\udc00"}',
        "\x00\xff",
        "[]",
        "null",
        '"a"',
        "{",
    ]
)


def _dumps(body) -> str:
    return json.dumps(body)  # ASCII escapes: lone surrogates travel as \ud800, as a hostile client sends them


@pytest.fixture
def battles(make_battle, clear_cache, settings):
    settings.ARENA_PROMPTS_PER_MINUTE_VISITOR = settings.ARENA_PROMPTS_PER_MINUTE_IP = 10**6
    settings.ARENA_MAX_CONCURRENT_BATTLES = 10**6
    return {"open": make_battle(), "voted": make_battle(vote="a")}


def _endpoints(battles) -> list[str]:
    message = Message.objects.filter(turn__battle=battles["voted"]).first()
    return [
        "/api/consent",
        "/api/battles",
        f"/api/battles/{battles['open'].id}/vote",
        f"/api/battles/{battles['voted'].id}/worth",
        f"/api/messages/{message.id}/reaction",
    ]


@FUZZ
@given(body=BODY | RAW, which=st.integers(0, 4))
def test_it_never_answers_a_json_body_with_a_5xx(owner_client, battles, body, which):
    votes_before = list(Vote.objects.values_list("battle_id", "choice"))
    path = _endpoints(battles)[which]
    response = owner_client.post(path, body if isinstance(body, str) else _dumps(body), content_type="application/json")
    assert response.status_code < 500, (path, body, response.content[:200])
    if response.status_code >= 400:
        assert response.json()["error"]["code"] and response.json()["error"]["message"]
    if response.status_code != 200 or "vote" not in path:
        assert list(Vote.objects.values_list("battle_id", "choice")) == votes_before  # nothing lost or changed


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["mode", "language", "since", "until", "workshops", "min_votes", "style", "both_bad", "zone"])
        | TEXT,
        TEXT,
        max_size=4,
    )
)
def test_it_never_answers_a_query_string_with_a_5xx(client, battles, query, settings):
    settings.LEADERBOARD_COMPUTES_PER_MINUTE_IP = 10**6
    clean = {printable(k): printable(v) for k, v in query.items()}
    for path in ("/api/leaderboard", "/classement/", "/classement.csv"):
        assert client.get(path, clean).status_code < 500, (path, clean)


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(
    frames=st.lists(
        BODY.map(_dumps) | RAW | TEXT.filter(bool).map(printable),
        min_size=1,
        max_size=5,
    )
)
async def test_it_answers_every_websocket_frame_and_keeps_the_socket(make_battle, owner, frames):
    from tests.arena.test_consumer import communicator

    battle = await database_sync_to_async(make_battle)(vote="a")  # nothing to stream: only frames under test
    comm = communicator(battle, str(owner.pk))
    connected, _ = await comm.connect()
    assert connected
    for frame in frames:
        await comm.send_to(text_data=frame)
        reply = await comm.receive_json_from(timeout=10)
        assert reply["type"] == "error" and reply["code"], (frame, reply)
    assert await comm.receive_nothing(timeout=0.1)
    await comm.disconnect()
    streaming = await database_sync_to_async(Message.objects.filter(status=Message.Status.STREAMING).count)()
    assert streaming == 0
