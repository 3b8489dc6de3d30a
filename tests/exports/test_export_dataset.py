"""`manage.py export_dataset`: what goes in a release, what never does, and how it is read back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError
from django.utils import timezone

from arena.models import LLM
from exports import writers
from exports.rows import Hasher
from exports.schema import TABLES

from .conftest import every_file_text, export, read_tables

pytestmark = pytest.mark.django_db

PERSONAL = {
    "email": "Écris à jean.dupont@orange.fr pour moi",
    "phone": "Mon numéro est le 06 12 34 56 78, rappelle-moi",
    "nir": "Mon numéro de sécu : 2 95 10 99 126 111 93",
}


@pytest.fixture
def offline_datasets(tmp_path, monkeypatch):
    """`datasets` reads local files only, with its cache in the test's folder."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf-cache"


def test_it_writes_tables_that_datasets_pandas_and_duckdb_load(played, tmp_path, offline_datasets):
    import datasets

    played(
        prompts=("Explique la photosynthèse.", "Et en une phrase ?"),
        tags={"a": ["useful", "clear_formatting"], "b": ["superficial"]},
        comments={"a": "clair", "b": "trop court"},
        worth=True,
        reactions={(0, "a"): (True, ["useful"], "bien"), (1, "b"): (False, ["incorrect"], "")},
        retried=True,
    )
    played(choice="both_bad", model_a="albatros", model_b="rouge-gorge", language="en", prompts=("Hello there",))
    out = tmp_path / "release"

    stdout, _ = export(out)

    assert "2 of 2 voted battles published" in stdout
    catalogue = set(LLM.objects.values_list("slug", flat=True))
    expected_rows = {"conversations": 2, "votes": 2, "reactions": 2, "energy": 7, "arena_battles": 2}
    expected_rows["models"] = len(catalogue)
    for table in TABLES:
        loaded = datasets.load_dataset(str(out), table.name, cache_dir=str(offline_datasets))["train"]
        assert loaded.num_rows == expected_rows[table.name], table.name
        assert loaded.column_names == list(table.names)
        frame = (out / table.name / f"{table.name}.parquet").as_posix()
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{frame}')").fetchall()[0][0] == expected_rows[table.name]
        jsonl = (out / table.name / f"{table.name}.jsonl").read_text().splitlines()
        assert [list(json.loads(line)) for line in jsonl] == [list(table.names)] * expected_rows[table.name]

    tables = read_tables(out)
    votes = tables["votes"].set_index("choice")
    assert votes.loc["a", "chosen_model_name"] == "heron" and not votes.loc["a", "both_equal"]
    assert votes.loc["a", "conv_useful_a"] and votes.loc["a", "conv_clear_formatting_a"]
    assert votes.loc["a", "conv_superficial_b"] and not votes.loc["a", "conv_useful_b"]
    assert votes.loc["a", "conv_comments_b"] == "trop court" and votes.loc["a", "worth_extra_energy"]
    assert votes.loc["a", "opening_msg"] == "Explique la photosynthèse."
    assert [t["role"] for t in votes.loc["a", "conversation_a"]] == ["user", "assistant", "user", "assistant"]
    assert pd.isna(votes.loc["both_bad", "chosen_model_name"]) and votes.loc["both_bad", "both_bad"]

    conversations = tables["conversations"].set_index("model_a")
    heron = conversations.loc["heron"]
    assert heron["conv_turns"] == 2 and heron["completion_tokens_a"] == 32
    assert heron["energy_j_a"] == pytest.approx(1.0 + 3.6 * 2)  # the failed try used energy too
    assert heron["energy_j_b"] == pytest.approx(7.2) and heron["energy_method_a"] == "nvml"
    assert heron["energy_measured_a"] and heron["ecologits_wh_a"] == pytest.approx(0.004)

    energy = tables["energy"]
    first = energy[(energy.model == "heron") & (energy.turn == 0)].sort_values("attempt")
    assert list(first.outcome) == ["error", "done"] and list(first.attempt) == [1, 2]
    assert list(first.iloc[1]["devices"]) == ["NVIDIA H100 80GB HBM3"] and first.iloc[1]["duration_s"] == 0.5
    assert (energy.ecologits_energy_wh > 0).all() and (
        energy.ecologits_energy_wh_min <= energy.ecologits_energy_wh
    ).all()

    reactions = tables["reactions"].set_index("side")
    assert reactions.loc["a", "liked"] and reactions.loc["a", "useful"] and reactions.loc["a", "comment"] == "bien"
    assert reactions.loc["b", "disliked"] and reactions.loc["b", "question_content"] == "Et en une phrase ?"
    assert reactions.loc["b", "refers_to_model"] == "mesange"

    arena = tables["arena_battles"].set_index("winner")
    assert set(arena.index) == {"model_a", "tie (bothbad)"}
    assert arena.loc["tie (bothbad)", "language"] == "English" and arena.loc["model_a", "language"] == "French"
    meta = arena.loc["model_a", "conv_metadata"]
    assert meta["sum_assistant_a_tokens"] == 32 and meta["turns"] == 2
    assert meta["header_count_a"]["h2"] == 2 and meta["list_count_b"]["unordered"] == 4
    assert meta["bold_count_a"]["**"] == 2 and meta["sum_user_tokens"] is None
    assert set(tables["models"].slug) == catalogue


