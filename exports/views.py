"""/donnees/: the latest published release (tables, rows, sizes, checksums, downloads, card), and
its files, streamed from the release's folder unless EXPORTS_URL says where else they are served."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from arena.rendering import render_answer

from .models import Release
from .schema import TABLES

CONTENT_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".jsonl": "application/jsonl; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
COUNT_LABELS = (
    ("voted", _("Battles voted in the period")),
    ("without_consent", _("Left out: no consent to publication")),
    ("unusable_answers", _("Left out: a failed or empty answer")),
    ("personal_data", _("Left out: personal data in a prompt or comment")),
    ("published", _("Published")),
    ("leak_flagged", _("Published with the identity-leak flag")),
)


def file_url(release: Release, path: str) -> str:
    if settings.EXPORTS_URL:
        return f"{settings.EXPORTS_URL}/{release.name}/{path}"
    return reverse("dataset-file", args=[release.name, path])


def card_html(card: str) -> str:
    """The card's Markdown without its YAML header, one heading level down (the page has its h1)."""
    body = card.split("\n---\n", 1)[1] if card.startswith("---\n") else card
    html = render_answer(body)
    for level in range(5, 0, -1):
        html = html.replace(f"<h{level}>", f"<h{level + 1}>").replace(f"</h{level}>", f"</h{level + 1}>")
    return html


@require_safe
def datasets_page(request):
    release = Release.latest_published()
    context = {"release": release}
    if release is not None:
        manifest = release.manifest

        def with_url(files):
            return [{**f, "name": f["path"].rsplit("/", 1)[-1], "url": file_url(release, f["path"])} for f in files]

        context.update(
            manifest=manifest,
            tables=[
                {
                    "name": table.name,
                    "summary": table.summary,
                    "rows": manifest["tables"][table.name]["rows"],
                    "files": with_url(manifest["tables"][table.name]["files"]),
                }
                for table in TABLES
            ],
            samples=with_url(manifest.get("samples", [])),
            extra_files=with_url(manifest.get("extra_files", [])),
            counts=[(label, manifest["counts"].get(key, 0)) for key, label in COUNT_LABELS],
            card=card_html(release.card),
        )
    return render(request, "exports/datasets.html", context)


@require_safe
def dataset_file(request, name: str, path: str):
    """A file of a published release: only the paths its manifest lists, so no other file of the
    server can be asked for."""
    release = Release.objects.filter(name=name, status=Release.Status.DONE, published=True).first()
    if release is None or path not in {f["path"] for f in release.files()}:
        raise Http404
    full_path = Path(release.path) / path
    if not full_path.is_file():
        raise Http404
    suffix = full_path.suffix
    # A file can take minutes to download, and Django gives a request's connection back only
    # once its last byte is sent: back to the process's small pool (config/settings.py) now
    # (unless a caller's transaction is still open on it: a test's).
    if not connection.in_atomic_block:
        connection.close()
    return FileResponse(
        open(full_path, "rb"),
        content_type=CONTENT_TYPES.get(suffix, "text/plain; charset=utf-8"),
        as_attachment=suffix in (".parquet", ".jsonl"),
        filename=full_path.name,
    )
