"""The projector's socket: only the facilitator gets the figures, and a vote reaches the
dashboard within two seconds, through the real path (the vote's signal, the channel
layer, the room's group)."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from arena import battles
from arena.models import Battle
from config.asgi import application
from workshops.models import Workshop

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(code, cookies=""):
    return WebsocketCommunicator(
        application,
        f"/ws/workshops/{code}/",
        headers=[(b"cookie", cookies.encode()), (b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
    )


@pytest.fixture
def rooms(catalogue):
    mine, token = Workshop.open_new(title="Atelier du mardi")
    other, other_token = Workshop.open_new(title="Autre salle")
    return mine, token, other, other_token


async def _next_stats(comm, timeout=5):
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == "stats":
            return frame


async def test_a_participant_or_another_rooms_facilitator_gets_nothing(rooms):
    mine, _token, _other, other_token = rooms
    for frame in ({"type": "auth", "token": "guess"}, {"type": "auth", "token": other_token}, {"type": "refresh"}):
        comm = communicator(mine.code)
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "auth_required"
        await comm.send_json_to(frame)
        answer = await comm.receive_json_from()
        assert answer["type"] == "error" and answer["code"] in ("facilitator_only", "unknown_command")
        if answer["code"] == "facilitator_only":
            assert answer["message"] == "Seule la personne qui anime cet atelier peut faire cela."
            assert (await comm.receive_output())["code"] == 4403
        await comm.disconnect()
    # A cookie for the other room does not open this one either.
    comm = communicator(mine.code, f"arena_room_{mine.code}={other_token}")
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["type"] == "auth_required"
    await comm.disconnect()


async def test_a_vote_reaches_the_dashboard_within_two_seconds(rooms, make_battle, owner):
    mine, token, _other, _other_token = rooms
    battle = await database_sync_to_async(make_battle)(visitor=owner)
    await database_sync_to_async(Battle.objects.filter(pk=battle.pk).update)(workshop_code=mine.code)
    comm = communicator(mine.code, f"arena_room_{mine.code}={token}")
    assert (await comm.connect())[0]
    first = await _next_stats(comm)
    assert (first["data"]["battles"], first["data"]["votes"]) == (1, 0)
    assert first["data"]["energy"]["wh"] == 0  # energy counts voted battles only

    started = time.monotonic()
    await database_sync_to_async(battles.cast_vote)(
        await database_sync_to_async(Battle.objects.get)(pk=battle.pk), "a", {"a": ["useful"]}, {}
    )
    update = await _next_stats(comm, timeout=2)
    assert time.monotonic() - started < 2
    assert update["data"]["votes"] == 1
    assert update["data"]["energy"]["wh"] == pytest.approx((7.2 + 3.6) / 3600)
    assert 'id="n-votes">1<' in update["html"]
    assert "utile" in update["html"]  # the reason tags, in the room's language
    await comm.disconnect()


async def test_an_api_client_authenticates_with_a_first_frame(rooms):
    mine, token, _other, _other_token = rooms
    comm = communicator(mine.code)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["type"] == "auth_required"
    await comm.send_json_to({"type": "auth", "token": token})
    stats = await _next_stats(comm)
    assert stats["data"]["code"] == mine.code and stats["data"]["participants"] == 0
    await comm.send_to(text_data="not json")
    assert (await comm.receive_json_from())["code"] == "invalid_json"
    await comm.disconnect()


async def test_its_messages_follow_the_visitors_language(rooms):
    """Every frame's message is in the language of the socket's cookie (French without one),
    as the battle socket's and the API's are."""
    mine, _token, _other, _other_token = rooms
    comm = communicator(mine.code, "django_language=en")
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["message"] == "Send the facilitator token to follow this room."
    await comm.send_input({"type": "websocket.receive", "text": ""})  # an empty text frame
    assert (await comm.receive_json_from())["message"] == "Frames must be JSON."
    await comm.send_json_to({"type": "dance"})
    assert (await comm.receive_json_from())["message"] == "Unknown command for this socket."
    await comm.send_json_to({"type": "auth", "token": "guess"})
    assert (await comm.receive_json_from())["message"] == "Only the facilitator of this workshop can do this."
    await comm.disconnect()
    comm = communicator(mine.code)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["message"] == "Envoyez le jeton d'animation pour suivre cette salle."
    await comm.disconnect()