def test_a_side_metered_two_ways_names_both_methods(played, tmp_path):
    # A failed try metered by NVML, then the answer by the CPU-time model; side b by the model only.
    played(retried=True, measured=False)
    played(model_a="albatros", measured=True)
    export(tmp_path / "release")
    sides = read_tables(tmp_path / "release")["conversations"].set_index("model_a")
    assert sides.loc["heron", "energy_method_a"] == "cpu-time-model+nvml"
    assert sides.loc["heron", "energy_method_b"] == "cpu-time-model"
    assert not sides.loc["heron", "energy_measured_a"] and not sides.loc["heron", "energy_measured_b"]
    assert sides.loc["heron", "energy_j_a"] == pytest.approx(1.0 + 3.6)
    assert list(sides.loc["albatros", ["energy_method_a", "energy_method_b"]]) == ["nvml", "nvml"]
    assert sides.loc["albatros", "energy_measured_a"]


def test_it_leaves_out_battles_without_consent_or_with_personal_data(played, tmp_path):
    kept = played(prompts=("Quelle est la capitale du Pérou ?",))
    played(prompts=("Sans consentement de publication",), consent=False)
    played(prompts=("Consentement retiré depuis",), consent=True, visitor_consent=False)
    for prompt in PERSONAL.values():
        played(prompts=("Une première question", prompt))
    played(prompts=("Question banale",), comments={"a": "", "b": "mon IBAN FR76 3000 6000 0112 3456 7890 189"})
    played(prompts=("Autre question",), reactions={(0, "a"): (True, [], "écris-moi : marie@example.org")})
    out = tmp_path / "release"

    stdout, _ = export(out)

    text = every_file_text(out)
    for leaked in (
        "Sans consentement",
        "Consentement retiré",
        *PERSONAL.values(),
        "Une première question",
        "FR76",
        "Question banale",
        "marie@example.org",
        "Autre question",
    ):
        assert leaked not in text, leaked
    tables = read_tables(out)
    for name in ("conversations", "votes", "arena_battles"):
        assert len(tables[name]) == 1, name
    assert tables["votes"].iloc[0]["opening_msg"] == "Quelle est la capitale du Pérou ?"
    assert len(tables["energy"]) == 2 and len(tables["reactions"]) == 0
    assert kept.pk  # the one published

    card = (out / "README.md").read_text()
    assert "| left out: no publication consent (battle or visitor) | 2 |" in card
    assert "| left out: personal data in a prompt or comment (battles) | 5 |" in card
    for label in ("an e-mail address | 2", "a phone number | 1", "a French NIR | 1", "an IBAN | 1"):
        assert f"| ... of which holding {label} |" in card, label
    assert "| published (conversations rows) | 1 |" in card
    assert "1 of 8 voted battles published" in stdout


