"""A server's SQLite database keeps its write-ahead log for as long as the server runs.

Django opens a database connection per request and closes it at the end (CONN_MAX_AGE = 0:
under ASGI each request runs in a thread of its own, and Django advises against persistent
connections there), and a socket's thread hops close theirs likewise. In WAL mode the last
connection to close checkpoints the log into the database file, syncs that file to disk and
deletes the log; the next one creates it again. One request after another, each paid that:
opening a connection, writing a row and closing it took 3.4 ms instead of 0.5, and a
read 0.7 ms instead of 0.4 (`bench/sqlite_log.py`); a new battle's first token waited on
three such closes (the POST's, and the two hops of its socket).

So a server holds one idle connection of its own per database file, opened just after the
first of Django's (which has set WAL mode): the log outlives each request's connection,
closing one costs nothing, and checkpoints happen as SQLite schedules them on its own (every
1,000 pages, by the connection that commits). The held connection runs no statement after
opening and holds no transaction, so it never stands in a checkpoint's way.

Never the test database: the test runner deletes that file and creates it again, and a log
kept beside a deleted file would be replayed into the new one.
"""

from __future__ import annotations

import sqlite3
import threading

from django.db.backends.signals import connection_created

_lock = threading.Lock()
_held: dict[str, sqlite3.Connection] = {}


def hold(connection) -> bool:
    """Hold the log of this connection's database file (once per file); whether it is held."""
    if connection.vendor != "sqlite":
        return False
    name = str(connection.settings_dict["NAME"])
    test_name = (connection.settings_dict.get("TEST") or {}).get("NAME")
    if not name or name == ":memory:" or name.startswith("file:") or name == str(test_name):
        return False
    with _lock:
        if name not in _held:
            held = sqlite3.connect(name, check_same_thread=False, isolation_level=None)
            held.execute("PRAGMA journal_mode").fetchall()  # reads the file: it now shares the log
            _held[name] = held
    return True


def _on_connection(sender, connection, **kwargs) -> None:
    hold(connection)


DISPATCH_UID = "config.sqlite.keep_write_ahead_log"


def keep_write_ahead_log() -> None:
    """From now on, the first connection to a SQLite database file has its log held."""
    connection_created.connect(_on_connection, dispatch_uid=DISPATCH_UID)


def release() -> None:
    """Close the held connections (tests)."""
    with _lock:
        for held in _held.values():
            held.close()
        _held.clear()
