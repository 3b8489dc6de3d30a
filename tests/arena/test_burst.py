"""A burst of 100 new visitors, each opening its battle's WebSocket at the same moment, on
the embedded default served by daphne: every handshake is accepted."""

from __future__ import annotations

import asyncio

import pytest
from django.utils import timezone
from websockets.asyncio.client import connect

from arena.models import Visitor
from tests.conftest import make_battle

pytestmark = pytest.mark.slow


def test_it_accepts_every_handshake_of_a_burst(live_arena, arena_llms):
    visitors = [Visitor.objects.create(terms_accepted_at=timezone.now()) for _ in range(100)]
    battles = [make_battle(str(v.pk), arena_llms["tiny-a"], arena_llms["tiny-b"]) for v in visitors]
    ws_base = "ws" + live_arena[4:]

    async def open_socket(visitor, battle, go: asyncio.Event):
        await go.wait()
        try:
            async with connect(
                f"{ws_base}/ws/battles/{battle.id}/",
                origin=live_arena,
                additional_headers={"Cookie": f"arena_visitor={visitor.pk}"},
                open_timeout=60,
            ) as ws:
                await asyncio.wait_for(ws.recv(), 60)  # the first frame: the answers started
                return True
        except Exception as exc:
            return repr(exc)

    async def burst():
        go = asyncio.Event()
        tasks = [asyncio.create_task(open_socket(v, b, go)) for v, b in zip(visitors, battles, strict=True)]
        await asyncio.sleep(0.5)
        go.set()
        return await asyncio.gather(*tasks)

    results = asyncio.run(burst())
    failures = [r for r in results if r is not True]
    assert not failures, f"{len(failures)} of 100 handshakes failed: {failures[:3]}"
