"""A remote OpenAI-compatible API as a catalogue model: streamed through the API path,
voted, and revealed as estimated (EcoLogits) beside a metered worker. The "remote API" is
a local worker reached the way a provider's API is, keyless: no key in the repository."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from arena import battles
from arena.models import LLM, Attempt, Battle, Message
from inference.routing import backend_for
from tests.arena.test_consumer import communicator, frames_until_done
from tests.conftest import make_battle, make_llm

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def remote_llm(slug: str, base_url: str, served: str, **api) -> LLM:
    return make_llm(
        slug,
        "",
        worker_env="",
        remote_api={"base_url": base_url, "model": served, "key_env": "TEST_REMOTE_KEY", "provider": "demo", **api},
        params_b=0.0007,
        active_params_b=0.0007,
        license_kind="proprietary",
    )


async def test_a_metered_and_a_remote_model_are_revealed_measured_by_the_worker_and_estimated(
    arena_llms, arena_workers, settings, monkeypatch, caplog
):
    settings.ARENA_MAX_TOKENS = 16
    monkeypatch.setenv("TEST_REMOTE_KEY", "sk-test-secret-not-a-real-key")
    caplog.set_level(logging.DEBUG)
    remote = await database_sync_to_async(remote_llm)("remote-api", arena_workers["tiny-b"], "tiny-b")
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], remote)
    comm = communicator(battle, visitor)
    assert (await comm.connect())[0]
    frames = await frames_until_done(comm)
    assert not [f for f in frames if f["type"] == "error"], frames
    await comm.disconnect()

    attempts = await database_sync_to_async(
        lambda: {
            a.message.side: a for a in Attempt.objects.filter(message__turn__battle=battle).select_related("message")
        }
    )()
    assert attempts["a"].measured is False and attempts["a"].method == "cpu-time-model"  # the worker's meter
    assert attempts["b"].measured is False and attempts["b"].method == "ecologits"  # an estimate, said so
    assert attempts["b"].energy_j > 0 and attempts["b"].completion_tokens > 0
    assert attempts["b"].backend == arena_workers["tiny-b"]  # the URL, never the key

    await database_sync_to_async(battles.cast_vote)(
        await database_sync_to_async(Battle.objects.get)(pk=battle.pk), "b", {}, {}
    )
    client = Client()
    client.cookies["arena_visitor"] = visitor
    reveal = await database_sync_to_async(lambda: client.get(f"/api/battles/{battle.id}/reveal").json())()
    assert reveal["a"]["energy"]["method"] == "cpu-time-model"
    assert reveal["b"]["energy"]["method"] == "ecologits" and reveal["b"]["energy"]["measured"] is False
    assert reveal["b"]["energy"]["energy_wh"] == pytest.approx(attempts["b"].energy_j / 3600)
    page = await database_sync_to_async(lambda: client.get(f"/battles/{battle.id}/").content.decode())()
    assert 'title="ecologits"' in page and 'title="cpu-time-model"' in page  # labelled, the code in a title

    # The key reaches neither the database, the pages, the JSON nor the logs.
    secret = "sk-test-secret-not-a-real-key"
    dump = await database_sync_to_async(
        lambda: json.dumps(
            [list(LLM.objects.values()), list(Attempt.objects.values()), list(Message.objects.values())], default=str
        )
    )()
    for where in (dump, page, json.dumps(reveal), caplog.text):
        assert secret not in where


@pytest.mark.django_db
def test_a_remote_model_without_its_key_stays_out_of_new_battles(catalogue, owner, monkeypatch, clear_cache):
    monkeypatch.delenv("TEST_REMOTE_KEY", raising=False)
    for slug in ("mesange", "rouge-gorge", "pivert", "heron", "albatros", "martinet"):
        LLM.objects.filter(slug=slug).update(enabled=slug in ("mesange",))
    locked = remote_llm("locked-api", "https://api.example.org", "big-model")
    assert backend_for(locked).ready is False
    with pytest.raises(battles.ArenaError) as refused:
        battles.start_battle(owner, "Bonjour", "random")
    assert refused.value.code == "no_pair"  # one metered model left, the remote one has no key
    listed = Client().get("/api/models").json()["models"]  # custom mode does not offer it either
    assert [m["slug"] for m in listed] == ["mesange"]
    monkeypatch.setenv("TEST_REMOTE_KEY", "sk-set-now")
    assert {m["slug"] for m in Client().get("/api/models").json()["models"]} == {"mesange", "locked-api"}
    battle = battles.start_battle(owner, "Bonjour", "random")
    assert {battle.model_a.slug, battle.model_b.slug} == {"mesange", "locked-api"}
    assert backend_for(locked).headers() == {"Authorization": "Bearer sk-set-now"}  # read at request time


@pytest.mark.django_db
def test_the_catalogue_refuses_a_key_written_in_it(tmp_path):
    from arena.catalogue import load_catalogue

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- {slug: leaky, name: Leaky, organization: X, license: X, license_kind: proprietary, params_b: 1,"
        " description: {fr: x, en: x}, api: {base_url: 'https://api.example.org', model: m, key_env: K,"
        " provider: openai, key: sk-oops}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="never put a key"):
        load_catalogue(bad)
