"""Celery task: a release into EXPORTS_ROOT, published on /donnees/, with progress in its state."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from .release import Options, export_release
from .schema import FORMATS

DEFAULT_SAMPLE = 1000  # battles, as compar:IA's 1,000-row samples


@shared_task(bind=True)
def export_dataset(
    self, since: str | None = None, until: str | None = None, formats=FORMATS, sample: int = DEFAULT_SAMPLE
) -> int:
    """Returns the Release's id. While it runs, the task's state is PROGRESS with
    {"done", "total"} battles (read it with AsyncResult(id).info)."""

    def progress(done: int, total: int) -> None:
        # Run inline (embedded default) or called as a function: no result backend to tell.
        if self.request.id and not self.request.is_eager:
            self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    options = Options(
        since=dt.date.fromisoformat(since) if since else None,
        until=dt.date.fromisoformat(until) if until else None,
        formats=tuple(formats),
        sample=sample,
    )
    return export_release(None, options, publish=True, progress=progress).pk
