"""What the leaderboard stores: computed snapshots (ratings, intervals, energy columns)."""

from django.db import models
from django.utils import timezone


class LeaderboardSnapshot(models.Model):
    """A computed leaderboard, refreshed periodically; pages and the API only read it."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    data = models.JSONField()

    class Meta:
        get_latest_by = "created_at"
        # The table was created by the arena app before the leaderboard became its own
        # app; keeping its name moves the model without copying a row.
        db_table = "arena_leaderboardsnapshot"
