from django.core.management.base import BaseCommand

from arena.leaderboard import refresh_snapshot


class Command(BaseCommand):
    help = "Recompute the leaderboard snapshot now (Celery beat does it every LEADERBOARD_REFRESH_S)."

    def add_arguments(self, parser):
        parser.add_argument("--bootstrap", type=int, default=1000)
        parser.add_argument("--style-control", action="store_true")
        parser.add_argument("--both-bad", choices=["tie", "exclude"], default="tie")

    def handle(self, *args, bootstrap, style_control, both_bad, **options):
        snap = refresh_snapshot(bootstrap=bootstrap, style_control=style_control, both_bad=both_bad)
        self.stdout.write(f"snapshot {snap.pk}: {snap.data['battles']} battles, {len(snap.data['rows'])} models")
