"""What a release reads from the database, streamed: memory stays flat whatever the number of battles.

Four queries run side by side through server-side cursors (`QuerySet.iterator`): the battles in
scope, their answers, their tries and their reactions, all in one order, the battle's (vote time,
id). `battles_with_rows` walks them together like a merge join and yields one battle at a time with
its rows. On PostgreSQL the four read one snapshot (`snapshot`); on SQLite each reads its own, so
the scope also ends at a fixed cutoff, and rows of a battle the battle query did not see are skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, FloatField, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from arena.models import Attempt, Battle, Message, Reaction

from .rows import Answer, ReactionRow, Try
from .rows import Battle as BattleRow

CHUNK_ROWS = 2000


@contextmanager
def snapshot():
    """One consistent, read-only view of the database for a whole release (PostgreSQL).

    The four cursors then agree on which battles exist. Inside a transaction that already ran
    queries (a test's) the isolation level can no longer change: that transaction's view is used.
    SQLite is left alone: a transaction there would take the write lock and block every vote for
    the length of the export."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


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


def _battles(start, end) -> Iterator[BattleRow]:
    rows = (
        consented_battles(start, end)
        .annotate(
            in_workshop=ExpressionWrapper(
                Q(workshop_code__isnull=False) & ~Q(workshop_code=""), output_field=BooleanField()
            )
        )
        .order_by("voted_at", "id")
        .values_list(
            "id",
            "visitor_id",
            "created_at",
            "voted_at",
            "mode",
            "language",
            "model_a_id",
            "model_b_id",
            "in_workshop",
            "leak_flagged",
            "vote__choice",
            "vote__tags",
            "vote__comments",
            "vote__worth_extra_energy",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK_ROWS):
        yield BattleRow(*row)


def _float(path: str):
    return Cast(KT(path), FloatField())


def _answers(start, end):
    b = "turn__battle__"
    return (
        Message.objects.filter(_scope(b, start, end, consented=True))
        .annotate(estimate_wh=_float("estimate__energy_wh"))
        .order_by(f"{b}voted_at", f"{b}id", "turn__index", "side")
        .values_list(
            f"{b}voted_at",
            f"{b}id",
            "turn__index",
            "side",
            "turn__prompt",
            "content",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "estimate_wh",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )


def _tries(start, end):
    b = "message__turn__battle__"
    # The record's extra figures are read in SQL: parsing four million JSON records in Python
    # would take longer than the rest of the export.
    return (
        Attempt.objects.filter(_scope(b, start, end, consented=True))
        .annotate(
            duration_s=_float("record__duration_s"),
            avg_concurrency=_float("record__avg_concurrency"),
            sampling_period_s=_float("record__sampling_period_s"),
            devices=KT("record__devices"),
        )
        .order_by(f"{b}voted_at", f"{b}id", "message__turn__index", "message__side", "started_at", "id")
        .values_list(
            f"{b}voted_at",
            f"{b}id",
            "message__turn__index",
            "message__side",
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
            "devices",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )


def _reactions(start, end):
    b = "message__turn__battle__"
    return (
        Reaction.objects.filter(_scope(b, start, end, consented=True))
        .order_by(f"{b}voted_at", f"{b}id", "message__turn__index", "message__side")
        .values_list(
            f"{b}voted_at",
            f"{b}id",
            "message__turn__index",
            "message__side",
            "liked",
            "tags",
            "comment",
            "updated_at",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )


class _Follower:
    """A query in the battles' order, handing over one battle's rows at a time."""

    def __init__(self, rows: Iterator[tuple], make):
        self._rows = rows
        self._make = make
        self._head = next(self._rows, None)

    def take(self, key: tuple) -> list:
        taken = []
        head = self._head
        while head is not None and (head[0], head[1]) < key:  # a battle the battle query did not see
            head = next(self._rows, None)
        while head is not None and head[0] == key[0] and head[1] == key[1]:
            taken.append(self._make(*head[2:]))
            head = next(self._rows, None)
        self._head = head
        return taken


def battles_with_rows(start, end) -> Iterator[tuple[BattleRow, list[Answer], list[Try], list[ReactionRow]]]:
    """Every consented, voted battle in [start, end) with its answers, tries and reactions."""
    answers = _Follower(_answers(start, end), Answer)
    tries = _Follower(_tries(start, end), Try)
    reactions = _Follower(_reactions(start, end), ReactionRow)
    for battle in _battles(start, end):
        key = (battle.voted_at, battle.id)
        yield battle, answers.take(key), tries.take(key), reactions.take(key)
