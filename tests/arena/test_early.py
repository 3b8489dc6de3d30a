"""Answers begun at the POST (arena/early.py), against real workers: the battle's socket on
the same process takes them (its tries carry their request ids, one request per side, the
buffered deltas relayed); a socket that never comes, or comes too late, leaves them to be
cut, and the socket that comes later begins its answers itself."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from arena import early
from arena.models import Attempt, Battle, Message, Visitor
from tests.arena.test_consumer import communicator, frames_until_done
from tests.asgi_app import call_app

pytestmark = pytest.mark.django_db(transaction=True)


async def _post_battle(visitor_id: str) -> tuple[Battle, dict]:
    """A battle made through the server's ASGI application, as daphne would."""
    await database_sync_to_async(Visitor.objects.create)(pk=visitor_id, terms_accepted_at=timezone.now())
    body = {"prompt": "Bonjour, parle-moi du soleil.", "mode": "random"}
    status, answer = await call_app("POST", "/api/battles", body=body, cookies={"arena_visitor": visitor_id})
    assert status == 201, answer
    return await database_sync_to_async(Battle.objects.get)(pk=answer["id"]), answer


def _request_ids(battle, side) -> list[str]:
    from django.db import connection

    try:
        return list(Attempt.objects.filter(battle=battle, side=side).values_list("request_id", flat=True))
    finally:
        connection.close()


def _tries(battle) -> dict[str, list[Attempt]]:
    tries = {"a": [], "b": []}
    for attempt in Attempt.objects.filter(battle=battle).order_by("started_at", "id"):
        tries[attempt.side].append(attempt)
    return tries