def test_it_never_publishes_raw_ids_or_workshop_codes(played, tmp_path):
    battle = played(workshop_code="SOLEIL42")
    other = played(visitor=battle.visitor)
    first, second = tmp_path / "one", tmp_path / "two"

    export(first)
    export(second)

    text = every_file_text(first)
    for secret in (battle.visitor_id, battle.pk, other.pk, "SOLEIL42"):
        assert str(secret) not in text and str(secret).replace("-", "") not in text
    one, two = read_tables(first)["conversations"], read_tables(second)["conversations"]
    assert one.visitor_id.nunique() == 2  # one in the room, one outside (see the test below)
    assert set(one.visitor_id).isdisjoint(two.visitor_id)  # ... and no two releases share one
    assert set(one.id).isdisjoint(two.id)
    assert sorted(one.workshop) == [False, True]


def test_a_visitors_id_in_a_workshop_room_is_scoped_to_that_room(played, tmp_path):
    # A room's facilitator can tell its battles in a release (the room's CSV lists their models,
    # tokens and times): their visitor_id must lead to no battle the person played elsewhere.
    me = played(prompts=("Dehors un",)).visitor
    played(visitor=me, prompts=("Dehors deux",))
    played(visitor=me, prompts=("Dehors vide",), workshop_code="")  # an empty code: no room
    played(visitor=me, prompts=("Soleil un",), workshop_code="SOLEIL42")
    played(visitor=me, prompts=("Soleil deux",), workshop_code="SOLEIL42", reactions={(0, "a"): (True, [], "")})
    played(visitor=me, prompts=("Lune",), workshop_code="LUNE7")
    played(prompts=("Soleil voisin",), workshop_code="SOLEIL42")  # someone else in the same room
    out = tmp_path / "release"

    export(out)

    tables = read_tables(out)
    conversations = tables["conversations"]
    by_prompt = dict(
        zip(conversations.conversation_a.map(lambda c: c[0]["content"]), conversations.visitor_id, strict=True)
    )
    outside, room = by_prompt["Dehors un"], by_prompt["Soleil un"]
    assert by_prompt["Dehors deux"] == by_prompt["Dehors vide"] == outside  # outside rooms: one id
    assert by_prompt["Soleil deux"] == room  # in one room: one id
    assert room != outside  # ... but not the one outside it
    assert by_prompt["Lune"] not in (outside, room)  # nor another room's
    assert by_prompt["Soleil voisin"] not in (outside, room, by_prompt["Lune"])
    assert sorted(conversations.workshop) == [False] * 3 + [True] * 4
    # Every table gives a battle the same pseudonym.
    ids = dict(zip(conversations.id, conversations.visitor_id, strict=True))
    votes, reactions, arena = tables["votes"], tables["reactions"], tables["arena_battles"]
    assert dict(zip(votes.conversation_pair_id, votes.visitor_id, strict=True)) == ids
    assert dict(zip(arena.question_id, arena.judge, strict=True)) == ids
    assert list(reactions.visitor_id) == [room]
    # The rooms' codes are in no table, no card, no file.
    text = every_file_text(out)
    assert "SOLEIL42" not in text and "LUNE7" not in text
    assert all("room" not in table.columns and "workshop_code" not in table.columns for table in tables.values())


def test_ids_are_a_keyed_blake2b_of_the_database_ids():
    key = bytes(range(32))
    ids = Hasher(key)
    for kind, value in (("battle", uuid.UUID(int=7)), ("visitor", "abc"), ("battle", uuid.UUID(int=8))):
        mac = hashlib.blake2b(f"{kind}:{value}".encode(), key=key, digest_size=16).hexdigest()
        assert ids(kind, value) == mac  # the same key state serves every id, unchanged
    assert Hasher(bytes(32))("battle", "abc") != ids("battle", "abc")


def test_it_leaves_out_battles_with_a_failed_or_empty_answer_and_counts_them(played, tmp_path):
    played()
    played(prompts=("Vide",), statuses=[("done", "empty")])
    played(prompts=("Une", "Deux"), statuses=[("done", "done"), ("error", "done")])
    out = tmp_path / "release"

    export(out)

    assert len(read_tables(out)["conversations"]) == 1
    card = (out / "README.md").read_text()
    assert "| left out: a failed or empty answer (battles) | 2 |" in card
    assert "| failed or empty answers in those battles | 2 |" in card


