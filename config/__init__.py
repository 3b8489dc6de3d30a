"""The Django project: settings, URLs, ASGI entry point and the Celery app.

The Celery app is loaded with Django so that shared tasks called from web code
(`.delay()`) use its settings (eager in the embedded setup, Redis otherwise), not
Celery's default app. Nothing outside this package imports Celery at import time.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
