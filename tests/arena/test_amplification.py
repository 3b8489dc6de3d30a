"""One prompt, one generation per answer: a second socket on the same battle does not start
the answers again, retries count against the prompt rate, open sockets are capped, and an
answer whose task died does not stay `streaming` (nor hold a battle slot) for ever."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from arena import battles
from arena.models import STREAM_LEASE_S, Attempt, Message
from tests.arena.test_consumer import communicator, frames_until_done
from tests.conftest import make_battle

from .conftest import post_json


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_it_generates_each_answer_once_whatever_the_sockets(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 400
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["chatty"], arena_llms["chatty"])
    first, second = communicator(battle, visitor), communicator(battle, visitor)
    assert (await first.connect())[0]
    assert (await first.receive_json_from(timeout=30))["type"] == "start"
    assert (await second.connect())[0]
    assert await second.receive_nothing(timeout=1.0)  # the answers are already streaming elsewhere
    await second.disconnect()
    await first.disconnect()  # cuts both answers
    tries = await database_sync_to_async(lambda: Attempt.objects.filter(message__turn__battle=battle).count())()
    assert tries == 2  # one per side, not one per socket


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_it_counts_retries_against_the_prompt_rate(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 4
    settings.ARENA_PROMPTS_PER_MINUTE_VISITOR = 2
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    await database_sync_to_async(
        lambda: Message.objects.filter(turn__battle=battle, side="a").update(status=Message.Status.STOPPED)
    )()
    comm = communicator(battle, visitor)
    await comm.connect()
    await frames_until_done(comm, sides=("b",))
    for _ in range(2):  # within the limit: each retry streams an answer
        await comm.send_json_to({"type": "retry", "side": "a"})
        frames = await frames_until_done(comm, sides=("a",))
        assert frames[-1]["type"] == "done"
        await database_sync_to_async(
            lambda: Message.objects.filter(turn__battle=battle, side="a").update(status=Message.Status.STOPPED)
        )()
    await comm.send_json_to({"type": "retry", "side": "a"})
    assert (await comm.receive_json_from(timeout=10))["code"] == "rate_limited"
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_caps_the_open_sockets_of_a_visitor(arena_llms, settings):
    settings.ARENA_MAX_SOCKETS_PER_VISITOR = 2
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    await database_sync_to_async(
        lambda: Message.objects.filter(turn__battle=battle).update(status=Message.Status.STOPPED)
    )()
    sockets = [communicator(battle, visitor) for _ in range(3)]
    assert (await sockets[0].connect())[0] and (await sockets[1].connect())[0]
    connected, code = await sockets[2].connect()
    assert not connected and code == 4429
    await sockets[0].disconnect()
    again = communicator(battle, visitor)
    assert (await again.connect())[0]  # a closed socket gives its slot back
    await again.disconnect()
    await sockets[1].disconnect()


def test_it_lets_only_one_task_claim_a_pending_answer(make_battle):
    """Two sockets opening at the same moment both see the answer pending: one claims it."""
    message = Message.objects.get(turn__battle=make_battle(turns=(("pending", "pending"),)), side="a")
    first = message.begin_attempt("http://worker-1")
    again = Message.objects.get(pk=message.pk).begin_attempt("http://worker-1")
    assert first is not None and again is None
    assert message.attempts.count() == 1 and Message.objects.get(pk=message.pk).status == "streaming"


# -- answers whose task died ----------------------------------------------------------------
def test_it_fails_an_answer_left_streaming_by_a_dead_task(owner_client, owner, make_battle, settings):
    settings.ARENA_MAX_CONCURRENT_BATTLES = 1
    battle = make_battle(turns=(("streaming", "done"),))
    assert battles.concurrent_battles(owner.pk) == 1  # alive: it holds its slot
    Attempt.objects.filter(message__turn__battle=battle).update(
        alive_at=timezone.now() - dt.timedelta(seconds=STREAM_LEASE_S + 1)
    )

    response = post_json(owner_client, f"/api/battles/{battle.id}/vote", {"choice": "a"})

    assert response.status_code == 409 and response.json()["error"]["code"] == "answer_failed"
    stuck = Message.objects.get(turn__battle=battle, side="a")
    assert stuck.status == Message.Status.ERROR and stuck.error_code == "interrupted"
    assert stuck.attempts.get().outcome == "error"
    assert battles.concurrent_battles(owner.pk) == 0  # and no longer holds a slot


def test_a_new_battle_takes_the_slot_of_an_answer_whose_task_died(owner, make_battle, settings):
    settings.ARENA_MAX_CONCURRENT_BATTLES = 1
    battle = make_battle(turns=(("streaming", "done"),))
    Attempt.objects.filter(message__turn__battle=battle).update(
        alive_at=timezone.now() - dt.timedelta(seconds=STREAM_LEASE_S + 1)
    )

    assert battles.concurrent_battles(owner.pk) == 0  # what the POST's check sees: no slot held
    assert Message.objects.get(turn__battle=battle, side="a").error_code == "interrupted"


def test_counting_a_visitors_battles_takes_one_query_when_none_is_answering(
    owner, make_battle, django_assert_num_queries
):
    """The count stands before a new battle's answers are sent: the usual case, nothing
    unfinished, asks the database once (dead tasks are looked for among unfinished ones only)."""
    make_battle(turns=(("done", "done"),))
    with django_assert_num_queries(1):
        assert battles.concurrent_battles(owner.pk) == 0


def test_a_sockets_checks_read_a_new_battles_answers_without_looking_for_dead_tasks(
    owner, make_battle, django_assert_num_queries
):
    """The socket's checks stand before a new battle's first delta: with no answer streaming,
    the last turn's answers take two queries (the turn, its answers), not the dead-task lookup."""
    battle = make_battle(turns=(("done", "done"), ("pending", "pending")))
    with django_assert_num_queries(2):
        answers = battles.last_turn_answers(battle)
    assert [(m.turn.index, m.side, m.status) for m in answers] == [(1, "a", "pending"), (1, "b", "pending")]


def test_an_answer_left_streaming_by_a_dead_task_is_failed_when_its_answers_are_read(owner, make_battle):
    battle = make_battle(turns=(("streaming", "streaming"),))
    Attempt.objects.filter(message__turn__battle=battle, message__side="a").update(
        alive_at=timezone.now() - dt.timedelta(seconds=STREAM_LEASE_S + 1)
    )

    answers = {m.side: m for m in battles.last_turn_answers(battle)}

    assert (answers["a"].status, answers["a"].error_code) == (Message.Status.ERROR, "interrupted")
    assert answers["b"].status == Message.Status.STREAMING  # its task is alive: left alone