def test_it_keeps_battles_flagged_for_an_identity_leak_with_their_flag(played, tmp_path):
    played()
    played(leak_flagged=True, prompts=("Qui es-tu ?",))
    out = tmp_path / "release"

    export(out)

    tables = read_tables(out)
    flagged = tables["conversations"].set_index("leak_flagged")
    assert flagged.loc[True, "conversation_a"][0]["content"] == "Qui es-tu ?"
    assert sorted(tables["votes"].leak_flagged) == [False, True]
    assert sorted(tables["arena_battles"].anony) == [False, True]
    assert "| published with leak_flagged (an answer named its model) | 1 |" in (out / "README.md").read_text()


def test_it_keeps_votes_of_the_days_asked_for(played, tmp_path):
    today = timezone.localdate()
    played(prompts=("Ancien",), voted_at=timezone.now() - dt.timedelta(days=10))
    played(prompts=("Récent",))
    out = tmp_path / "release"

    export(out, "--since", (today - dt.timedelta(days=1)).isoformat(), "--until", today.isoformat())

    conversations = read_tables(out)["conversations"]
    assert [c[0]["content"] for c in conversations.conversation_a] == ["Récent"]
    assert f"Votes from {today - dt.timedelta(days=1)} to {today} included" in (out / "README.md").read_text()


def test_it_writes_only_the_formats_asked_for(played, tmp_path, offline_datasets):
    import datasets

    played()
    out = tmp_path / "release"

    export(out, "--formats", "jsonl")

    assert not list(out.rglob("*.parquet"))
    votes = datasets.load_dataset(str(out), "votes", cache_dir=str(offline_datasets))["train"]
    assert votes.num_rows == 1 and votes[0]["chosen_model_name"] == "heron"


def test_it_writes_a_sample_of_whole_battles(played, tmp_path):
    for i in range(6):
        played(prompts=(f"Question {i}",), reactions={(0, "a"): (True, [], "")})
    out = tmp_path / "release"

    export(out, "--sample", "3")

    lines = {
        name: [json.loads(line) for line in (out / "samples" / f"{name}.jsonl").read_text().splitlines()]
        for name in ("conversations", "votes", "reactions", "energy", "arena_battles")
    }
    assert len(lines["conversations"]) == 3 and len(lines["energy"]) == 6
    ids = {row["id"] for row in lines["conversations"]}
    assert {row["conversation_pair_id"] for row in lines["votes"]} == ids
    assert {row["question_id"] for row in lines["arena_battles"]} == ids
    assert {row["conversation_pair_id"] for row in lines["reactions"]} == ids


def test_it_writes_parquet_in_batches_from_a_stream(played, tmp_path, monkeypatch):
    """Rows go to disk a batch at a time (one row group each), never the whole table at once."""
    monkeypatch.setattr(writers, "BATCH_ROWS", 2)
    for _ in range(5):
        played()
    out = tmp_path / "release"

    export(out, "--formats", "parquet")

    parquet = pq.ParquetFile(out / "conversations" / "conversations.parquet")
    assert parquet.metadata.num_rows == 5 and parquet.metadata.num_row_groups == 3


def test_it_shows_a_progress_bar(played, tmp_path):
    played()

    _, stderr = export(tmp_path / "release")

    assert "100% 1/1 battles" in stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--formats", "csv"), "formats must be one or more of parquet, jsonl"),
        (("--since", "2026-13-01"), "'2026-13-01' is not a date written YYYY-MM-DD"),
        (("--since", "2026-05-02", "--until", "2026-05-01"), "--since 2026-05-02 is after --until 2026-05-01"),
        (("--sample", "-1"), "--sample must be 0 or more battles"),
    ],
)
def test_it_refuses_bad_options(catalogue, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        export(tmp_path / "release", *args)


def test_it_refuses_a_folder_that_holds_files(catalogue, tmp_path):
    (tmp_path / "old.txt").write_text("an older release")

    with pytest.raises(CommandError, match="exists and is not an empty folder"):
        export(tmp_path)
    assert os.listdir(tmp_path) == ["old.txt"]
