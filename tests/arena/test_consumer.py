"""The battle WebSocket against real inference workers and tiny models (no fake streams)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from arena.models import Message
from config.asgi import application
from devtools.launcher import start_worker
from tests.conftest import MODELS_DIR, TEST_LOGS, ensure_chatty_model, make_battle, make_llm
from tests.inference_workers.test_worker import metrics

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def communicator(battle, visitor_id):
    return WebsocketCommunicator(
        application,
        f"/ws/battles/{battle.id}/",
        headers=[
            (b"cookie", f"arena_visitor={visitor_id}".encode()),
            (b"origin", b"http://127.0.0.1"),
            (b"host", b"127.0.0.1"),
        ],
    )


async def frames_until_done(comm, sides=("a", "b"), timeout=90, finished=()):
    """Every frame until each side has sent done or error (`finished`: already seen)."""
    frames, finished = [], set(finished)
    while finished != set(sides):
        frame = await comm.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] in ("done", "error") and frame.get("side"):
            finished.add(frame["side"])
    return frames


@database_sync_to_async
def messages_of(battle, turn=0):
    return {m.side: m for m in Message.objects.filter(turn__battle=battle, turn__index=turn)}


@database_sync_to_async
def attempts_of(message):
    return list(message.attempts.order_by("started_at", "id"))


async def test_it_streams_both_sides_in_order_and_persists_before_done(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 24
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    comm = communicator(battle, visitor)
    connected, _ = await comm.connect()
    assert connected
    texts = {"a": [], "b": []}
    seen_done = set()
    while seen_done != {"a", "b"}:
        frame = await comm.receive_json_from(timeout=90)
        assert frame["type"] in ("start", "delta", "done"), frame
        side = frame["side"]
        if frame["type"] == "delta":
            assert frame["seq"] == len(texts[side]) + 1  # ordered, none missing
            texts[side].append(frame["text"])
        elif frame["type"] == "done":
            # Persisted before done: the database already holds the whole answer.
            stored = (await messages_of(battle))[side]
            assert stored.status == Message.Status.DONE
            assert stored.content == "".join(texts[side])
            (attempt,) = await attempts_of(stored)
            assert attempt.energy_j > 0 and stored.completion_tokens > 0
            # Paced, the frame carries no token count: it would tell the tokenizer.
            assert frame["completion_tokens"] == (None if settings.ARENA_PACE_STREAMS else stored.completion_tokens)
            # The try is stored with the id the worker knows it by, and the record it sent.
            assert attempt.outcome == "done" and len(attempt.request_id) == 32
            assert attempt.backend == arena_llms["tiny-a" if side == "a" else "tiny-b"].worker_default_url
            assert attempt.energy_record().completion_tokens == stored.completion_tokens
            assert frame["seq"] == len(texts[side]) + 1 and frame["message_id"] == str(stored.id)
            assert frame["html"] == stored.html
            seen_done.add(side)

    # A second turn: each model answers with its own history.
    await comm.send_json_to({"type": "prompt", "text": "Et la lune ?"})
    frames = await frames_until_done(comm)
    assert {f["side"] for f in frames if f["type"] == "done"} == {"a", "b"}
    second = await messages_of(battle, turn=1)
    assert all(m.status == Message.Status.DONE for m in second.values())
    await comm.disconnect()


async def test_a_whole_answer_is_stored_even_if_its_task_is_cancelled_while_the_database_thread_is_busy():
    """A stop (or a closed socket) cancels the side's task. Its answer, generated whole, was
    waiting for the database thread (busy with other sockets' work): asgiref drops a call
    that has not started when its task is cancelled, so the answer stayed "streaming" for
    good, and no frame ended the side (seen in bench/routing.py). It is stored all the same."""
    from arena.consumers import _begin_pending, _store
    from inference.client import AnswerStream

    llm_a = await database_sync_to_async(make_llm)("store-a", "http://127.0.0.1:9")
    llm_b = await database_sync_to_async(make_llm)("store-b", "http://127.0.0.1:9")
    battle = await database_sync_to_async(make_battle)(str(uuid.uuid4()), llm_a, llm_b)
    ((side, job), _other), _ended = await database_sync_to_async(_begin_pending)(battle.id)
    answer = AnswerStream(None, job.backend, job.history, max_tokens=8, request_id=job.attempt.request_id)

    async def relay_ending():
        await _store(job, Message.Status.DONE, "Bonjour.", answer, None, 3, 2)

    busy = asyncio.create_task(database_sync_to_async(time.sleep)(1.0))  # the database thread
    await asyncio.sleep(0.1)
    storing = asyncio.create_task(relay_ending())
    await asyncio.sleep(0.1)
    storing.cancel()
    await busy
    for _ in range(50):
        stored = await messages_of(battle)
        if stored[side].status == Message.Status.DONE:
            break
        await asyncio.sleep(0.05)
    assert stored[side].status == Message.Status.DONE and stored[side].content == "Bonjour."


async def test_an_answer_that_cannot_be_stored_ends_its_side_with_an_error(arena_llms, settings, monkeypatch):
    """Storing side a's answer fails (on PostgreSQL a NUL character did; the database error is
    raised here on purpose): side a ends with an error frame the visitor can act on, and the
    paced side b is still shown to its end, instead of both waiting for ever."""
    from django.db import DataError

    from arena import consumers

    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_PACE_STREAMS = True
    real_finish = consumers._finish

    def finish(job, status, *args, **kwargs):
        if status == Message.Status.DONE and job.attempt.message.side == "a":
            raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return real_finish(job, status, *args, **kwargs)

    monkeypatch.setattr(consumers, "_finish", finish)
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    comm = communicator(battle, visitor)
    await comm.connect()
    frames = await frames_until_done(comm, timeout=60)
    await comm.disconnect()
    ended = {f["side"]: f for f in frames if f["type"] in ("done", "error") and f.get("side")}
    assert ended["a"]["type"] == "error" and ended["a"]["code"] == "worker_error"
    assert ended["b"]["type"] == "done"


async def test_it_stops_both_answers_on_request(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 1000
    # Both sides on one serial engine: paced, nothing would show until side a had finished.
    settings.ARENA_PACE_STREAMS = False
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["chatty"], arena_llms["chatty"])
    comm = communicator(battle, visitor)
    await comm.connect()
    deltas = 0
    while deltas < 6:
        frame = await comm.receive_json_from(timeout=60)
        deltas += frame["type"] == "delta"
    await comm.send_json_to({"type": "stop"})
    for _ in range(100):
        stored = await messages_of(battle)
        if all(m.status == Message.Status.STOPPED for m in stored.values()):
            break
        await asyncio.sleep(0.1)
    assert all(m.status == Message.Status.STOPPED for m in stored.values())
    assert any(m.content for m in stored.values())
    # The client is told, with the text kept.
    stopped = {}
    while len(stopped) < 2:
        frame = await comm.receive_json_from(timeout=10)
        if frame["type"] == "stopped":
            stopped[frame["side"]] = frame
    assert set(stopped) == {"a", "b"} and all(stopped[s]["html"] == stored[s].html for s in "ab")
    # The energy used until the stop is kept: asked of the worker by request id.
    for m in stored.values():
        (attempt,) = await attempts_of(m)
        assert attempt.outcome == "stopped" and attempt.energy_j > 0 and attempt.method == "cpu-time-model"

    # Retrying a stopped side: the stopped attempt's energy stays in the side's total.
    stopped_j = (await attempts_of(stored["a"]))[0].energy_j
    settings.ARENA_MAX_TOKENS = 8
    await comm.send_json_to({"type": "retry", "side": "a"})
    await frames_until_done(comm, sides=("a",))
    retried = (await messages_of(battle))["a"]
    first, second = await attempts_of(retried)
    assert retried.status == Message.Status.DONE and first.energy_j == stopped_j and first.outcome == "stopped"
    assert second.outcome == "done" and second.energy_j > 0 and second.request_id != first.request_id
    await comm.disconnect()


async def test_it_cancels_upstream_when_the_socket_closes(arena_llms, arena_workers, settings):
    settings.ARENA_MAX_TOKENS = 1000
    url = arena_workers["chatty"]
    before = metrics(url)
    visitor = str(uuid.uuid4())
    other = await database_sync_to_async(make_llm)("tiny-a", arena_workers["tiny-a"])
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["chatty"], other)
    comm = communicator(battle, visitor)
    await comm.connect()
    while True:
        frame = await comm.receive_json_from(timeout=60)
        if frame["type"] == "delta" and frame["side"] == "a":
            break
    await comm.disconnect()
    for _ in range(50):
        now = metrics(url)
        if now["arena_worker_inflight_requests"] == 0:
            break
        await asyncio.sleep(0.1)
    key = 'arena_worker_requests_total{outcome="aborted"}'
    assert now["arena_worker_inflight_requests"] == 0
    assert now.get(key, 0) == before.get(key, 0) + 1
    stored = await messages_of(battle)
    assert stored["a"].status == Message.Status.STOPPED


async def test_it_sends_an_error_frame_when_a_worker_dies_and_retries_the_side(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 400
    chatty_dir = ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)
    doomed = start_worker(chatty_dir, name="doomed", log_dir=TEST_LOGS)
    try:
        doomed.wait_ready()
        llm = await database_sync_to_async(make_llm)("doomed", doomed.url)
        visitor = str(uuid.uuid4())
        battle = await database_sync_to_async(make_battle)(visitor, llm, arena_llms["tiny-b"])
        comm = communicator(battle, visitor)
        await comm.connect()
        deltas, early = 0, []
        while deltas < 3:
            frame = await comm.receive_json_from(timeout=60)
            early.append(frame)
            deltas += frame["type"] == "delta" and frame["side"] == "a"
        b_finished = {"b"} if any(f["type"] in ("done", "error") and f["side"] == "b" for f in early) else set()
        engine_pid = httpx.get(doomed.url + "/health").json()["engine"]["pid"]
        os.killpg(doomed.proc.pid, signal.SIGKILL)  # the worker, mid-answer
        for _ in range(50):  # its engine follows it (parent-death signal), never orphaned
            if not os.path.exists(f"/proc/{engine_pid}") or "Z" in open(f"/proc/{engine_pid}/stat").read().split()[2]:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the engine outlived its worker")
        frames = await frames_until_done(comm, finished=b_finished)
        error = next(f for f in frames if f["type"] == "error")
        assert error["side"] == "a" and error["code"] in ("engine_down", "worker_unreachable")
        assert "doomed" not in error["message"] and doomed.url not in error["message"]
        stored = await messages_of(battle)
        assert stored["a"].status == Message.Status.ERROR

        # Retry once the worker is back: the side streams again and finishes.
        doomed = start_worker(chatty_dir, name="doomed", port=doomed.port, log_dir=TEST_LOGS)
        doomed.wait_ready()
        settings.ARENA_MAX_TOKENS = 16
        await comm.send_json_to({"type": "retry", "side": "a"})
        frames = await frames_until_done(comm, sides=("a",))
        assert frames[0] == {"type": "start", "side": "a", "turn": 0}
        assert frames[-1]["type"] == "done"
        stored = await messages_of(battle)
        first, second = await attempts_of(stored["a"])
        assert stored["a"].status == Message.Status.DONE and first.outcome == "error" and second.outcome == "done"
        # The first attempt died with its worker: no record to fetch, nothing invented.
        assert first.energy_j is None and first.record is None and second.energy_j > 0
        await comm.disconnect()
    finally:
        doomed.stop()


async def test_it_refuses_a_socket_from_another_visitor(arena_llms):
    battle = await database_sync_to_async(make_battle)(str(uuid.uuid4()), arena_llms["tiny-a"], arena_llms["tiny-b"])
    comm = communicator(battle, str(uuid.uuid4()))
    connected, code = await comm.connect()
    assert not connected


async def test_it_answers_bad_frames_with_an_error_frame(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 8
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    comm = communicator(battle, visitor)
    await comm.connect()
    await frames_until_done(comm)
    await comm.send_to(text_data="not json")
    assert (await comm.receive_json_from())["code"] == "unknown_type"
    await comm.send_json_to({"type": "retry", "side": "c"})
    assert (await comm.receive_json_from())["code"] == "invalid_side"
    await comm.send_json_to({"type": "prompt", "text": "x" * 9000})
    assert (await comm.receive_json_from())["code"] == "prompt_too_long"
    await comm.disconnect()


async def test_it_survives_malformed_frames(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 8
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    comm = communicator(battle, visitor)
    await comm.connect()
    await frames_until_done(comm)
    bad = [
        {"bytes_data": b"\x00\x01"},
        {"text": ""},  # what daphne passes for an empty text frame
        {"text_data": " "},
        {"text_data": '{"type": "prompt", "text": 42}'},
        {"text_data": '{"type": "prompt", "text": "\\ud800"}'},
        {"text_data": '{"type": 1' + "9" * 5000 + "}"},
        {"text_data": "[" * 5000 + "]" * 5000},
        {"text_data": '{"type": "retry", "side": ["a"]}'},
    ]
    for frame in bad:
        if "text" in frame:
            await comm.send_input({"type": "websocket.receive", **frame})
        else:
            await comm.send_to(**frame)
        reply = await comm.receive_json_from(timeout=10)
        assert reply["type"] == "error" and reply["code"] in ("unknown_type", "empty_prompt", "invalid_side"), frame
    # The socket lives: the next real prompt is answered.
    await comm.send_json_to({"type": "prompt", "text": "Et la lune ?"})
    frames = await frames_until_done(comm)
    assert {f["side"] for f in frames if f["type"] == "done"} == {"a", "b"}
    await comm.disconnect()


async def test_a_battle_streams_while_the_channel_layer_is_unreachable(arena_llms, settings):
    """A battle's socket does not use the channel layer: with Redis down (a layer on a port
    nothing listens on), it still streams both answers (it used to crash: 8 sockets lost in
    bench/load.py's Redis restart)."""
    from channels.layers import channel_layers

    from inference_workers.engines import free_port

    settings.ARENA_MAX_TOKENS = 8
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    channel_layers.backends.clear()
    try:
        visitor = str(uuid.uuid4())
        battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
        comm = communicator(battle, visitor)
        assert (await comm.connect())[0]
        frames = await frames_until_done(comm, timeout=60)
        await comm.disconnect()
    finally:
        channel_layers.backends.clear()
    assert {f["side"] for f in frames if f["type"] == "done"} == {"a", "b"}
