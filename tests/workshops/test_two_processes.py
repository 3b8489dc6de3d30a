"""Two web processes on PostgreSQL + Redis: a participant plays and votes through one, the
projector follows the room through the other, and still updates (the room's group lives
in Redis, not in a process). Runs in CI's PostgreSQL + Redis pass."""

from __future__ import annotations

import os
import time

import pytest
from channels.db import database_sync_to_async

from devtools.arena_client import Dashboard, Visitor, create_room
from tests.conftest import make_llm, serve_arena, stop_arena

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (CI's PostgreSQL + Redis pass)"),
]


def _stored(battle_id) -> dict[str, tuple[str, str]]:
    """side -> (status, text) of the first turn's answers, as the database holds them."""
    from django.db import connection

    from arena.models import Message

    try:
        return {m.side: (m.status, m.content) for m in Message.objects.filter(turn__battle_id=battle_id, turn__index=0)}
    finally:
        connection.close()


async def _streamed_as_stored(battle: dict, answers: dict[str, str]) -> None:
    """Both answers ended (`stream` returns only then) and each one streamed is the one stored.
    Not that each has text: a tiny model may end its answer at once (its first token is its
    end token, about one answer in 150), which is an answer too."""
    assert await database_sync_to_async(_stored)(battle["id"]) == {s: ("done", answers[s]) for s in "ab"}


@pytest.fixture
def two_processes(arena_workers, transactional_db, tmp_path):
    for slug in ("tiny-a", "tiny-b"):
        make_llm(slug, arena_workers[slug])
    shared = {"CACHE_KEY_PREFIX": f"two-{os.getpid()}"}  # one set of counters, as in production
    servers = [serve_arena(tmp_path / f"daphne-{n}.log", **shared) for n in (1, 2)]
    yield [url for url, _proc in servers]
    for _url, proc in servers:
        stop_arena(proc)


async def test_a_vote_on_one_process_updates_a_dashboard_on_the_other(two_processes):
    web1, web2 = two_processes
    room = await create_room(web1, "Atelier réparti")
    async with Dashboard(web2, room["code"], room["token"]) as dashboard:
        assert (await dashboard.next_stats())["data"]["votes"] == 0
        async with Visitor(web1) as person:
            await person.consent()
            assert await person.join(room["code"]) == 200
            await dashboard.until(lambda d: d["participants"] == 1)
            battle = await person.start("Pourquoi la mer est-elle salée ?", workshop=room["code"])
            await dashboard.until(lambda d: d["battles"] == 1)
            answers = await person.stream(battle)
            await _streamed_as_stored(battle, answers)
            await person.vote(battle, "b")
            acknowledged = time.perf_counter()
        frame = await dashboard.until(lambda d: d["votes"] == 1, timeout_s=2)
        assert frame["received_at"] - acknowledged < 2
        assert frame["data"]["energy"]["wh"] > 0


async def test_a_battle_created_on_one_process_streams_and_votes_on_the_other(two_processes):
    web1, web2 = two_processes
    async with Visitor(web1) as person:
        await person.consent()
        battle = await person.start("Bonjour !")
        person.base = web2  # same cookies, the other process
        answers = await person.stream(battle)
        await _streamed_as_stored(battle, answers)
        reveal = await person.vote(battle, "tie")
        assert {reveal["reveal"]["a"]["model"]["slug"], reveal["reveal"]["b"]["model"]["slug"]} <= {"tiny-a", "tiny-b"}
