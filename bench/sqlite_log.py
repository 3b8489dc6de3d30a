"""Benchmark: what a request's SQLite connection costs, with the write-ahead log held by the
process (config/sqlite.py, as a server does) and without (each close deletes the log).

Run by hand, not in the test suite:

    .venv/bin/python bench/sqlite_log.py [--cycles 300]

A throwaway database file in a temp directory, opened through Django's SQLite backend with
the options config/settings.py gives it (WAL, synchronous=NORMAL, IMMEDIATE transactions).
One cycle is what one request or one socket hop does with CONN_MAX_AGE = 0: open a
connection, run its statements, close it. Three kinds of cycle:
  open   : open and close, nothing else;
  read   : one SELECT;
  write  : one INSERT in a transaction (a battle's POST, a try begun, a vote).
Each kind is timed without a held log and with one, in alternating blocks of 20 cycles so
that drift hits both alike. Printed: median and p90 per kind and path, and the ratio of
the medians (held / not held).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

BLOCK = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300, help="cycles per kind and path")
    args = parser.parse_args()

    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db.backends.sqlite3.base import DatabaseWrapper

    from config import sqlite

    tmp = tempfile.TemporaryDirectory(prefix="sqlite-log-")
    path = Path(tmp.name) / "arena.sqlite3"
    settings_dict = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": None},
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
    }
    db = DatabaseWrapper(settings_dict, alias="bench")
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id integer PRIMARY KEY, x text)")
    db.close()

    def cycle(kind: str) -> float:
        t0 = time.perf_counter()
        db.ensure_connection()
        if kind == "read":
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM t")
                cursor.fetchone()
        elif kind == "write":
            with db.cursor() as cursor:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("INSERT INTO t (x) VALUES (%s)", ["a battle"])
                cursor.execute("COMMIT")
        db.close()
        return time.perf_counter() - t0

    kinds = ("open", "read", "write")
    times = {(kind, held): [] for kind in kinds for held in (False, True)}
    holder = DatabaseWrapper(settings_dict, alias="holder")  # what the held path holds
    for block in range(0, args.cycles, BLOCK):
        for held in (False, True) if (block // BLOCK) % 2 == 0 else (True, False):
            if held:
                holder.ensure_connection()
                sqlite.hold(holder)
                holder.close()
            for kind in kinds:
                times[(kind, held)] += [cycle(kind) for _ in range(min(BLOCK, args.cycles - block))]
            if held:
                sqlite.release()

    print(f"SQLite connection cycles, {args.cycles} per kind and path, Django's backend, WAL, synchronous=NORMAL")
    print(f"{'cycle':<7} {'not held med':>13} {'p90':>7} {'held med':>10} {'p90':>7} {'held / not':>11}")
    for kind in kinds:
        plain, held = times[(kind, False)], times[(kind, True)]
        p90 = lambda xs: sorted(xs)[int(len(xs) * 0.9)] * 1000  # noqa: E731
        m_plain, m_held = statistics.median(plain) * 1000, statistics.median(held) * 1000
        print(
            f"{kind:<7} {m_plain:10.3f} ms {p90(plain):7.3f} {m_held:7.3f} ms {p90(held):7.3f} {m_held / m_plain:11.2f}"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
