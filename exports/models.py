"""What the exports app stores: the releases it wrote, for /donnees/ and for following an export."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Release(models.Model):
    """One dataset release on this server's disk. The files are the release; this row says where
    they are, whether the export finished, and (once done) their manifest and card for the public
    page. Progress while it runs goes to the command's bar or the Celery task's state."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    name = models.SlugField(max_length=64, unique=True, help_text="folder name, in download URLs")
    path = models.CharField(max_length=500, help_text="the release's folder on this server")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    published = models.BooleanField(default=False, help_text="listed on /donnees/")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    card = models.TextField(blank=True, help_text="the release's README.md")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def latest_published(cls) -> Release | None:
        return cls.objects.filter(status=cls.Status.DONE, published=True).order_by("-finished_at").first()

    def finish(self, manifest: dict, card: str, *, publish: bool) -> None:
        self.status = self.Status.DONE
        self.finished_at = timezone.now()
        self.manifest, self.card, self.published = manifest, card, publish
        self.save()

    def fail(self, error: str) -> None:
        self.status = self.Status.FAILED
        self.finished_at = timezone.now()
        self.error = error[:2000]
        self.save(update_fields=["status", "finished_at", "error"])

    def files(self) -> list[dict]:
        """Every downloadable file of the release: {path, bytes, sha256, format?, rows?}."""
        m = self.manifest or {}
        listed = [f for entry in m.get("tables", {}).values() for f in entry["files"]]
        return listed + list(m.get("samples", [])) + list(m.get("extra_files", []))
