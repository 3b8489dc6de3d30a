"""Fixtures for the arena's JSON API tests: the demo catalogue, two fixed actors
(owner and stranger, each a visitor with accepted terms and a client carrying its
cookie) and a factory for battles built directly in the database, so that no test
here needs an inference worker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from arena.catalogue import load_catalogue
from arena.models import Attempt, Battle, Message, Turn, Visitor, Vote
from arena.visitors import COOKIE
from inference_workers.protocol import EnergyRecord

DEMO_CATALOGUE = Path(__file__).resolve().parents[2] / "fixtures" / "catalogue" / "demo.yaml"


def energy_record(
    energy_j: float, *, measured: bool = False, method: str = "cpu-time-model", completion_tokens: int = 16
) -> dict:
    """A worker energy record (DESIGN.md schema) as the CPU fallback writes it."""
    return {
        "measured": measured,
        "method": method,
        "energy_j": energy_j,
        "gpu_j": energy_j if measured else None,
        "cpu_j": None if measured else energy_j,
        "duration_s": 0.5,
        "devices": ["NVIDIA H100 80GB HBM3"] if measured else ["cpu"],
        "avg_concurrency": 1.0,
        "prompt_tokens": 10,
        "completion_tokens": completion_tokens,
    }


def add_attempt(message: Message, record: dict | None, *, outcome: str = "done") -> Attempt:
    """One stored try at `message`, with the worker's record (None: no record came back)."""
    attempt = Attempt(
        message=message,
        outcome=outcome,
        request_id=uuid.uuid4().hex,
        backend="http://worker",
        finished_at=None if outcome == "streaming" else timezone.now(),
    )
    attempt.set_energy(EnergyRecord.model_validate(record) if record is not None else None)
    attempt.save()
    return attempt


def post_json(client: Client, url: str, data) -> HttpResponse:  # noqa: F821
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return client.post(url, body, content_type="application/json")


@pytest.fixture
def catalogue(db) -> dict:
    """The five demo models, by slug (small: mesange, rouge-gorge; big: heron, albatros)."""
    from arena.models import LLM

    load_catalogue(DEMO_CATALOGUE)
    return {m.slug: m for m in LLM.objects.all()}


@pytest.fixture
def clear_cache():
    """Rate-limit counters live in the cache: start every test from zero."""
    cache.clear()
    yield
    cache.clear()


def _visitor(**extra) -> Visitor:
    return Visitor.objects.create(id=uuid.uuid4(), terms_accepted_at=timezone.now(), **extra)


def _client_for(visitor: Visitor) -> Client:
    client = Client()
    client.cookies[COOKIE] = str(visitor.pk)
    return client


@pytest.fixture
def owner(db) -> Visitor:
    return _visitor()


@pytest.fixture
def stranger(db) -> Visitor:
    return _visitor()


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def stranger_client(stranger) -> Client:
    return _client_for(stranger)


@pytest.fixture
def make_battle(catalogue, owner):
    """Build a battle in the database.

    `turns` is a list of per-turn (status_a, status_b); the energy of a side is split
    evenly over its finished answers. `vote` casts a stored vote (choice) directly.
    """

    def make(
        *,
        model_a: str = "heron",
        model_b: str = "mesange",
        visitor: Visitor | None = None,
        turns=(("done", "done"),),
        energy_a_j: float = 7.2,
        energy_b_j: float = 3.6,
        vote: str | None = None,
        leak_flagged: bool = False,
        mode: str = "random",
    ) -> Battle:
        battle = Battle.objects.create(
            visitor=visitor or owner,
            mode=mode,
            model_a=catalogue[model_a],
            model_b=catalogue[model_b],
            leak_flagged=leak_flagged,
            leak_detail="side a" if leak_flagged else "",
        )
        for index, statuses in enumerate(turns):
            turn = Turn.objects.create(battle=battle, index=index, prompt=f"Question {index}")
            for side, status, total_j in (("a", statuses[0], energy_a_j), ("b", statuses[1], energy_b_j)):
                finished = status in ("done", "stopped")
                message = Message.objects.create(
                    turn=turn,
                    side=side,
                    status=status,
                    content=f"Answer {index} {side}" if finished else "",
                    html=f"<p>Answer {index} {side}</p>" if finished else "",
                    error_code="worker_unavailable" if status == "error" else "",
                    prompt_tokens=10 if finished else None,
                    completion_tokens=16 if finished else None,
                    duration_ms=500 if finished else None,
                    finished_at=timezone.now() if finished else None,
                )
                if finished:
                    add_attempt(message, energy_record(total_j / len(turns)), outcome=status)
                elif status == "streaming":  # a try in flight, its task alive
                    add_attempt(message, None, outcome="streaming")
        if vote is not None:
            Vote.objects.create(battle=battle, choice=vote, tags={"a": [], "b": []}, comments={"a": "", "b": ""})
            battle.voted_at = timezone.now()
            battle.save(update_fields=["voted_at"])
        return battle

    return make
