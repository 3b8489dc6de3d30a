"""Load a catalogue YAML (fixtures/catalogue/*.yaml) into the LLM table, idempotently."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from .models import LLM


def read_catalogue(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        entries = yaml.safe_load(fh)
    if not isinstance(entries, list):
        raise ValueError(f"{path}: a catalogue is a YAML list of models")
    return entries


API_FIELDS = ("base_url", "model", "key_env", "provider")


def _remote_api(entry: dict) -> dict:
    """An entry's `api` block (a remote OpenAI-compatible API, estimated), checked; {} for
    a metered worker. Exactly one of `worker` and `api`."""
    api = entry.get("api")
    if bool(api) == bool(entry.get("worker")):
        raise ValueError(f"{entry.get('slug')}: give either `worker` (metered) or `api` (remote), not both or none")
    if not api:
        return {}
    missing = [f for f in API_FIELDS if not api.get(f)]
    if missing:
        raise ValueError(f"{entry['slug']}: the api block needs {', '.join(missing)}")
    if "key" in api:
        raise ValueError(f"{entry['slug']}: never put a key in the catalogue; name its variable in key_env")
    return {k: api[k] for k in (*API_FIELDS, "key_optional", "url_env") if k in api}


def load_catalogue(path: str | Path, *, disable_others: bool = True) -> tuple[int, int]:
    """Create or update every model of the file; returns (created, updated).

    Models absent from the file are disabled (never deleted: battles refer to them)."""
    created = updated = 0
    slugs = []
    for entry in read_catalogue(path):
        release = entry.get("release_date")
        if isinstance(release, str):
            release = dt.date.fromisoformat(release)
        fields = {
            "name": entry["name"],
            "organization": entry["organization"],
            "license": entry["license"],
            "license_kind": entry["license_kind"],
            "params_b": float(entry["params_b"]),
            "active_params_b": float(entry.get("active_params_b", entry["params_b"])),
            "architecture": entry.get("architecture", ""),
            "release_date": release,
            "description_fr": entry["description"]["fr"],
            "description_en": entry["description"]["en"],
            "hf_id": entry.get("hf_id", ""),
            "worker_env": (entry.get("worker") or {}).get("env", ""),
            "worker_default_url": (entry.get("worker") or {}).get("default", ""),
            "remote_api": _remote_api(entry),
            "training_footprint": entry.get("training") or {},
            "identity_words": list(entry.get("identity_words", [])),
            "enabled": bool(entry.get("enabled", True)),
        }
        _, was_created = LLM.objects.update_or_create(slug=entry["slug"], defaults=fields)
        created += was_created
        updated += not was_created
        slugs.append(entry["slug"])
    if disable_others:
        LLM.objects.exclude(slug__in=slugs).update(enabled=False)
    return created, updated
