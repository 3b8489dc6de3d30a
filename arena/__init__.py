"""The arena: Django project and app (battles, votes, reveal, leaderboards)."""

# Load the Celery app with Django so that shared tasks called from web code (`.delay()`)
# use its settings (eager in the embedded setup, Redis otherwise), not Celery's default app.
from .celery import app as celery_app

__all__ = ("celery_app",)
