"""`manage.py export_dataset OUT_DIR`: write a research dataset release (see exports/release.py).

Only voted battles whose player agreed to publication, scrubbed of personal data; Parquet and/or
JSON Lines per table, a dataset card (README.md) and SHA256SUMS. `--publish` lists the release on
/donnees/. The Celery task `exports.tasks.export_dataset` does the same into EXPORTS_ROOT.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from exports.release import ExportError, Options, export_release, parse_formats
from exports.schema import FORMATS


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date written YYYY-MM-DD") from None


class ProgressBar:
    """A bar redrawn in place on a terminal; a line every tenth otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if self.tty:
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {share:4.0%} {done:,}/{total:,} battles", ending="")
            self.stream.flush()
        elif int(share * 10) > self._last_tenth:
            self._last_tenth = int(share * 10)
            self.stream.write(f"{share:4.0%} {done:,}/{total:,} battles")

    def close(self) -> None:
        if self.tty:
            self.stream.write("")


class Command(BaseCommand):
    help = "Write a research dataset release (consented, scrubbed) into OUT_DIR."

    def add_arguments(self, parser):
        parser.add_argument("out_dir", help="a new or empty folder")
        parser.add_argument("--since", type=_date, help="first day of votes, YYYY-MM-DD (default: the first vote)")
        parser.add_argument("--until", type=_date, help="last day of votes, YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--formats", default=",".join(FORMATS), help=f"comma-separated, among {', '.join(FORMATS)} (default: both)"
        )
        parser.add_argument(
            "--sample", type=int, default=0, metavar="N", help="also write samples/: the rows of N random battles"
        )
        parser.add_argument("--publish", action="store_true", help="list this release on /donnees/")

    def handle(self, *args, out_dir, since, until, formats, sample, publish, **options):
        bar = ProgressBar(self.stderr)
        try:
            result = export_release(
                out_dir,
                Options(since=since, until=until, formats=parse_formats(formats), sample=sample),
                publish=publish,
                progress=bar,
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        manifest = result if isinstance(result, dict) else result.manifest
        counts = manifest["counts"]
        rows = ", ".join(f"{name} {entry['rows']:,}" for name, entry in manifest["tables"].items())
        self.stdout.write(f"release {manifest['name']} in {out_dir}: {rows}")
        left_out = counts["without_consent"] + counts["unusable_answers"] + counts["personal_data"]
        self.stdout.write(
            f"{counts['published']:,} of {counts['voted']:,} voted battles published; left out: "
            f"{counts['without_consent']:,} without consent, {counts['unusable_answers']:,} with a failed or empty "
            f"answer, {counts['personal_data']:,} with personal data ({left_out:,} in all)"
        )
        if publish:
            self.stdout.write("listed on /donnees/")
