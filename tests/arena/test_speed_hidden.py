"""Before the vote, which model finished first (its speed) cannot be read anywhere: not from
the battle page, nor the reaction endpoint, nor a second window, nor a failure's code. The
pacer holds an answer already stored until the other side's is shown too; everything a
browser can ask must wait as it does. (The stop's case, with real workers:
test_pacing.test_a_stop_after_both_answers_were_generated_keeps_what_was_shown.)"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from arena import battles, consumers
from arena.models import Message
from inference.client import Outcome
from tests.arena.test_reconnect import communicator, finish_elsewhere, frames_by_side

from .conftest import post_json

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quick_watch(monkeypatch):
    monkeypatch.setattr(consumers, "STREAM_HEARTBEAT_S", 0.2)


def test_the_page_shows_no_answer_of_a_turn_still_under_way(make_battle, owner_client):
    battle = make_battle(turns=(("done", "done"), ("done", "streaming")))
    html = owner_client.get(f"/battles/{battle.id}/").content.decode()
    assert "Answer 0 a" in html and "Answer 0 b" in html  # an ended turn is shown
    assert "Answer 1 a" not in html  # stored, but perhaps still held by the pacer
    assert html.count('data-status="streaming"') == 2 and html.count('data-status="done"') == 2
    Message.objects.filter(turn__battle=battle, side="b", turn__index=1).update(status="done", content="x", html="x")
    assert "Answer 1 a" in owner_client.get(f"/battles/{battle.id}/").content.decode()


def test_a_reaction_waits_for_both_answers_and_its_body_is_checked_first(make_battle, owner_client):
    battle = make_battle(turns=(("done", "streaming"),))
    answers = {m.side: m for m in Message.objects.filter(turn__battle=battle)}
    for side in "ab":  # the same answers for the side stored and the side still streaming
        url = f"/api/messages/{answers[side].id}/reaction"
        assert post_json(owner_client, url, {"liked": "x"}).json()["error"]["code"] == "invalid_liked"
        response = post_json(owner_client, url, {"liked": True})
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_finished"
    Message.objects.filter(pk=answers["b"].pk).update(status="done")
    assert post_json(owner_client, f"/api/messages/{answers['a'].id}/reaction", {"liked": True}).status_code == 200


async def test_a_second_window_gets_no_side_before_both_ended(make_battle, owner, quick_watch):
    """Both answers streamed by a first window (paced there). This one watches both: a's end
    alone would tell which model finished first, so its frame waits for b's."""
    battle = await database_sync_to_async(make_battle)(turns=(("streaming", "streaming"),))
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    await finish_elsewhere(battle, "a", "Bonjour soleil, une longue réponse.")
    assert await comm.receive_nothing(timeout=1.0)  # five heartbeats: a is not reported alone
    await finish_elsewhere(battle, "b", "Bonsoir.")
    frames = await frames_by_side(comm, 2, timeout=5)
    assert frames["a"]["type"] == frames["b"]["type"] == "done"
    await comm.disconnect()


def test_a_remote_apis_own_failure_code_does_not_reach_the_browser(make_battle):
    """A provider's code (`insufficient_quota`...) would tell a remote API model, or name its
    provider: the frame carries the contract's generic `worker_error`, also for a code stored
    before this rule."""
    battle = make_battle(turns=(("error", "done"),))
    message = Message.objects.get(turn__battle=battle, side="a")
    message.error_code = "insufficient_quota"
    assert consumers._last_frame(message)["code"] == "worker_error"
    message.error_code = "engine_down"
    assert consumers._last_frame(message)["code"] == "engine_down"


# -- what a stop or a closed socket keeps, with scripted models --------------------------------
class _Scripted:
    """A model client whose answers are scripted texts, streamed three characters at a time."""

    texts: list[tuple[str, float]] = []

    def __init__(self, *args):
        pass

    def answer(self, backend, history, *, max_tokens, request_id):
        return _ScriptedAnswer(*self.texts.pop(0))

    async def aborted_energy(self, backend, request_id):
        return None

    async def aclose(self):
        pass


class _ScriptedAnswer:
    def __init__(self, text, delay_s):
        self.text, self.delay_s, self.chunks, self.ttft_ms, self.outcome = text, delay_s, 0, None, None

    async def __aiter__(self):
        for i in range(0, len(self.text), 3):
            await asyncio.sleep(self.delay_s)
            self.chunks += 1
            self.ttft_ms = self.ttft_ms or 1
            yield self.text[i : i + 3]
        self.outcome = Outcome(prompt_tokens=3, completion_tokens=self.chunks, energy=None, ttft_ms=1)

    def elapsed_ms(self):
        return 10


