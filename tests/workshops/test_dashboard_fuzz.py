"""Hostile frames on the projector's socket (`/ws/workshops/<code>/`), generated: before and
after the facilitator is recognised, every frame gets an error frame (or, for `refresh`, the
figures), the socket lives on until a refused token closes it with 4403, and the room is
unchanged."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import JSON, TEXT, printable
from tests.workshops.test_dashboard import communicator
from workshops.consumers import CLOSE_FORBIDDEN
from workshops.models import Workshop

pytestmark = pytest.mark.django_db(transaction=True)

DASHBOARD_FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
COMMAND = st.fixed_dictionaries(
    {"type": st.sampled_from(["auth", "refresh", "stats", "error", "AUTH"]) | TEXT},
    optional={"token": JSON, "data": JSON},
)
FRAME = (
    COMMAND.map(json.dumps)
    | st.dictionaries(TEXT, JSON, max_size=4).map(json.dumps)
    | JSON.map(json.dumps)
    | st.sampled_from(["{", "null", "[]", '{"type": "\\udc00"}', '{"type": "auth", "token": "\\ud800"}'])
    | TEXT.filter(bool).map(printable)
)  # an empty frame cannot be sent
ERRORS = {"unknown_command", "invalid_json", "facilitator_only"}


@pytest.fixture
def room(catalogue):
    workshop, token = Workshop.open_new(title="Atelier fuzz")
    return workshop, token


def _room_state(code: str) -> tuple:
    return Workshop.objects.filter(code=code).values_list("title", "state", "token_digest", "summary").get()


async def _answers(comm, frame: str) -> list[dict]:
    """What the server sends for one client frame: one frame, then a close after a refused
    token, and nothing else."""
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from(timeout=10)
    if reply.get("code") == "facilitator_only":
        closing = await comm.receive_output(timeout=10)
        return [reply, {"closed": closing.get("code") if closing["type"] == "websocket.close" else closing}]
    assert await comm.receive_nothing(timeout=0.05), (frame, reply)
    return [reply]


@DASHBOARD_FUZZ
@given(frames=st.lists(FRAME, min_size=1, max_size=4))
async def test_it_answers_every_frame_before_the_facilitator_is_known(room, frames):
    workshop, _token = room
    before = await database_sync_to_async(_room_state)(workshop.code)
    comm = communicator(workshop.code)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=10))["type"] == "auth_required"
    for frame in frames:
        replies = await _answers(comm, frame)
        assert replies[0]["type"] == "error" and replies[0]["code"] in ERRORS, (frame, replies)
        assert replies[0]["message"]
        if replies[0]["code"] == "facilitator_only":  # a refused token: the socket is closed
            assert replies[1:] == [{"closed": CLOSE_FORBIDDEN}], (frame, replies)
            break
        assert len(replies) == 1, (frame, replies)
    await comm.disconnect()
    assert await database_sync_to_async(_room_state)(workshop.code) == before


@DASHBOARD_FUZZ
@given(frames=st.lists(FRAME, min_size=1, max_size=4))
async def test_it_answers_every_frame_once_the_facilitator_is_in(room, frames):
    workshop, token = room
    before = await database_sync_to_async(_room_state)(workshop.code)
    comm = communicator(workshop.code, f"arena_room_{workshop.code}={token}")
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=10))["type"] == "stats"
    for frame in frames:
        replies = await _answers(comm, frame)
        assert len(replies) == 1, (frame, replies)  # never closed once in
        reply = replies[0]
        if reply["type"] == "stats":
            assert json.loads(frame).get("type") == "refresh", frame
            assert reply["data"]["code"] == workshop.code and reply["html"]
        else:
            assert reply["type"] == "error" and reply["code"] in {"unknown_command", "invalid_json"}, (frame, reply)
    await comm.disconnect()
    assert await database_sync_to_async(_room_state)(workshop.code) == before


DEEP = '{"type": ' + "[" * 3000 + "]" * 3000 + "}"


async def test_it_answers_a_frame_nested_too_deep(room):
    workshop, token = room
    for cookies in ("", f"arena_room_{workshop.code}={token}"):
        comm = communicator(workshop.code, cookies)
        assert (await comm.connect())[0]
        await comm.receive_json_from(timeout=10)  # auth_required, or the figures
        await comm.send_to(text_data=DEEP)
        reply = await comm.receive_json_from(timeout=10)
        assert (reply["type"], reply["code"]) == ("error", "invalid_json")
        await comm.disconnect()