async def test_the_socket_takes_the_answers_begun_at_the_post(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_PACE_STREAMS = False
    visitor = str(uuid.uuid4())
    battle, _body = await _post_battle(visitor)
    waiting = early._waiting[str(battle.id)]
    sent = {side: answer.request_id for side, answer in waiting.answers.items()}
    for _ in range(100):  # the answers are generated meanwhile, read ahead
        await asyncio.sleep(0.1)
        if any(answer._parts for answer in waiting.answers.values()):
            break
    assert any(answer._parts for answer in waiting.answers.values())

    comm = communicator(battle, visitor)
    assert (await comm.connect(timeout=30))[0]
    assert str(battle.id) not in early._waiting  # taken
    frames = await frames_until_done(comm)
    await comm.disconnect()
    kinds = {side: [f["type"] for f in frames if f.get("side") == side] for side in "ab"}
    assert all(k[0] == "start" and k[-1] == "done" for k in kinds.values()), kinds
    assert any("delta" in k for k in kinds.values())  # what was read ahead was relayed
    tries = await database_sync_to_async(_tries)(battle)
    # One try per side, sent at the POST: its request id is the one the worker metered.
    assert {side: [t.request_id for t in ts] for side, ts in tries.items()} == {s: [sent[s]] for s in "ab"}
    assert all(t[0].outcome == "done" and t[0].energy_j and t[0].energy_j > 0 for t in tries.values())
    messages = await database_sync_to_async(lambda: {m.side: m for m in Message.objects.filter(turn__battle=battle)})()
    deltas = {s: "".join(f["text"] for f in frames if f["type"] == "delta" and f["side"] == s) for s in "ab"}
    assert all(messages[s].content == deltas[s] and messages[s].status == "done" for s in "ab")


async def test_answers_nobody_takes_are_cut_and_the_late_socket_begins_its_own(arena_llms, settings, caplog):
    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_PACE_STREAMS = False
    settings.ARENA_EARLY_ANSWER_WAIT_S = 0.5
    caplog.set_level("INFO", logger="arena.early")
    visitor = str(uuid.uuid4())
    battle, _body = await _post_battle(visitor)
    sent = {side: a.request_id for side, a in early._waiting[str(battle.id)].answers.items()}
    for _ in range(100):
        await asyncio.sleep(0.1)
        if str(battle.id) not in early._waiting and not early._cutting:
            break
    assert str(battle.id) not in early._waiting and not early._cutting
    cut = [r.getMessage() for r in caplog.records if "early answer cut (unclaimed)" in r.getMessage()]
    assert len(cut) == 2 and all(str(battle.id) in line for line in cut), cut
    # Nothing was stored for them: the answers still wait for their socket.
    assert await database_sync_to_async(lambda: Attempt.objects.filter(battle=battle).count())() == 0

    comm = communicator(battle, visitor)
    assert (await comm.connect(timeout=30))[0]
    frames = await frames_until_done(comm)
    await comm.disconnect()
    assert {f["side"] for f in frames if f["type"] == "done"} == {"a", "b"}
    tries = await database_sync_to_async(_tries)(battle)
    assert all(len(tries[s]) == 1 and tries[s][0].request_id != sent[s] for s in "ab")


async def test_a_socket_that_is_not_the_owners_takes_nothing(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_EARLY_ANSWER_WAIT_S = 30
    visitor = str(uuid.uuid4())
    battle, _body = await _post_battle(visitor)
    stranger = communicator(battle, str(uuid.uuid4()))
    connected, code = await stranger.connect(timeout=30)
    assert not connected and code == 4403
    assert str(battle.id) in early._waiting
    comm = communicator(battle, visitor)
    assert (await comm.connect(timeout=30))[0]
    await frames_until_done(comm)
    await comm.disconnect()
    assert str(battle.id) not in early._waiting


async def test_a_battle_that_cannot_be_stored_cuts_what_it_began(arena_llms, settings, monkeypatch):
    """The answers go out before the battle is written: if the write fails, they are cut."""
    from arena import battles

    settings.ARENA_MAX_TOKENS = 12
    began = []
    real_begin = early.begin

    def begin(battle_id, *args):
        began.append(str(battle_id))
        real_begin(battle_id, *args)

    def refuse(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(early, "begin", begin)
    monkeypatch.setattr(battles, "_add_turn", refuse)
    visitor = str(uuid.uuid4())
    await database_sync_to_async(Visitor.objects.create)(pk=visitor, terms_accepted_at=timezone.now())
    body = {"prompt": "Bonjour", "mode": "random"}
    status, _answer = await call_app("POST", "/api/battles", body=body, cookies={"arena_visitor": visitor})
    assert status == 500
    await asyncio.sleep(0.2)
    assert len(began) == 1 and began[0] not in early._waiting
    for _ in range(100):
        if not early._cutting:
            break
        await asyncio.sleep(0.1)
    assert not early._cutting
    assert await database_sync_to_async(lambda: Battle.objects.count())() == 0


async def test_a_side_another_socket_began_first_is_cut_unstored_and_watched(arena_llms, settings, monkeypatch):
    """If another socket (a second window on another process) began one of the early answers
    before this socket stored its try, this socket's copy is cut and nothing of it is stored;
    the side then ends with the frame of the other socket's answer."""
    from arena import consumers

    monkeypatch.setattr(consumers, "STREAM_HEARTBEAT_S", 0.2)
    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_PACE_STREAMS = False
    visitor = str(uuid.uuid4())
    battle, _body = await _post_battle(visitor)
    sent = {side: a.request_id for side, a in early._waiting[str(battle.id)].answers.items()}

    def begin_elsewhere():
        message = Message.objects.get(turn__battle=battle, side="a")
        return message, message.begin_attempt("http://elsewhere")

    message, other = await database_sync_to_async(begin_elsewhere)()
    comm = communicator(battle, visitor)
    assert (await comm.connect(timeout=30))[0]
    await asyncio.sleep(0.5)

    def finish_elsewhere():
        message.finish(
            other,
            "done",
            "Réponse d'ailleurs.",
            energy=None,
            prompt_tokens=3,
            completion_tokens=4,
            ttft_ms=10,
            duration_ms=20,
        )

    await database_sync_to_async(finish_elsewhere)()
    frames = await frames_until_done(comm)
    await comm.disconnect()
    last = {side: [f for f in frames if f.get("side") == side][-1] for side in "ab"}
    assert last["a"]["type"] == "done" and "Réponse d'ailleurs." in last["a"]["html"], last["a"]
    assert last["b"]["type"] == "done"
    tries = await database_sync_to_async(_tries)(battle)
    assert [t.request_id for t in tries["a"]] == [other.request_id] != [sent["a"]]
    assert [t.request_id for t in tries["b"]] == [sent["b"]] and tries["b"][0].outcome == "done"


async def test_no_text_reaches_the_page_before_its_try_is_stored(arena_llms, settings, monkeypatch):
    """Were the web process killed between the two, the page would show text with no try on
    record, and the energy spent on it would be charged to nothing."""
    from arena import consumers

    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_PACE_STREAMS = False
    real = consumers._begin_pending

    def slow_store(*args, **kwargs):  # a slow database: the deltas are waiting long before it
        import time

        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(consumers, "_begin_pending", slow_store)
    visitor = str(uuid.uuid4())
    battle, _body = await _post_battle(visitor)
    sent = {side: answer.request_id for side, answer in early._waiting[str(battle.id)].answers.items()}
    await asyncio.sleep(0.5)  # the first deltas are read ahead meanwhile
    comm = communicator(battle, visitor)
    assert (await comm.connect(timeout=30))[0]
    while (frame := await comm.receive_json_from(timeout=30))["type"] != "delta":
        pass
    # Read from a thread of its own: the socket's database work holds the shared one.
    stored = await asyncio.to_thread(_request_ids, battle, frame["side"])
    assert stored == [sent[frame["side"]]]
    await frames_until_done(comm)
    await comm.disconnect()