@pytest.fixture
def scripted(monkeypatch, settings):
    settings.ARENA_PACE_STREAMS = True
    monkeypatch.setattr(consumers, "ModelClient", _Scripted)
    _Scripted.texts = []
    return _Scripted.texts


async def _until(comm, done, timeout=20) -> list[dict]:
    frames = []
    while not done(frames):
        frames.append(await comm.receive_json_from(timeout=timeout))
    return frames


def _ended(n):
    return lambda frames: sum(f["type"] in ("done", "stopped", "error") for f in frames) >= n


@database_sync_to_async
def _answers(battle):
    return {(m.turn.index, m.side): m for m in Message.objects.filter(turn__battle=battle).select_related("turn")}


async def test_a_stop_keeps_what_was_shown_and_never_touches_a_later_answer(make_battle, owner, scripted):
    """Stop: each side keeps the text shown. Then a retried side, voted on, and a socket closed
    after the vote: the voted answer stays as it was (a stopped pacer once cut it again)."""
    battle = await database_sync_to_async(make_battle)(turns=(("pending", "pending"),))
    scripted += [("A" * 600, 0.005), ("B" * 600, 0.01)]
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    frames = await _until(comm, lambda frames: sum(f["type"] == "delta" for f in frames) >= 6)
    await comm.send_json_to({"type": "stop"})
    frames += await _until(comm, _ended(2))
    shown = {s: "".join(f["text"] for f in frames if f["type"] == "delta" and f["side"] == s) for s in "ab"}
    stored = await _answers(battle)
    for side in "ab":
        assert stored[(0, side)].status == "stopped" and stored[(0, side)].content == shown[side]
    assert len(shown["a"]) == len(shown["b"])  # paced together: the faster side's lead is not kept

    scripted.append(("Une réponse reprise, entière.", 0.001))
    await comm.send_json_to({"type": "retry", "side": "a"})
    await _until(comm, lambda frames: any(f["type"] == "done" and f["side"] == "a" for f in frames))
    await database_sync_to_async(battles.cast_vote)(battle, "a", {}, {})
    await comm.disconnect()
    stored = await _answers(battle)
    assert stored[(0, "a")].status == "done" and stored[(0, "a")].content == "Une réponse reprise, entière."


async def test_a_closed_socket_leaves_a_later_turn_whole(make_battle, owner, scripted):
    battle = await database_sync_to_async(make_battle)(turns=(("pending", "pending"),))
    scripted += [("A" * 600, 0.005), ("B" * 600, 0.005)]
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    await _until(comm, lambda frames: sum(f["type"] == "delta" for f in frames) >= 4)
    await comm.send_json_to({"type": "stop"})
    await _until(comm, _ended(2))
    scripted += [("Deuxième réponse de A.", 0.001), ("Deuxième réponse de B.", 0.001)]
    await comm.send_json_to({"type": "prompt", "text": "Et ensuite ?"})
    await _until(comm, _ended(2))
    await comm.disconnect()
    stored = await _answers(battle)
    assert (stored[(1, "a")].status, stored[(1, "a")].content) == ("done", "Deuxième réponse de A.")
    assert (stored[(1, "b")].status, stored[(1, "b")].content) == ("done", "Deuxième réponse de B.")


async def test_a_retry_answers_the_same_for_both_sides_while_the_turn_is_shown(make_battle, owner, scripted):
    """A retry of the fast side, stored while the pacer still holds it, answered
    `nothing_to_retry` and of the slow side `answer_streaming`: which model finished first."""
    battle = await database_sync_to_async(make_battle)(turns=(("pending", "pending"),))
    scripted += [("A" * 600, 0.02), ("B" * 60, 0.001)]
    comm = communicator(battle, str(owner.pk))
    assert (await comm.connect())[0]
    for _ in range(100):  # until b's answer is stored (the pacer still holds most of it)
        if (await _answers(battle))[(0, "b")].status == "done":
            break
        await asyncio.sleep(0.05)
    for side in "ab":
        await comm.send_json_to({"type": "retry", "side": side})
        reply = await _until(comm, lambda frames: frames[-1]["type"] == "error" if frames else False)
        assert (reply[-1]["side"], reply[-1]["code"]) == (side, "answer_streaming")
    # A refused retry does not end its side: asked again, the same answer; a stop still ends both.
    await comm.send_json_to({"type": "retry", "side": "b"})
    reply = await _until(comm, lambda frames: frames[-1]["type"] == "error" if frames else False)
    assert reply[-1]["code"] == "answer_streaming"
    await comm.send_json_to({"type": "stop"})
    frames = await _until(comm, _ended(2))
    assert {f["side"] for f in frames if f["type"] == "stopped"} == {"a", "b"}
    await comm.disconnect()
