"""`manage.py refresh_leaderboard`: recompute the snapshot now, or keep it fresh.

With `--every S` it stays running and recomputes whenever a vote came in since the last
snapshot, checking every S seconds: the embedded default (`make run`) has no Celery beat,
so `run_arena` starts this beside the web server.
"""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from leaderboard.snapshots import refresh_snapshot, snapshot_is_stale


class Command(BaseCommand):
    help = "Recompute the leaderboard snapshot now (Celery beat does it every LEADERBOARD_REFRESH_S)."

    def add_arguments(self, parser):
        parser.add_argument("--bootstrap", type=int, default=1000)
        parser.add_argument("--style-control", action="store_true")
        parser.add_argument("--both-bad", choices=["tie", "exclude"], default="tie")
        parser.add_argument(
            "--display-min-votes",
            type=int,
            metavar="N",
            help="votes a model needs to be ranked (default: LEADERBOARD_DISPLAY_MIN_VOTES); fewer: listed apart",
        )
        parser.add_argument(
            "--every",
            type=float,
            metavar="S",
            help="keep running: recompute when a vote came in, checking every S seconds",
        )

    def handle(self, *args, bootstrap, style_control, both_bad, display_min_votes, every, **options):
        options = {"bootstrap": bootstrap, "style_control": style_control, "both_bad": both_bad}
        if display_min_votes is not None:
            options["display_min_votes"] = display_min_votes
        if every is None:
            self._refresh(options)
            return
        try:
            while True:
                close_old_connections()
                if snapshot_is_stale():
                    self._refresh(options)
                time.sleep(every)
        except KeyboardInterrupt:
            pass

    def _refresh(self, options):
        snap = refresh_snapshot(**options)
        ranked, apart = len(snap.data["rows"]), len(snap.data["provisional"])
        line = f"snapshot {snap.pk}: {snap.data['battles']} battles, {ranked + apart} models"
        if apart:
            line += f" ({apart} under {snap.data['display_min_votes']} votes, listed apart)"
        self.stdout.write(line)
