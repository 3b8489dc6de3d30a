"""`make run`: build the demo's tiny models if absent, start one inference worker per
demo model as a child process, keep the leaderboard fresh (there is no Celery beat on
the embedded default), then serve the arena on 127.0.0.1:8000.

Ctrl-C (or SIGTERM) stops the web server, the refresher and every worker with its engine.
"""

import os
import signal
import subprocess
import sys
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand

from arena.catalogue import read_catalogue
from config.serve import daphne_command
from devtools.launcher import MODELS_DIR, ensure_tiny_model, start_worker

# How often the embedded leaderboard looks for new votes (it recomputes only after one).
LEADERBOARD_CHECK_S = 10


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        entries = [e for e in read_catalogue(settings.ARENA_CATALOGUE) if e.get("enabled", True)]
        workers = []
        try:
            for entry in entries:
                if entry.get("api"):
                    self.stdout.write(f"{entry['slug']}: a remote API at {entry['api']['base_url']} (estimated)")
                    continue
                if "recipe" not in entry:
                    self.stdout.write(
                        f"{entry['slug']}: not a demo model, expecting its worker at ${entry['worker']['env']}"
                    )
                    continue
                recipe = entry["recipe"]
                model_dir = ensure_tiny_model(
                    MODELS_DIR / entry["slug"],
                    seed=recipe["seed"],
                    layers=recipe["layers"],
                    hidden_size=recipe["hidden_size"],
                )
                url = os.environ.get(entry["worker"]["env"]) or entry["worker"]["default"]
                self.stdout.write(f"starting worker {entry['slug']} on {url}")
                workers.append(
                    start_worker(
                        model_dir, name=entry["slug"], port=urlparse(url).port, log_dir=MODELS_DIR.parent / "logs"
                    )
                )
            for worker in workers:
                worker.wait_ready()
            self.stdout.write(
                self.style.SUCCESS(f"\nThe arena is ready: http://{host}:{port}/  (Ctrl-C stops everything)\n")
            )
            refresher = subprocess.Popen(
                [sys.executable, "manage.py", "refresh_leaderboard", "--every", str(LEADERBOARD_CHECK_S)]
            )
            web = subprocess.Popen([sys.executable, "-m", *daphne_command(host, port)])
            signal.signal(signal.SIGTERM, lambda *_: web.terminate())
            try:
                web.wait()
            except KeyboardInterrupt:
                web.terminate()
                web.wait(timeout=10)
            finally:
                refresher.terminate()
                refresher.wait(timeout=10)
        finally:
            for worker in workers:
                worker.stop()
            self.stdout.write("stopped the arena and its workers")
