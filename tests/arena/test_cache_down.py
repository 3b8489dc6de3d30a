"""The Redis cache while Redis is unreachable (a real client, a port nothing listens on): reads
miss, writes are dropped, rate limits let requests through, pages and the API answer."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from arena import limits
from inference_workers.engines import free_port
from tests.arena.conftest import post_json


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    yield cache


def test_reads_miss_and_writes_are_dropped(redis_down, caplog):
    assert redis_down.get("k", "default") == "default"
    assert redis_down.get_many(["k", "l"]) == {}
    assert redis_down.add("k", 1) is False
    redis_down.set("k", 1)
    assert redis_down.get_or_set("k", lambda: 42) == 42
    with pytest.raises(ValueError):
        redis_down.incr("k")
    assert not redis_down.has_key("k") and redis_down.delete("k") is False
    assert "cache unavailable" in caplog.text


def test_rate_limits_let_requests_through(redis_down):
    assert all(limits._hit("t:down", 1) for _ in range(5))
    assert limits.open_socket_slots("visitor", "network") is not None


@pytest.mark.django_db
def test_the_home_page_and_a_new_battle_are_served(redis_down, catalogue, owner_client):
    assert owner_client.get("/").status_code == 200
    created = post_json(owner_client, "/api/battles", {"prompt": "Bonjour", "mode": "random"})
    assert created.status_code == 201, created.content
    assert owner_client.get("/classement/").status_code == 200
