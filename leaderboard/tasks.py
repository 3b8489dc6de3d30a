"""Celery tasks: the work that is not interactive."""

from celery import shared_task

from .snapshots import refresh_snapshot


@shared_task
def refresh_leaderboard() -> int:
    return refresh_snapshot().pk
