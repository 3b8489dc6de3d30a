"""The battle WebSocket opens only from the arena's own origin: scheme, host and port."""

from __future__ import annotations

import pytest

from arena.origins import origin_allowed


def scope(origin, host="127.0.0.1:8000", scheme="ws"):
    headers = [(b"host", host.encode())] if host else []
    if origin:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


def test_it_accepts_the_arena_own_origin():
    assert origin_allowed(scope("http://127.0.0.1:8000"))
    assert origin_allowed(scope("https://127.0.0.1:8000", scheme="wss"))


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port: another site
        "https://127.0.0.1:8000",  # another scheme
        "http://evil.example",
        "null",
        None,
    ],
)
def test_it_refuses_any_other_origin(origin):
    assert not origin_allowed(scope(origin))


def test_it_refuses_a_host_outside_allowed_hosts():
    assert not origin_allowed(scope("http://evil.example:8000", host="evil.example:8000"))


def test_it_accepts_a_trusted_origin_behind_a_proxy(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://arena.example"]
    settings.ALLOWED_HOSTS = ["arena.example"]
    assert origin_allowed(scope("https://arena.example", host="arena.example"))
    assert not origin_allowed(scope("https://other.example", host="arena.example"))


@pytest.mark.django_db(transaction=True)
async def test_it_closes_a_handshake_from_another_port(make_battle, owner):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    battle = await database_sync_to_async(make_battle)()
    comm = WebsocketCommunicator(
        application,
        f"/ws/battles/{battle.id}/",
        headers=[
            (b"cookie", f"arena_visitor={owner.pk}".encode()),
            (b"origin", b"http://127.0.0.1:9999"),
            (b"host", b"127.0.0.1:8000"),
        ],
    )
    connected, _code = await comm.connect()
    assert not connected
