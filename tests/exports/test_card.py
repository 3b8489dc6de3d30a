"""The dataset card: Hugging Face YAML that parses and points at files that exist, a schema for
every column, the consent and scrubbing counts, and SHA256SUMS that match the files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from exports.card import size_category
from exports.schema import TABLES

from .conftest import export

pytestmark = pytest.mark.django_db


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("\n---\n", 1)[0].removeprefix("---\n"))


def test_it_writes_a_card_whose_yaml_parses_and_points_at_files_that_exist(played, tmp_path):
    played()
    played(language="en", prompts=("Hello",))
    out = tmp_path / "release"

    export(out, "--sample", "1")

    card = (out / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["license"] == "etalab-2.0" and meta["language"] == ["en", "fr"]
    assert meta["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in meta["configs"]] == [t.name for t in TABLES]
    for config in meta["configs"]:
        for data_file in config["data_files"]:
            assert (out / data_file["path"]).is_file(), data_file
            assert data_file["path"].endswith(".parquet")
    for table in TABLES:
        for column in table.columns:
            assert f"| `{column.name}` |" in card, (table.name, column.name)
    assert "| `energy_j` | `double` | J |" in card
    schema_rows = [line for line in card.splitlines() if line.startswith("| `") and "` | `" in line]
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 5 for line in schema_rows)  # no stray cell
    assert "## How energy was measured and estimated" in card and "EcoLogits" in card and "NVML" in card
    assert "## Consent and scrubbing" in card and "## Known limits" in card
    assert "| battles voted in the window | 2 |" in card


def test_it_writes_checksums_that_match_every_file(played, tmp_path):
    played()
    out = tmp_path / "release"

    export(out, "--sample", "1")

    lines = (out / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in lines:
        digest, path = line.split("  ", 1)
        listed[path] = digest
    on_disk = {p.relative_to(out).as_posix() for p in Path(out).rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert set(listed) == on_disk
    assert "README.md" in listed and "samples/votes.jsonl" in listed
    for path, digest in listed.items():
        assert hashlib.sha256((out / path).read_bytes()).hexdigest() == digest, path


@pytest.mark.parametrize(
    "rows, category", [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (250_000, "100K<n<1M"), (10**6, "1M<n<10M")]
)
def test_it_picks_the_hugging_face_size_category(rows, category):
    assert size_category(rows) == category
