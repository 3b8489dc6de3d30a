"""The embedded default (SQLite) holds a room voting at once: 60 votes sent at the same
moment to a real server are all stored, and none gets a 5xx."""

from __future__ import annotations

import asyncio

import httpx

from arena.models import Vote
from arena.visitors import COOKIE


def test_it_stores_sixty_simultaneous_votes(live_arena, make_battle, catalogue):
    from django.utils import timezone

    from arena.models import Visitor

    voters = [Visitor.objects.create(terms_accepted_at=timezone.now()) for _ in range(60)]
    battles = [make_battle(visitor=v, model_a="heron", model_b="mesange") for v in voters]

    async def vote(http: httpx.AsyncClient, visitor, battle, barrier: asyncio.Event):
        http.cookies.set(COOKIE, str(visitor.pk))
        await http.get("/")  # the CSRF cookie
        await barrier.wait()
        return await http.post(
            f"/api/battles/{battle.id}/vote",
            json={"choice": "a"},
            headers={"X-CSRFToken": http.cookies.get("csrftoken", ""), "Referer": live_arena + "/"},
        )

    async def room():
        barrier = asyncio.Event()
        clients = [httpx.AsyncClient(base_url=live_arena, timeout=60) for _ in voters]
        try:
            tasks = [
                asyncio.create_task(vote(c, v, b, barrier)) for c, v, b in zip(clients, voters, battles, strict=True)
            ]
            await asyncio.sleep(1.0)  # every client holds its cookie; then all at once
            barrier.set()
            return await asyncio.gather(*tasks)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    responses = asyncio.run(room())

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 60, sorted(set(statuses))
    assert Vote.objects.filter(battle__in=battles).count() == 60
