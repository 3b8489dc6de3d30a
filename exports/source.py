"""What a release reads from the database, streamed: memory stays flat whatever the number of battles.

Four queries run side by side: the battles in scope, their answers, their tries and their
reactions, all in one order, the battle's (vote time, id). `chunks` walks them together like a
merge join and hands over a chunk of battles at a time with their rows, as Polars frames. On
PostgreSQL each query streams through its own connection in Arrow's format (ADBC), all four in
the release's snapshot; elsewhere (SQLite, or a caller's open transaction) the ORM's server-side
cursors feed the same frames.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice

import polars as pl
import psycopg
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, FloatField, Q, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from arena.models import Attempt, Battle, Message, Reaction

from .frames import Chunk

log = logging.getLogger("arena.exports")

CHUNK_ROWS = 2000


def day_bounds(since: dt.date | None, until: dt.date | None, cutoff: dt.datetime) -> tuple:
    """[start, end) of the release in aware datetimes: whole days in the site's time zone."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(since, dt.time.min, tzinfo=tz) if since else None
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=tz) if until else None
    end = min(end, cutoff) if end else cutoff
    return start, end


def _scope(prefix: str, start, end, consented: bool) -> Q:
    """Voted battles whose vote falls in [start, end), as a filter seen from a related model."""
    q = Q(**{f"{prefix}voted_at__isnull": False, f"{prefix}voted_at__lt": end})
    if start:
        q &= Q(**{f"{prefix}voted_at__gte": start})
    if consented:
        # The battle's consent (given when it was played) and the visitor's today: a withdrawal counts.
        q &= Q(**{f"{prefix}publish_consent": True, f"{prefix}visitor__publish_consent": True})
    return q


def voted_battles(start, end):
    return Battle.objects.filter(_scope("", start, end, consented=False))


def consented_battles(start, end):
    return Battle.objects.filter(_scope("", start, end, consented=True))


def unvoted_battles(start, end):
    """Battles never voted: not published (their models must stay hidden from the person until the vote)."""
    qs = Battle.objects.filter(voted_at__isnull=True, created_at__lt=end)
    return qs.filter(created_at__gte=start) if start else qs


# -- the four queries ------------------------------------------------------------------------
# Each starts with its battle's key (vote time, id as text), in the same order, then the columns
# `exports.frames` reads, under the names it reads them by.
def _text(field: str) -> Cast:
    return Cast(field, TextField())


def _float(path: str) -> Cast:
    return Cast(KT(path), FloatField())


def _battles(start, end):
    return (
        consented_battles(start, end)
        .annotate(
            _bid=_text("id"),
            _visitor=_text("visitor_id"),
            in_workshop=ExpressionWrapper(
                Q(workshop_code__isnull=False) & ~Q(workshop_code=""), output_field=BooleanField()
            ),
            # The room's code, null outside one: it scopes the visitor's pseudonym to the room
            # (exports.frames), and is never written to a table.
            _room=NullIf("workshop_code", Value("")),
            _tags=_text("vote__tags"),
            _comments=_text("vote__comments"),
        )
        .order_by("voted_at", "id")
        .values_list(
            "voted_at",
            "_bid",
            "_visitor",
            "created_at",
            "mode",
            "language",
            "model_a_id",
            "model_b_id",
            "in_workshop",
            "_room",
            "leak_flagged",
            "vote__choice",
            "_tags",
            "_comments",
            "vote__worth_extra_energy",
        )
    )


def _answers(start, end):
    b = "turn__battle__"
    return (
        Message.objects.filter(_scope(b, start, end, consented=True))
        .annotate(_bid=_text(f"{b}id"), estimate_wh=_float("estimate__energy_wh"))
        .order_by(f"{b}voted_at", f"{b}id", "turn__index", "side")
        .values_list(
            f"{b}voted_at",
            "_bid",
            "turn__index",
            "side",
            "turn__prompt",
            "content",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "estimate_wh",
        )
    )


def _tries(start, end):
    b = "battle__"
    # Each try carries its battle, turn and side, and its record's figures as columns
    # (arena.Attempt): joined to its battle only, this query took 12 s instead of 23 s on the
    # 1M-battle bench (bench/export.py).
    return (
        Attempt.objects.filter(_scope(b, start, end, consented=True))
        .annotate(_bid=_text(f"{b}id"), _devices=_text("devices"))
        .order_by(f"{b}voted_at", f"{b}id", "turn_index", "side", "started_at", "id")
        .values_list(
            f"{b}voted_at",
            "_bid",
            "turn_index",
            "side",
            "outcome",
            "prompt_tokens",
            "completion_tokens",
            "energy_j",
            "gpu_j",
            "cpu_j",
            "measured",
            "method",
            "duration_s",
            "avg_concurrency",
            "sampling_period_s",
            "_devices",
        )
    )


