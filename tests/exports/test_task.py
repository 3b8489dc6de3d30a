"""The Celery task: a release into EXPORTS_ROOT, published on /donnees/, with its progress in the
task's state. Embedded, it runs inline; with REDIS_URL a real worker takes it from the broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from exports.models import Release
from exports.tasks import export_dataset


@pytest.mark.django_db(transaction=True)
def test_it_publishes_a_release_from_a_celery_task(played, settings, tmp_path):
    from tests.conftest import test_database_url  # imported here: pytest would collect it as a test

    settings.EXPORTS_ROOT = str(tmp_path / "exports")
    played()
    played(consent=False)
    worker = None
    if not django_settings.CELERY_TASK_ALWAYS_EAGER:
        log = open(tmp_path / "celery.log", "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "warning"],
            env={**os.environ, "DATABASE_URL": test_database_url(), "EXPORTS_ROOT": settings.EXPORTS_ROOT},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        pk = export_dataset.delay(sample=1).get(timeout=120)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)

    release = Release.objects.get(pk=pk)
    assert release.status == Release.Status.DONE and release.published
    assert Release.latest_published() == release
    assert Path(release.path) == Path(settings.EXPORTS_ROOT) / release.name
    assert (Path(release.path) / "votes" / "votes.parquet").is_file()
    assert release.manifest["counts"]["published"] == 1 and release.manifest["counts"]["without_consent"] == 1
    assert release.card.startswith("---\n") and release.manifest["samples"]


@pytest.mark.django_db
def test_it_reports_progress_in_the_task_state(played, settings, tmp_path, monkeypatch):
    settings.EXPORTS_ROOT = str(tmp_path / "exports")
    for _ in range(3):
        played()
    states = []
    monkeypatch.setattr(export_dataset, "update_state", lambda **kwargs: states.append(kwargs))

    export_dataset.push_request(is_eager=False, id="test-progress")
    try:
        pk = export_dataset.run(formats=["jsonl"], sample=0)
    finally:
        export_dataset.pop_request()

    assert states[0] == {"state": "PROGRESS", "meta": {"done": 0, "total": 3}}
    assert states[-1] == {"state": "PROGRESS", "meta": {"done": 3, "total": 3}}
    assert Release.objects.get(pk=pk).manifest["formats"] == ["jsonl"]


@pytest.mark.django_db
def test_it_records_a_failed_release(played, settings, tmp_path, monkeypatch):
    settings.EXPORTS_ROOT = str(tmp_path / "exports")
    played()
    monkeypatch.setattr("exports.release.render_card", lambda manifest: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        export_dataset.run()

    release = Release.objects.get()
    assert release.status == Release.Status.FAILED and "ZeroDivisionError" in release.error
    assert Release.latest_published() is None
