"""A vote against what another process does at the same moment to the same battle or room:
a retry, a next turn, the room's close. Each runs in its own thread and connection, the vote
held inside its transaction while the other arrives, as two web processes would interleave
them. On PostgreSQL only row locks order them; SQLite's write lock orders every write."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from arena import battles
from arena.errors import ArenaError
from arena.models import Battle, Message, PairVotes, Vote
from workshops import stats
from workshops.models import Workshop
from workshops.rules import set_state

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_S = 10


def in_thread(fn) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as exc:  # the test reads it
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def held(monkeypatch, owner, name: str, entered: threading.Event, release: threading.Event, after=False):
    """Make `owner.name` wait, once entered (or once it returned: `after`), until the test
    releases it."""
    original = getattr(owner, name)

    def waiting(*args, **kwargs):
        value = original(*args, **kwargs) if after else None
        entered.set()
        assert release.wait(WAIT_S)
        return value if after else original(*args, **kwargs)

    monkeypatch.setattr(owner, name, waiting)


def vote_held_while(monkeypatch, battle: Battle, other) -> tuple[dict, dict]:
    """Cast a vote on `battle`, and run `other` while the vote's transaction is open (its
    checks passed, its row locked, nothing committed yet)."""
    entered, release = threading.Event(), threading.Event()
    held(monkeypatch, PairVotes, "count_one", entered, release)
    vote_thread, vote = in_thread(lambda: battles.cast_vote(Battle.objects.get(pk=battle.pk), "a", {}, {}))
    assert entered.wait(WAIT_S)
    other_thread, outcome = in_thread(other)
    other_thread.join(0.5)  # it runs into the lock, or (before the fix) through it
    release.set()
    vote_thread.join(WAIT_S)
    other_thread.join(WAIT_S)
    return vote, outcome


def test_a_retry_arriving_during_the_vote_cannot_undo_the_voted_answer(monkeypatch, make_battle):
    battle = make_battle(turns=(("done", "stopped"),))
    stale = Battle.objects.get(pk=battle.pk)  # read before the vote, as the socket's process did
    vote, retry = vote_held_while(monkeypatch, battle, lambda: battles.retry_answer(stale, "b"))
    assert "error" not in vote, vote
    assert isinstance(retry.get("error"), ArenaError) and retry["error"].code == "already_voted"
    answer = Message.objects.get(turn__battle=battle, side="b")
    assert answer.status == Message.Status.STOPPED and answer.content


def test_a_next_turn_arriving_during_the_vote_is_refused(monkeypatch, make_battle):
    battle = make_battle()
    stale = Battle.objects.get(pk=battle.pk)
    vote, turn = vote_held_while(monkeypatch, battle, lambda: battles.add_turn(stale, "Et ensuite ?"))
    assert "error" not in vote, vote
    assert isinstance(turn.get("error"), ArenaError) and turn["error"].code == "already_voted"
    assert battle.turns.count() == 1


def test_a_vote_arriving_during_the_close_waits_and_is_refused_or_counted(monkeypatch, make_battle, catalogue):
    """The close locks the room and computes the frozen summary; a vote that arrives then waits
    for it and sees the room closed. Before the fix, on PostgreSQL, it was acknowledged with
    200 and left out of the summary."""
    room, _token = Workshop.open_new(title="Atelier du jeudi")
    battle = make_battle()
    Battle.objects.filter(pk=battle.pk).update(workshop_code=room.code)
    entered, release = threading.Event(), threading.Event()
    held(monkeypatch, stats, "room_stats", entered, release, after=True)  # the summary is computed
    close_thread, closed = in_thread(lambda: set_state(Workshop.objects.get(pk=room.pk), Workshop.State.CLOSED))
    assert entered.wait(WAIT_S)
    vote_thread, vote = in_thread(lambda: battles.cast_vote(Battle.objects.get(pk=battle.pk), "a", {}, {}))
    vote_thread.join(0.5)
    release.set()
    close_thread.join(WAIT_S)
    vote_thread.join(WAIT_S)
    assert "error" not in closed, closed
    summary_votes = Workshop.objects.get(pk=room.pk).summary["fr"]["votes"]
    acknowledged = Vote.objects.filter(battle=battle).exists()
    if acknowledged:  # only if it committed before the close began: then it is in the summary
        assert "error" not in vote and summary_votes == 1
    else:
        assert vote["error"].code == "workshop_closed" and summary_votes == 0
