"""A Redis that hangs: it accepts connections and never answers (a stuck server, a network
that drops replies). The sync views of a web process share one thread, so a request held there
holds every request behind it: each call to Redis is bounded well under a second, the vote is
still stored, and the pages answer."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings

from arena.models import Vote
from tests.arena.conftest import post_json

pytestmark = pytest.mark.django_db(transaction=True)  # the vote's on_commit notice runs


@pytest.fixture
def hanging_redis():
    """A TCP server that accepts and never replies: its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def on_hanging_redis(hanging_redis, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": hanging_redis,
            "OPTIONS": django_settings.REDIS_CACHE_OPTIONS,  # as deployed
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": hanging_redis, "socket_timeout": 15, "socket_connect_timeout": 1}]},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_a_room_vote_and_the_home_page_are_not_held_by_it(on_hanging_redis, make_battle, owner, owner_client):
    from workshops.models import Workshop

    room, _token = Workshop.open_new(title="Atelier")
    battle = make_battle()
    battle.workshop_code = room.code
    battle.save(update_fields=["workshop_code"])

    started = time.monotonic()
    response = post_json(owner_client, f"/api/battles/{battle.id}/vote", {"choice": "a"})
    voting_s = time.monotonic() - started
    assert response.status_code == 200 and Vote.objects.filter(battle=battle).exists()
    assert voting_s < 4, f"the vote took {voting_s:.1f} s (15 s before)"

    started = time.monotonic()
    assert owner_client.get("/").status_code == 200
    assert time.monotonic() - started < 3  # three cache calls: 6 s before
