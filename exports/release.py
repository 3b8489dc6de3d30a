"""Building a release: scope, stream, scrub, write the tables, the card and SHA256SUMS.

`build_release` writes the files; `export_release` is what the command and the Celery task call:
it checks the options, and with `publish` records the release so that /donnees/ lists it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils import timezone

import footprint
from arena.impacts import deployment_profile
from arena.models import LLM

from . import writers
from .card import render_card
from .frames import Context, tables_of
from .models import Release
from .pipeline import Background, prefetched
from .rows import Hasher, Model, model_row
from .schema import FORMATS, MODELS, TABLES
from .scrub import KINDS
from .source import chunks, consented_battles, day_bounds, snapshot, unvoted_battles, voted_battles
from .writers import Sample, TableWriter, sha256_of, write_checksums

log = logging.getLogger("arena.exports")

Progress = Callable[[int, int], None]


class ExportError(ValueError):
    """Options a release cannot be built with; the message says which and why."""


@dataclass(frozen=True)
class Options:
    since: dt.date | None = None
    until: dt.date | None = None
    formats: tuple[str, ...] = FORMATS
    sample: int = 0

    def check(self) -> Options:
        if not self.formats or any(f not in FORMATS for f in self.formats):
            raise ExportError(f"formats must be one or more of {', '.join(FORMATS)} (got {','.join(self.formats)})")
        if self.sample < 0:
            raise ExportError("--sample must be 0 or more battles")
        if self.since and self.until and self.since > self.until:
            raise ExportError(f"--since {self.since} is after --until {self.until}")
        return self


def parse_formats(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))


def prepare_out_dir(out_dir: Path) -> Path:
    """A release goes into a new or empty folder: files of an older release would mix with it."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} exists and is not an empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _estimator(llms: list) -> Callable:
    """EcoLogits for (model, completion tokens), no latency: memoised, since there are few distinct
    pairs (the catalogue times the token limit) and one estimate takes milliseconds."""
    by_pk = {llm.pk: llm for llm in llms}
    zone = deployment_profile().zone

    @lru_cache(maxsize=200_000)
    def estimate(model_pk: int, completion_tokens: int | None):
        if not completion_tokens:
            return None
        llm = by_pk[model_pk]
        try:
            wh = footprint.estimate_with_ecologits(
                llm.params_b, llm.active_params_b, 0, completion_tokens, None, zone
            ).wall_energy_wh
        except Exception:  # an estimate never stops a release
            log.exception("EcoLogits estimate failed for %s, %s tokens", llm.slug, completion_tokens)
            return None
        return wh.value, wh.min, wh.max

    return estimate