def _reactions(start, end):
    b = "battle__"
    # Each reaction carries its battle, turn and side (arena.Reaction): joined through its
    # message and turn, this query read every answer again (1M-battle bench: 4.4 s -> 0.6 s).
    return (
        Reaction.objects.filter(_scope(b, start, end, consented=True))
        .annotate(_bid=_text(f"{b}id"), _tags=_text("tags"))
        .order_by(f"{b}voted_at", f"{b}id", "turn_index", "side")
        .values_list(
            f"{b}voted_at",
            "_bid",
            "turn_index",
            "side",
            "liked",
            "_tags",
            "comment",
            "updated_at",
        )
    )


_TIME = pl.Datetime("us", "UTC")
_KEY = {"_voted_at": _TIME, "bid": pl.String}
SCHEMAS = {
    "battles": {
        **_KEY,
        "visitor": pl.String,
        "created_at": _TIME,
        "mode": pl.String,
        "language": pl.String,
        "model_a_id": pl.Int64,
        "model_b_id": pl.Int64,
        "in_workshop": pl.Boolean,
        "room": pl.String,
        "leak_flagged": pl.Boolean,
        "choice": pl.String,
        "tags": pl.String,
        "comments": pl.String,
        "worth_extra_energy": pl.Boolean,
    },
    "answers": {
        **_KEY,
        "turn": pl.Int64,
        "side": pl.String,
        "prompt": pl.String,
        "content": pl.String,
        "status": pl.String,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        "estimate_wh": pl.Float64,
    },
    "tries": {
        **_KEY,
        "turn": pl.Int64,
        "side": pl.String,
        "outcome": pl.String,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        "energy_j": pl.Float64,
        "gpu_j": pl.Float64,
        "cpu_j": pl.Float64,
        "measured": pl.Boolean,
        "method": pl.String,
        "duration_s": pl.Float64,
        "avg_concurrency": pl.Float64,
        "sampling_period_s": pl.Float64,
        "devices": pl.String,
    },
    "reactions": {
        **_KEY,
        "turn": pl.Int64,
        "side": pl.String,
        "liked": pl.Boolean,
        "tags": pl.String,
        "comment": pl.String,
        "updated_at": _TIME,
    },
}
QUERIES = {"battles": _battles, "answers": _answers, "tries": _tries, "reactions": _reactions}


# -- reading them ----------------------------------------------------------------------------
def _orm_batches(queryset, schema: dict) -> Iterator[pl.DataFrame]:
    """Any database: the ORM's server-side cursor, a frame per CHUNK_ROWS rows."""
    rows = queryset.iterator(chunk_size=CHUNK_ROWS)
    while batch := list(islice(rows, CHUNK_ROWS)):
        yield pl.DataFrame(batch, schema=schema, orient="row")


# What the release's own connections change for their transaction (SET LOCAL), measured on the
# 1M-battle bench (bench/export.py): the four queries alone went from 74 s to 61 s.
SESSION = (
    # Compiling the queries' expressions took about a second each, and they run once.
    "SET LOCAL jit = off",
    # The four queries already run side by side: parallel workers only add processes to share
    # the same cores.
    "SET LOCAL max_parallel_workers_per_gather = 0",
    # The default 4 MB cut each hash join into dozens of batches written to disk.
    "SET LOCAL work_mem = '64MB'",
)


