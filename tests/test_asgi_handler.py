"""config/handlers.py: under the ASGI application the server runs, a request's middleware
and view run in one hop to the sync thread, never back to the event loop in between;
Django's own handler, with the same middleware, goes back and forth."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient
from django.utils import timezone

from arena import early
from arena.models import Battle, Visitor
from config.handlers import OneHopASGIHandler
from tests.asgi_app import CSRF_TOKEN, call_app

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def hops(monkeypatch):
    """How often the code switched: event loop -> sync thread, and sync thread -> event loop."""
    counts = {"to_thread": 0, "to_loop": 0}
    to_thread, to_loop = SyncToAsync.__call__, AsyncToSync.__call__

    async def counted_to_thread(self, *args, **kwargs):
        counts["to_thread"] += 1
        return await to_thread(self, *args, **kwargs)

    def counted_to_loop(self, *args, **kwargs):
        counts["to_loop"] += 1
        return to_loop(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted_to_thread)
    monkeypatch.setattr(AsyncToSync, "__call__", counted_to_loop)
    return counts


async def _request(app, method: str, path: str, body: bytes = b"") -> dict:
    headers = [
        (b"host", b"testserver"),
        (b"cookie", f"csrftoken={CSRF_TOKEN}".encode()),
        (b"x-csrftoken", CSRF_TOKEN.encode()),
        (b"content-type", b"application/json"),
    ]
    return await HttpCommunicator(app, method, path, body=body, headers=headers).get_response(timeout=30)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/", b""), ("GET", "/api/models", b""), ("POST", "/api/consent", b'{"accept_terms": true}')],
)
async def test_one_hop_where_django_makes_several(hops, method, path, body):
    one_hop = await _request(OneHopASGIHandler(), method, path, body)
    one_hop_hops = dict(hops)
    hops.update(to_thread=0, to_loop=0)
    django = await _request(ASGIHandler(), method, path, body)
    assert one_hop["status"] == django["status"] == 200
    assert dict(one_hop["headers"]).keys() == dict(django["headers"]).keys()  # the same middleware ran
    assert one_hop_hops["to_loop"] == 0 < hops["to_loop"]
    assert one_hop_hops["to_thread"] < hops["to_thread"]


def test_the_server_runs_the_one_hop_handler_unless_told_not_to():
    code = "import config.asgi; print(type(config.asgi.django_handler).__name__)"
    env = {k: v for k, v in os.environ.items() if k != "ARENA_ASGI_ONE_HOP"}
    served = {
        value: subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**env, **({"ARENA_ASGI_ONE_HOP": value} if value else {})},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for value in ("", "false")
    }
    assert served == {"": "OneHopASGIHandler", "false": "ASGIHandler"}


async def _visitor() -> str:
    visitor = str(uuid.uuid4())
    await database_sync_to_async(Visitor.objects.create)(pk=visitor, terms_accepted_at=timezone.now())
    return visitor


async def test_a_battle_posted_through_the_server_begins_its_answers_on_its_loop(arena_llms, settings):
    settings.ARENA_MAX_TOKENS = 4
    status, answer = await call_app(
        "POST",
        "/api/battles",
        body={"prompt": "Bonjour", "mode": "random"},
        cookies={"arena_visitor": await _visitor()},
    )
    assert status == 201, answer
    assert answer["id"] in early._waiting  # sent at the POST, on this loop
    early.drop(answer["id"], "test over")


async def test_without_the_servers_loop_the_socket_begins_them(arena_llms):
    client = AsyncClient()
    client.cookies["arena_visitor"] = await _visitor()
    resp = await client.post("/api/battles", {"prompt": "Bonjour", "mode": "random"}, content_type="application/json")
    assert resp.status_code == 201
    assert resp.json()["id"] not in early._waiting
    assert await database_sync_to_async(Battle.objects.filter(pk=resp.json()["id"]).exists)()