def build_release(out_dir: Path, options: Options, *, name: str, progress: Progress | None = None) -> tuple[dict, str]:
    """Write every table, the sample, the card and SHA256SUMS into `out_dir`: (manifest, card)."""
    cutoff = timezone.now()
    start, end = day_bounds(options.since, options.until, cutoff)
    writer_of = {table.name: TableWriter(table, out_dir, options.formats) for table in TABLES}
    sample = Sample(options.sample)
    background = Background(depth=len(TABLES))
    feed = None
    counts: Counter = Counter()
    languages: Counter = Counter()
    try:
        with snapshot() as reader:
            counts["voted"] = voted_battles(start, end).count()
            total = consented_battles(start, end).count()
            counts["without_consent"] = counts["voted"] - total
            counts["unvoted"] = unvoted_battles(start, end).count()
            llms = list(LLM.objects.order_by("slug"))
            ctx = Context(
                ids=Hasher(secrets.token_bytes(32)),  # this release's key: never written anywhere
                models={m.pk: Model(m.slug, m.name, m.params_b, m.active_params_b, m.license_kind) for m in llms},
                estimate=_estimator(llms),
            )
            if progress:
                progress(0, total)
            done = 0
            # The next chunk is read while this one is computed and the last one written. The
            # ORM's connection belongs to this thread: without a reader, reads stay here.
            feed = chunks(start, end, writers.BATCH_ROWS, reader)
            feed = prefetched(feed) if reader else feed
            for chunk in feed:
                frames = tables_of(chunk, ctx, counts, languages)
                for table_name, frame in frames.items():
                    background.submit(writer_of[table_name].add_frame, frame)
                if frames:
                    sample.offer(frames)
                done += chunk.battles.height
                if progress:
                    progress(done, total)
            background.submit(writer_of[MODELS.name].add, [model_row(llm) for llm in llms])
            background.close()
    finally:
        if feed is not None:
            feed.close()
        background.close()
        for writer in writer_of.values():
            writer.close()

    manifest = {
        "name": name,
        "created_at": cutoff.isoformat(timespec="seconds"),
        "license": settings.EXPORTS_LICENSE,
        "languages": sorted(languages) or [settings.LANGUAGE_CODE],
        "formats": list(options.formats),
        "window": {
            "since": options.since.isoformat() if options.since else None,
            "until": options.until.isoformat() if options.until else None,
            "start": start.isoformat() if start else None,
            "end": end.isoformat(),
        },
        "counts": {key: counts[key] for key in _COUNT_KEYS},
        "tables": {
            name_: {
                "rows": writer.rows,
                "files": [{**_file(out_dir, path), "format": path.rsplit(".", 1)[1]} for path in writer.paths],
            }
            for name_, writer in writer_of.items()
        },
        "sample_battles": 0,
        "samples": [],
    }
    if options.sample:
        battle_tables = [t for t in TABLES if t is not MODELS]
        manifest["samples"] = [
            {**_file(out_dir, path), "rows": rows} for path, rows in sample.write(battle_tables, out_dir)
        ]
        manifest["sample_battles"] = min(options.sample, counts["published"])
    card = render_card(manifest)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    listed = [f["path"] for entry in manifest["tables"].values() for f in entry["files"]]
    listed += [f["path"] for f in manifest["samples"]] + ["README.md"]
    sums = write_checksums(out_dir, listed, {p: d for w in writer_of.values() for p, d in w.digests.items()})
    for entry in [*manifest["samples"], *(f for e in manifest["tables"].values() for f in e["files"])]:
        entry["sha256"] = sums[entry["path"]]
    manifest["extra_files"] = [
        {**_file(out_dir, "README.md"), "sha256": sums["README.md"]},
        {**_file(out_dir, "SHA256SUMS"), "sha256": sha256_of(out_dir / "SHA256SUMS")},
    ]
    return manifest, card


_COUNT_KEYS = (
    "voted",
    "without_consent",
    "unusable_answers",
    "unusable_answer_count",
    "personal_data",
    *(f"personal_data_{kind}" for kind in KINDS),
    "published",
    "leak_flagged",
    "unvoted",
)


def _file(out_dir: Path, path: str) -> dict:
    return {"path": path, "bytes": (out_dir / path).stat().st_size}


def release_name() -> str:
    base = timezone.now().strftime("%Y-%m-%d-%H%M%S")
    name, n = base, 1
    while Release.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def export_release(
    out_dir: Path | None, options: Options, *, publish: bool = False, progress: Progress | None = None
) -> Release | dict:
    """Check the options, write the release (into `out_dir`, or a new folder of EXPORTS_ROOT), and
    with `publish` record it for /donnees/. Returns the Release when published, else the manifest."""
    options.check()
    name = release_name()
    out_dir = prepare_out_dir(Path(out_dir) if out_dir else Path(settings.EXPORTS_ROOT) / name)
    release = Release.objects.create(name=name, path=str(out_dir.resolve())) if publish else None
    try:
        manifest, card = build_release(out_dir, options, name=name, progress=progress)
    except BaseException as exc:
        if release is not None:
            release.fail(f"{type(exc).__name__}: {exc}")
        raise
    if release is None:
        return manifest
    release.finish(manifest, card, publish=True)
    return release