class _ArrowReader:
    """PostgreSQL: each query streamed by COPY in PostgreSQL's binary format straight into Arrow
    batches (the ADBC driver), on connections of their own that share the release's snapshot."""

    def __init__(self, snapshot_id: str):
        import adbc_driver_postgresql.dbapi as adbc
        from psycopg.conninfo import make_conninfo

        self._adbc = adbc
        # Django's own connection parameters, less its Python-side ones (cursor class, adapters).
        params = connection.get_connection_params()
        libpq = {k: v for k, v in params.items() if isinstance(v, str | int) and v != "" and k != "prepare_threshold"}
        self._conninfo = make_conninfo(**libpq)
        self._snapshot_id = snapshot_id
        self._connections = []
        # The four queries start together: each sorts its rows before sending the first.
        self._starts = ThreadPoolExecutor(max_workers=len(QUERIES), thread_name_prefix="export-query")

    def batches(self, queryset, schema: dict) -> Iterator[pl.DataFrame]:
        """The query's frames; it starts now, in a thread (its SQL is bound here, in Django's)."""
        sql, params = queryset.query.sql_with_params()
        connection.ensure_connection()
        sql = psycopg.ClientCursor(connection.connection).mogrify(sql, params)  # bound as Django would
        started = self._starts.submit(self._start, sql)
        return self._frames(started, list(schema), schema)

    def _start(self, sql: str):
        conn = self._adbc.connect(self._conninfo, autocommit=True)
        cursor = conn.cursor()
        self._connections.append((conn, cursor))
        for statement in (
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            f"SET TRANSACTION SNAPSHOT '{self._snapshot_id}'",
            *SESSION,
        ):
            cursor.adbc_statement.set_sql_query(statement)
            cursor.adbc_statement.execute_update()
        cursor.execute(sql)
        return cursor

    @staticmethod
    def _frames(started, names: list[str], schema: dict) -> Iterator[pl.DataFrame]:
        for batch in started.result().fetch_record_batch():
            frame = pl.from_arrow(batch)
            yield frame.rename(dict(zip(frame.columns, names, strict=True))).cast(schema)

    def close(self) -> None:
        self._starts.shutdown(wait=True)
        for conn, cursor in self._connections:  # a connection with an open cursor refuses to close
            for handle in (cursor, conn):
                try:
                    handle.close()
                except Exception:
                    log.warning("closing an export connection failed", exc_info=True)


class _Stream:
    """One query's frames, handed over a battle range at a time (they come in the battles' order)."""

    def __init__(self, batches: Iterator[pl.DataFrame], schema: dict):
        self._batches = batches
        self._buffer = pl.DataFrame(schema=schema)
        self._done = False

    def _fill(self, enough) -> None:
        while not self._done and not enough(self._buffer):
            batch = next(self._batches, None)
            if batch is None:
                self._done = True
            else:
                self._buffer = pl.concat([self._buffer, batch], rechunk=False)

    def take_rows(self, n: int) -> pl.DataFrame:
        self._fill(lambda buffer: buffer.height >= n)
        taken, self._buffer = self._buffer.head(n), self._buffer.slice(n)
        return taken

    def take_through(self, voted_at, bid: str) -> pl.DataFrame:
        """The rows up to the battle (voted_at, bid) included."""
        after = (pl.col("_voted_at") > voted_at) | ((pl.col("_voted_at") == voted_at) & (pl.col("bid") > bid))

        def enough(buffer):
            return buffer.height and buffer.tail(1).select(after).item()

        self._fill(enough)
        n = self._buffer.height - int(self._buffer.select(after.sum()).item() or 0)
        taken, self._buffer = self._buffer.head(n), self._buffer.slice(n)
        return taken


@contextmanager
def snapshot():
    """One consistent, read-only view of the database for a whole release, and what reads it.

    On PostgreSQL, the release's own REPEATABLE READ transaction, exported to the connections that
    stream the four queries (so they agree on which battles exist). Inside a transaction that
    already ran queries (a test's) the isolation level can no longer change, and other connections
    would not see its rows: the ORM reads that transaction's view. SQLite is left alone: a
    transaction there would take the write lock and block every vote for the length of the export;
    its four queries each read their own view, so the scope ends at a fixed cutoff, and rows of a
    battle the battle query did not see are dropped."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield None
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = cursor.fetchone()[0]
        reader = _ArrowReader(snapshot_id) if _adbc_installed() else None
        try:
            yield reader
        finally:
            if reader is not None:
                reader.close()


def _adbc_installed() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def chunks(start, end, battles_per_chunk: int, reader: _ArrowReader | None = None) -> Iterator[Chunk]:
    """Every consented, voted battle in [start, end) with its answers, tries and reactions, a
    chunk of `battles_per_chunk` battles at a time, in the order of their votes. The queries are
    built (and, with a reader, started) now; the chunks may then be taken in another thread."""
    streams = {
        name: _Stream(
            reader.batches(QUERIES[name](start, end), SCHEMAS[name])
            if reader
            else _orm_batches(QUERIES[name](start, end), SCHEMAS[name]),
            SCHEMAS[name],
        )
        for name in QUERIES
    }
    return _walk(streams, battles_per_chunk)


def _walk(streams: dict[str, _Stream], battles_per_chunk: int) -> Iterator[Chunk]:
    while True:
        battles = streams["battles"].take_rows(battles_per_chunk)
        if not battles.height:
            return
        voted_at, bid = battles.row(-1)[:2]
        rows = {
            name: streams[name].take_through(voted_at, bid).drop("_voted_at") for name in QUERIES if name != "battles"
        }
        yield Chunk(battles.rename({"_voted_at": "voted_at"}), rows["answers"], rows["tries"], rows["reactions"])
