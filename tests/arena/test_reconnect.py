"""A socket that opens on a battle is told where each answer of the last turn stands: the
last frame of one that ended, and for one streamed elsewhere (another window, or a web
process that died) that frame once it ends, an `interrupted` error when its try's lease
lapses. A client whose socket closed mid-answer reconnects and learns what it missed."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone, translation

from arena import consumers
from arena.models import STREAM_LEASE_S, Attempt, Message
from tests.arena.test_consumer import communicator, frames_until_done
from tests.conftest import make_battle as make_live_battle

from .conftest import add_attempt, energy_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quick_watch(monkeypatch):
    """Watched answers checked every 0.2 s instead of every heartbeat (5 s)."""
    monkeypatch.setattr(consumers, "STREAM_HEARTBEAT_S", 0.2)


def french(code: str) -> str:
    with translation.override("fr"):
        return str(consumers.FAILURE_MESSAGES[code])


@database_sync_to_async
def answer(battle, side) -> Message:
    return Message.objects.select_related("turn__battle__model_a", "turn__battle__model_b").get(
        turn__battle=battle, side=side
    )


@database_sync_to_async
def lapse_lease(battle, side) -> None:
    Attempt.objects.filter(message__turn__battle=battle, message__side=side).update(
        alive_at=timezone.now() - dt.timedelta(seconds=STREAM_LEASE_S + 1)
    )


@database_sync_to_async
def finish_elsewhere(battle, side, content) -> Message:
    """What the task streaming the answer in another process does when its answer is whole."""
    message = Message.objects.select_related("turn__battle__model_a", "turn__battle__model_b").get(
        turn__battle=battle, side=side
    )
    message.finish(
        message.attempts.get(),
        Message.Status.DONE,
        content,
        energy=None,
        prompt_tokens=10,
        completion_tokens=4,
        ttft_ms=20,
        duration_ms=300,
    )
    return message


@database_sync_to_async
def answer_of_last_turn(battle, side) -> Message:
    return Message.objects.filter(turn__battle=battle, side=side).order_by("-turn__index").first()


async def frames_by_side(comm, n, timeout=10) -> dict[str, dict]:
    frames = {}
    for _ in range(n):
        frame = await comm.receive_json_from(timeout=timeout)
        frames[frame["side"]] = frame
    return frames


async def test_it_reports_finished_answers_to_a_new_socket(make_battle, owner):
    battle = await database_sync_to_async(make_battle)(turns=(("done", "stopped"), ("done", "done")))
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    frames = await frames_by_side(comm, 2)
    for side in "ab":
        stored = await answer_of_last_turn(battle, side)
        assert frames[side] == {
            "type": "done",
            "side": side,
            "seq": None,
            "message_id": str(stored.id),
            "html": f"<p>Answer 1 {side}</p>",
            "completion_tokens": None,  # paced (the default): the tokenizer would give it away
            "duration_ms": None,  # the speed would give the model away
        }
    assert await comm.receive_nothing(timeout=0.3)  # the earlier turn is not reported
    await comm.disconnect()


async def test_it_reports_a_stopped_and_a_failed_answer_to_a_new_socket(make_battle, owner):
    battle = await database_sync_to_async(make_battle)(turns=(("stopped", "error"),))
    await database_sync_to_async(
        lambda: Message.objects.filter(turn__battle=battle, side="b").update(error_code="engine_down")
    )()
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    frames = await frames_by_side(comm, 2)
    stopped = await answer(battle, "a")
    assert frames["a"] == {"type": "stopped", "side": "a", "message_id": str(stopped.id), "html": "<p>Answer 0 a</p>"}
    assert frames["b"] == {"type": "error", "side": "b", "code": "engine_down", "message": french("engine_down")}
    await comm.disconnect()


async def test_it_reports_nothing_once_voted(make_battle, owner):
    battle = await database_sync_to_async(make_battle)(vote="a")
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_it_sends_the_done_frame_of_an_answer_finished_elsewhere(make_battle, owner, quick_watch):
    battle = await database_sync_to_async(make_battle)(turns=(("streaming", "done"),))
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    # b finished, a streams elsewhere (its lease alive): b's frame waits for a's, as the pacer
    # would have held it (the gap between them would tell the models' speeds).
    assert await comm.receive_nothing(timeout=0.5)
    # Watched, side a counts as streaming: no next turn, no retry yet.
    await comm.send_json_to({"type": "prompt", "text": "Et la lune ?"})
    assert (await comm.receive_json_from(timeout=5))["code"] == "answers_pending"
    await comm.send_json_to({"type": "retry", "side": "a"})
    assert (await comm.receive_json_from(timeout=5))["code"] == "answer_streaming"

    finished = await finish_elsewhere(battle, "a", "Bonjour **soleil**.")

    frames = await frames_by_side(comm, 2)
    assert frames["b"]["type"] == "done"
    frame = frames["a"]
    assert frame == {
        "type": "done",
        "side": "a",
        "seq": None,
        "message_id": str(finished.id),
        "html": finished.html,
        "completion_tokens": None,
        "duration_ms": None,
    }
    assert "<strong>soleil</strong>" in frame["html"]
    assert await comm.receive_nothing(timeout=0.5)  # the watch ended with its frame
    await comm.disconnect()


async def test_it_fails_a_watched_answer_whose_lease_lapses(make_battle, owner, quick_watch):
    battle = await database_sync_to_async(make_battle)(turns=(("done", "streaming"),))
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.5)  # a's done waits for b

    await lapse_lease(battle, "b")  # the web process streaming it died

    frames = await frames_by_side(comm, 2)
    assert frames["a"]["type"] == "done"
    assert frames["b"] == {"type": "error", "side": "b", "code": "interrupted", "message": french("interrupted")}
    stored = await answer(battle, "b")
    assert stored.status == Message.Status.ERROR and stored.error_code == "interrupted"
    await comm.disconnect()


async def test_a_stop_ends_the_watch_of_an_answer_streamed_elsewhere(make_battle, owner, quick_watch):
    battle = await database_sync_to_async(make_battle)(turns=(("streaming", "done"),))
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.5)  # b's done waits for a

    await comm.send_json_to({"type": "stop"})

    # The stop ends the wait, but b's text does not go out while a still streams elsewhere:
    # the other window's pacer may hold it, and b's end would tell which model finished first.
    frames = await frames_by_side(comm, 2)
    assert frames["a"]["code"] == frames["b"]["code"] == "answer_streaming"  # not this socket's
    await finish_elsewhere(battle, "a", "Bonjour.")
    assert await comm.receive_nothing(timeout=0.6)  # no longer watched
    await comm.disconnect()


@pytest.mark.slow
async def test_it_fails_an_answer_left_streaming_by_a_dead_process_and_retries_it(arena_llms, settings):
    """The web process streaming side a was killed: the socket that reconnects elsewhere is
    told at once that the answer was interrupted, and its retry streams it again."""
    settings.ARENA_MAX_TOKENS = 8
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_live_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])

    @database_sync_to_async
    def killed_mid_answer():
        a, b = (Message.objects.get(turn__battle=battle, side=side) for side in "ab")
        Message.objects.filter(pk=a.pk).update(status=Message.Status.STREAMING)
        add_attempt(a, None, outcome="streaming")
        Message.objects.filter(pk=b.pk).update(status=Message.Status.DONE, content="Fini.", html="<p>Fini.</p>")
        add_attempt(b, energy_record(1.0))

    await killed_mid_answer()
    await lapse_lease(battle, "a")
    comm = communicator(battle, visitor)
    assert (await comm.connect())[0]
    frames = await frames_by_side(comm, 2, timeout=5)
    assert frames["a"] == {"type": "error", "side": "a", "code": "interrupted", "message": french("interrupted")}
    assert frames["b"]["type"] == "done" and frames["b"]["html"] == "<p>Fini.</p>"

    await comm.send_json_to({"type": "retry", "side": "a"})
    frames = await frames_until_done(comm, sides=("a",))
    assert frames[0] == {"type": "start", "side": "a", "turn": 0}
    assert frames[-1]["type"] == "done"
    retried = await answer(battle, "a")
    first, second = await database_sync_to_async(lambda: list(retried.attempts.order_by("started_at", "id")))()
    streamed = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert retried.status == Message.Status.DONE and retried.content == streamed
    assert first.outcome == "error" and second.outcome == "done"
    await comm.disconnect()
