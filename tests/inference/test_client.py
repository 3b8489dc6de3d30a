"""inference.client against real workers: deltas, then an outcome whose typed energy
record round-trips worker -> arena (Attempt) -> footprint; failures as stable codes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

import footprint
from arena.models import Attempt
from inference.client import ABORTED_LOOKUP_DEADLINE_S, AnswerFailed, ModelClient
from inference.routing import Backend, backend_for
from inference_workers.engines import free_port
from inference_workers.protocol import EnergyRecord

HELLO = [{"role": "user", "content": "Bonjour, parle-moi du soleil."}]


async def test_it_streams_deltas_then_a_typed_energy_record(arena_workers):
    client = ModelClient(timeout_s=60)
    try:
        answer = client.answer(
            # The model that never ends early: a trained tiny one may end at its first token.
            Backend(arena_workers["chatty"], "chatty"),
            HELLO,
            max_tokens=12,
            request_id=uuid.uuid4().hex,
        )
        text = [delta async for delta in answer]
    finally:
        await client.aclose()
    assert text and answer.outcome is not None
    record = answer.outcome.energy
    assert isinstance(record, EnergyRecord) and record.has_figures and record.energy_j > 0
    assert record.completion_tokens == answer.outcome.completion_tokens > 0
    assert answer.ttft_ms is not None and answer.elapsed_ms() >= answer.ttft_ms


@pytest.mark.django_db
async def test_it_round_trips_the_record_through_the_database_into_footprint(arena_workers):
    client = ModelClient(timeout_s=60)
    try:
        answer = client.answer(
            Backend(arena_workers["tiny-b"], "tiny-b"), HELLO, max_tokens=8, request_id=uuid.uuid4().hex
        )
        _ = [d async for d in answer]
    finally:
        await client.aclose()
    sent = answer.outcome.energy
    attempt = Attempt(outcome="done")
    attempt.set_energy(sent)
    assert attempt.energy_record() == sent  # what the arena stores is what the worker sent
    assert (attempt.energy_j, attempt.measured, attempt.method) == (sent.energy_j, sent.measured, sent.method)
    typed = footprint.compute_impacts(attempt.energy_record())
    raw = footprint.compute_impacts(sent.model_dump(mode="json"))
    assert typed.gwp_g.value == raw.gwp_g.value > 0


async def test_it_finds_the_energy_of_an_answer_it_cut(arena_workers):
    client = ModelClient(timeout_s=60)
    backend = Backend(arena_workers["chatty"], "chatty")
    rid = uuid.uuid4().hex
    try:
        deltas = aiter(client.answer(backend, HELLO, max_tokens=500, request_id=rid))
        await anext(deltas)
        await deltas.aclose()  # the reader goes away after the first delta: the request is cut
        finished = await client.aborted_energy(backend, rid)
    finally:
        await client.aclose()
    assert finished is not None and finished.id == rid
    assert finished.outcome in ("aborted", "ok") and finished.energy.energy_j > 0


async def test_it_names_an_unreachable_worker():
    client = ModelClient(timeout_s=5)
    try:
        answer = client.answer(
            Backend(f"http://127.0.0.1:{free_port()}", "nobody"), HELLO, max_tokens=4, request_id=uuid.uuid4().hex
        )
        with pytest.raises(AnswerFailed) as failed:
            _ = [d async for d in answer]
    finally:
        await client.aclose()
    assert failed.value.code == "worker_unreachable" and answer.outcome is None


def test_it_routes_a_model_to_the_worker_its_catalogue_entry_names(monkeypatch):
    class Entry:
        slug, worker_env, worker_default_url = "heron", "WORKER_URL_HERON_TEST", "http://127.0.0.1:8104/"

    assert backend_for(Entry()) == Backend("http://127.0.0.1:8104", "heron")
    monkeypatch.setenv("WORKER_URL_HERON_TEST", "http://gpu-node-3:8000")
    assert backend_for(Entry()).url == "http://gpu-node-3:8000"


async def test_a_client_is_made_without_loading_the_certificate_store_again():
    """Each battle's socket makes a client: with the process's TLS context it takes well under a
    millisecond, where loading the certificate store took about 20 ms before the first token."""
    ModelClient(timeout_s=60)  # the first one loads the store
    started = time.perf_counter()
    clients = [ModelClient(timeout_s=60) for _ in range(20)]
    per_client_ms = (time.perf_counter() - started) * 1000 / 20
    for client in clients:
        await client.aclose()
    assert per_client_ms < 5, per_client_ms


async def test_a_nul_character_from_the_model_is_neither_shown_nor_stored():
    """PostgreSQL text cannot hold U+0000; an untrained model emitted it under load and its
    answer could not be stored. The worker here is a canned stream (a model that emits NUL on
    demand does not exist)."""
    import httpx
    import orjson

    chunks = [
        {"choices": [{"delta": {"content": "Bon\x00jour"}}]},
        {"choices": [{"delta": {"content": "\x00"}}]},
        {"choices": [{"delta": {"content": " !"}, "finish_reason": "stop"}], "usage": {"completion_tokens": 3}},
    ]
    body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

    def worker(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = ModelClient(timeout_s=10)
    client._client = httpx.AsyncClient(transport=httpx.MockTransport(worker))
    api = Backend("http://remote.example", "m", kind="api")  # unmetered: usage alone ends it
    answer = client.answer(api, HELLO, max_tokens=8, request_id=uuid.uuid4().hex)
    try:
        text = [delta async for delta in answer]
    finally:
        await client.aclose()
    assert text == ["Bonjour", " !"] and "\x00" not in "".join(text)
    assert answer.outcome.completion_tokens == 3


async def test_a_busy_worker_that_closes_a_cut_answer_late_still_gives_its_energy():
    """Seen in CI (30 battles on 2 cores): a stopped answer's record came after the lookup had
    given up, and its try kept no energy. The worker here answers its first lookup after 1.5 s
    (the lookup used to time out at 1 s and give up), then says `404` until 3 s have passed
    (the lookup used to give up after about 1 s of them), as a busy worker would. A real
    socket, since httpx enforces its timeouts in the transport."""
    rid = uuid.uuid4().hex
    energy = EnergyRecord(energy_j=2.5, method="test", prompt_tokens=5, completion_tokens=3)
    record = {
        "id": rid,
        "outcome": "aborted",
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        "energy": energy.model_dump(mode="json"),
    }
    started = time.monotonic()
    lookups: list[float] = []

    async def worker(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        lookups.append(time.monotonic() - started)
        if len(lookups) == 1:
            await asyncio.sleep(1.5)
        closed = time.monotonic() - started > 3.0
        body = json.dumps(record).encode() if closed else b'{"error": {"code": "request_not_found"}}'
        status = b"200 OK" if closed else b"404 Not Found"
        head = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (status, len(body))
        writer.write(head + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(worker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = ModelClient(timeout_s=60)
    try:
        finished = await client.aborted_energy(Backend(f"http://127.0.0.1:{port}", "busy"), rid)
    finally:
        await client.aclose()
        server.close()
    assert finished is not None and finished.id == rid and finished.energy.energy_j == 2.5
    assert len(lookups) >= 3 and lookups[-1] > 3.0
    assert time.monotonic() - started < ABORTED_LOOKUP_DEADLINE_S


async def test_the_energy_lookup_gives_up_at_once_on_a_worker_that_is_gone():
    client = ModelClient(timeout_s=60)
    started = time.monotonic()
    try:
        finished = await client.aborted_energy(Backend(f"http://127.0.0.1:{free_port()}", "gone"), uuid.uuid4().hex)
    finally:
        await client.aclose()
    assert finished is None and time.monotonic() - started < 1.0


@pytest.mark.parametrize("joules", [-0.5, float("nan"), float("inf")])
async def test_an_impossible_energy_record_fails_the_answer_where_it_arrives(joules):
    """A record with negative or non-finite joules used to be stored: the vote then committed
    and answered 500 on every retry (its reveal could not be computed), and a NaN left the
    answer "streaming" until its lease lapsed. It is the worker's error, met at once."""
    import httpx

    final = {
        "choices": [{"delta": {"content": "!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1},
        "energy": {"measured": True, "method": "nvml", "energy_j": joules, "duration_s": 0.1},
    }
    body = b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n"

    def worker(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = ModelClient(timeout_s=10)
    client._client = httpx.AsyncClient(transport=httpx.MockTransport(worker))
    metered = Backend("http://worker.example", "m")
    answer = client.answer(metered, HELLO, max_tokens=8, request_id=uuid.uuid4().hex)
    try:
        with pytest.raises(AnswerFailed) as failed:
            _ = [delta async for delta in answer]
    finally:
        await client.aclose()
    assert failed.value.code == "worker_error"
    assert EnergyRecord(energy_j=0.0).energy_j == 0.0  # zero is a figure
