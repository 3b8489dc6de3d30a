"""config/settings.py: the embedded default and what the environment switches.

Each case imports the settings in a fresh interpreter, with a controlled environment,
because settings are read once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

READ_SETTINGS = """
import json, django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()
from django.conf import settings
from config.celery import app
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "db_host": settings.DATABASES["default"].get("HOST", ""),
    "db_port": settings.DATABASES["default"].get("PORT", ""),
    "db_user": settings.DATABASES["default"].get("USER", ""),
    "db_pool": settings.DATABASES["default"].get("OPTIONS", {}).get("pool"),
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "channel_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION"),
    "broker": settings.CELERY_BROKER_URL,
    "result_backend": settings.CELERY_RESULT_BACKEND,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "celery_broker": app.conf.broker_url,
    "celery_eager": app.conf.task_always_eager,
    "refresh_s": settings.LEADERBOARD_REFRESH_S,
    "beat_schedule_s": settings.CELERY_BEAT_SCHEDULE["refresh-leaderboard"]["schedule"],
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "language": settings.LANGUAGE_CODE,
    "arena": {k: v for k, v in vars(settings._wrapped).items() if k.startswith("ARENA_")},
}, default=str))
"""


def _settings(**env) -> dict:
    """The settings a process started with `env` (and nothing else of ours) sees."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARENA_", "DJANGO_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS", "LEADERBOARD_REFRESH_S", "SECRET_KEY"}
    }
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS], cwd=REPO, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def embedded() -> dict:
    return _settings()


def test_it_uses_sqlite_by_default(embedded):
    assert embedded["engine"] == "django.db.backends.sqlite3"
    assert embedded["db_name"].endswith(os.path.join("var", "db.sqlite3"))


def test_it_keeps_channels_and_cache_in_memory_by_default(embedded):
    assert embedded["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert embedded["cache"] == "django.core.cache.backends.locmem.LocMemCache"


def test_it_runs_celery_tasks_inline_by_default(embedded):
    assert embedded["eager"] is True
    assert embedded["broker"] == "memory://"
    assert embedded["result_backend"] is None
    assert embedded["celery_eager"] is True and embedded["celery_broker"] == "memory://"


def test_it_has_safe_defaults(embedded):
    assert embedded["debug"] is False
    assert embedded["allowed_hosts"] == ["127.0.0.1", "localhost"]
    assert embedded["language"] == "fr"
    assert embedded["refresh_s"] == 300 and embedded["beat_schedule_s"] == 300.0
    assert embedded["arena"]["ARENA_MAX_TURNS"] == 10
    assert embedded["arena"]["ARENA_CATALOGUE"].endswith(os.path.join("fixtures", "catalogue", "demo.yaml"))


def test_it_switches_to_postgres_with_database_url():
    s = _settings(DATABASE_URL="postgres://u@h:5432/db")
    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["db_user"], s["db_host"], str(s["db_port"]), s["db_name"]) == ("u", "h", "5432", "db")
    assert s["channel_layer"] == "channels.layers.InMemoryChannelLayer"  # Redis is a separate switch


def test_it_pools_postgresql_connections_per_process(embedded):
    """A pool per process on PostgreSQL (at most ARENA_DB_POOL_MAX, none kept open when idle
    long); 0 opens a connection per request; SQLite has no pool."""
    pooled = _settings(DATABASE_URL="postgres://u@h:5432/db")["db_pool"]
    assert pooled == {"min_size": 0, "max_size": 8, "timeout": 10, "max_idle": 300}
    assert _settings(DATABASE_URL="postgres://u@h:5432/db", ARENA_DB_POOL_MAX="20")["db_pool"]["max_size"] == 20
    assert _settings(DATABASE_URL="postgres://u@h:5432/db", ARENA_DB_POOL_MAX="0")["db_pool"] is None
    assert embedded["db_pool"] is None


def test_it_switches_to_redis_with_redis_url():
    url = "redis://127.0.0.1:6379/0"
    s = _settings(REDIS_URL=url)
    assert s["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert s["channel_hosts"] == [{"address": url, "socket_timeout": 15, "socket_connect_timeout": 1}]
    assert s["cache"] == "config.cache.ResilientRedisCache"  # misses while Redis restarts (test_cache_down.py)
    assert s["cache_location"] == url
    assert s["broker"] == url and s["result_backend"] == url
    assert s["eager"] is False
    assert s["celery_broker"] == url and s["celery_eager"] is False
    assert s["engine"] == "django.db.backends.sqlite3"


def test_it_reads_arena_settings_from_the_environment():
    s = _settings(
        ARENA_MAX_TURNS="3",
        ARENA_MAX_TOKENS="64",
        ARENA_ZONE="DEU",
        ARENA_SMALL_MAX_PARAMS_B="15",
        ARENA_WORKER_TIMEOUT_S="2.5",
        LEADERBOARD_REFRESH_S="60",
        DEBUG="true",
        ALLOWED_HOSTS="arena.example,www.arena.example",
    )
    assert s["arena"]["ARENA_MAX_TURNS"] == 3
    assert s["arena"]["ARENA_MAX_TOKENS"] == 64
    assert s["arena"]["ARENA_ZONE"] == "DEU"
    assert s["arena"]["ARENA_SMALL_MAX_PARAMS_B"] == 15.0
    assert s["arena"]["ARENA_WORKER_TIMEOUT_S"] == 2.5
    assert s["refresh_s"] == 60 and s["beat_schedule_s"] == 60.0
    assert s["debug"] is True
    assert s["allowed_hosts"] == ["arena.example", "www.arena.example"]


def test_it_refuses_a_yes_no_setting_it_cannot_read():
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARENA_", "DJANGO_")) and k != "DEBUG"}
    result = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=REPO,
        env={**clean, "DEBUG": "ture"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DEBUG='ture' is neither true nor false" in result.stderr


@pytest.mark.parametrize("word,value", [("yes", True), ("On", True), ("0", False), ("off", False)])
def test_it_reads_yes_no_words(word, value):
    assert _settings(DEBUG=word)["debug"] is value


def test_it_refuses_to_serve_other_hosts_with_the_repositorys_key():
    """The repository's SECRET_KEY is public: it signs sessions and salts the IP hashes. It may
    serve this machine (make run, the tests); served to another host, the arena does not start."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARENA_", "DJANGO_")) and k != "SECRET_KEY"}
    clean.update(DEBUG="False", ALLOWED_HOSTS="arena.example")
    result = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS], cwd=REPO, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "Set SECRET_KEY" in result.stderr
    assert _settings(ALLOWED_HOSTS="arena.example", SECRET_KEY="k" * 50)["allowed_hosts"] == ["arena.example"]
    assert _settings(ALLOWED_HOSTS="localhost,127.0.0.1")["allowed_hosts"] == ["localhost", "127.0.0.1"]
