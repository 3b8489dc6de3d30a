"""config/sqlite.py: a server's SQLite database keeps its write-ahead log between requests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db.backends.signals import connection_created
from django.db.backends.sqlite3.base import DatabaseWrapper

from config import sqlite

REPO = Path(__file__).resolve().parents[1]


def wrapper(path: Path, test_name: str | None = None) -> DatabaseWrapper:
    """A Django connection to a SQLite file, with the options config/settings.py gives it."""
    return DatabaseWrapper(
        {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": test_name},
            "ATOMIC_REQUESTS": False,
            "AUTOCOMMIT": True,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "TIME_ZONE": None,
            "USER": "",
            "PASSWORD": "",
            "HOST": "",
            "PORT": "",
        },
        alias="wal",
    )


def write_and_close(db: DatabaseWrapper, value: int) -> None:
    """What a request that writes does: open, write in a transaction, close."""
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS t (x integer)")
        cursor.execute("INSERT INTO t VALUES (%s)", [value])
    db.close()


@pytest.fixture
def unblocked(django_db_blocker):
    """Database files of the test's own, with nothing held unless the test holds it (a test
    module that imports config.asgi has turned the hold on in this process)."""
    was_on = connection_created.disconnect(dispatch_uid=sqlite.DISPATCH_UID)
    with django_db_blocker.unblock():
        yield
    sqlite.release()
    if was_on:
        sqlite.keep_write_ahead_log()


def test_without_a_held_connection_each_close_deletes_the_log(tmp_path, unblocked):
    db = wrapper(tmp_path / "arena.sqlite3")
    write_and_close(db, 1)
    assert not (tmp_path / "arena.sqlite3-wal").exists()  # checkpointed, synced and deleted: paid again next time


def test_a_held_log_outlives_each_connection_and_loses_nothing(tmp_path, unblocked):
    path = tmp_path / "arena.sqlite3"
    db = wrapper(path)
    db.ensure_connection()  # Django's first connection sets WAL mode
    assert sqlite.hold(db)
    db.close()
    for value in range(3):
        write_and_close(db, value)
        assert (tmp_path / "arena.sqlite3-wal").exists()
    other = wrapper(path)  # a later request sees every row
    with other.cursor() as cursor:
        cursor.execute("SELECT x FROM t ORDER BY x")
        assert [row[0] for row in cursor.fetchall()] == [0, 1, 2]
    other.close()
    sqlite.release()  # the last connection closes: the log goes into the file, as it always did
    assert not (tmp_path / "arena.sqlite3-wal").exists()
    again = wrapper(path)
    with again.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")
        assert cursor.fetchone()[0] == 3
    again.close()


def test_the_test_database_and_memory_are_never_held(tmp_path, unblocked):
    path = tmp_path / "test-db.sqlite3"
    assert not sqlite.hold(wrapper(path, test_name=str(path)))  # the runner deletes and recreates it
    assert not sqlite.hold(wrapper(":memory:"))
    assert sqlite._held == {}


SERVED = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from config.asgi import application  # what daphne loads
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS t (x integer)")
    cursor.execute("INSERT INTO t VALUES (1)")
connection.close()
print(os.path.exists(os.environ["DB"] + "-wal"))
"""


def test_the_served_application_holds_its_log(tmp_path):
    """The real entry point, in a process of its own, on a database file of its own."""
    db = tmp_path / "served.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "DB": str(db)})
    out = subprocess.run([sys.executable, "-c", SERVED], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
