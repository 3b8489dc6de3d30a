"""PostgreSQL connections are pooled per process (config/settings.py): what Django closes at
the end of a request or of a socket's database hop goes back to the pool, and the next one
reuses it instead of opening a connection (2.2 ms each here, before the first query).
Runs in CI's PostgreSQL + Redis pass."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only (CI's second pass)")


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_closed_connection_goes_back_to_the_pool_and_is_reused(transactional_db):
    _backend_pid()
    connection.close()  # what Django does after each request and each database_sync_to_async hop
    idle = connection.pool.get_stats()["pool_available"]
    opened = connection.pool.get_stats()["connections_num"]  # by this pool since it started
    assert idle >= 1
    pids = []
    for _ in range(5):
        pids.append(_backend_pid())
        connection.close()
    assert connection.pool.get_stats()["connections_num"] == opened, pids  # none opened: reused
    assert len(set(pids)) <= idle  # the pool's idle ones (earlier tests' threads may have left several)


def test_without_the_pool_each_connection_is_a_new_backend(transactional_db, settings):
    """The same steps with ARENA_DB_POOL_MAX=0's settings: a new server process each time."""
    connection.close_pool()
    pool, connection.settings_dict["OPTIONS"]["pool"] = connection.settings_dict["OPTIONS"]["pool"], False
    try:
        pids = []
        for _ in range(3):
            pids.append(_backend_pid())
            connection.close()
        assert len(set(pids)) == 3, pids
    finally:
        connection.settings_dict["OPTIONS"]["pool"] = pool
