"""On PostgreSQL a release streams its four queries through ADBC in Arrow's format, on connections
of its own sharing the release's snapshot; elsewhere (SQLite, a caller's open transaction) the
ORM feeds the same frames. Both must write the same tables."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from django.db import connection

from exports import source, writers
from exports.release import Options, build_release
from exports.schema import TABLES

from .conftest import every_file_text

pytestmark = [
    pytest.mark.django_db(transaction=True),  # committed rows: the export's own connections see them
    pytest.mark.skipif(connection.vendor != "postgresql", reason="ADBC reads PostgreSQL only"),
]


def _release(out, monkeypatch, *, arrow: bool) -> dict:
    monkeypatch.setattr(source, "_adbc_installed", lambda: arrow)
    monkeypatch.setattr("exports.release.secrets.token_bytes", lambda n: b"k" * n)  # the same ids twice
    used = []
    real = source._ArrowReader.batches

    def spy(self, queryset, schema):
        used.append(queryset.model.__name__)
        return real(self, queryset, schema)

    monkeypatch.setattr(source._ArrowReader, "batches", spy)
    manifest, _ = build_release(out, Options(sample=2), name="test")
    assert bool(used) is arrow, used
    return manifest


def test_arrow_and_orm_reads_write_the_same_tables(played, tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "BATCH_ROWS", 2)  # several chunks, and a battle's rows across batches
    played(
        prompts=("Explique la photosynthèse.", "Et en une phrase ?"),
        tags={"a": ["useful"], "b": ["superficial"]},
        comments={"a": "clair", "b": ""},
        reactions={(0, "a"): (True, ["useful"], "bien"), (1, "b"): (False, [], "")},
        retried=True,
    )
    played(choice="tie", language="en", prompts=("Hello there",))
    played(prompts=("Écris à jean.dupont@orange.fr pour moi",))  # left out: personal data
    played(consent=False)
    played(statuses=[("done", "error")])  # left out: a failed answer
    played(choice="both_bad", model_a="albatros", model_b="rouge-gorge")

    arrow = _release(tmp_path / "arrow", monkeypatch, arrow=True)
    orm = _release(tmp_path / "orm", monkeypatch, arrow=False)

    assert arrow["counts"] == orm["counts"]
    assert arrow["counts"]["published"] == 3 and arrow["counts"]["personal_data"] == 1
    for table in TABLES:
        read = [pq.read_table(tmp_path / kind / table.name / f"{table.name}.parquet") for kind in ("arrow", "orm")]
        assert read[0].num_rows == arrow["tables"][table.name]["rows"]
        assert read[0].equals(read[1]), table.name


def test_both_reads_scope_a_visitors_id_to_their_workshop_room(played, tmp_path, monkeypatch):
    me = played(prompts=("Dehors un",)).visitor
    played(visitor=me, prompts=("Dehors deux",))
    played(visitor=me, prompts=("Soleil un",), workshop_code="SOLEIL42")
    played(visitor=me, prompts=("Soleil deux",), workshop_code="SOLEIL42")

    _release(tmp_path / "arrow", monkeypatch, arrow=True)
    _release(tmp_path / "orm", monkeypatch, arrow=False)

    for kind in ("arrow", "orm"):
        conversations = pq.read_table(tmp_path / kind / "conversations" / "conversations.parquet").to_pylist()
        by_prompt = {row["conversation_a"][0]["content"]: row["visitor_id"] for row in conversations}
        assert by_prompt["Dehors un"] == by_prompt["Dehors deux"], kind
        assert by_prompt["Soleil un"] == by_prompt["Soleil deux"], kind
        assert by_prompt["Soleil un"] != by_prompt["Dehors un"], kind
        assert "SOLEIL42" not in every_file_text(tmp_path / kind), kind
