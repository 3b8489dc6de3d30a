"""The worker end to end: a real `transformers serve` engine with a tiny model behind it,
running one request at a time (the worker queueing the others) or batching them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time

import httpx
import openai
import pytest

from devtools.launcher import start_worker
from inference_workers.engines import free_port
from inference_workers.power import default_sampling_period_s
from inference_workers.protocol import EnergyRecord, FinishedRequest
from tests.conftest import TEST_LOGS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine_port():
    """The port of the engine `worker` launches, so that other workers can attach to it."""
    return free_port()


@pytest.fixture(scope="module")
def worker(tiny_model, engine_port):
    handle = start_worker(
        tiny_model,
        name="tiny",
        log_dir=TEST_LOGS,
        extra=["--max-prompt-chars", "2000", "--engine-port", str(engine_port)],
        batching=False,
    )
    handle.wait_ready()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def batching_worker(tiny_model):
    handle = start_worker(tiny_model, name="tiny", log_dir=TEST_LOGS, batching=True)
    handle.wait_ready()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def unmetered_worker(worker, tiny_model, engine_port):
    """A `--meter off` worker attached to `worker`'s engine (no second engine to start)."""
    handle = start_worker(
        tiny_model,
        name="tiny",
        log_dir=TEST_LOGS,
        extra=["--upstream", f"http://127.0.0.1:{engine_port}", "--meter", "off"],
        batching=False,
    )
    handle.wait_ready()
    yield handle
    handle.stop()


def test_the_port_is_held_from_the_launch_not_from_the_engine_being_ready(worker, tiny_model, engine_port):
    """Between the launch and the worker listening (the engine loading: seconds, minutes on a GPU),
    no other process may take the worker's port; else a health check could reach that process and
    the worker, failing to bind, would die unseen (a replica "ready" but refusing every request)."""
    handle = start_worker(
        tiny_model,
        name="held",
        log_dir=TEST_LOGS,
        extra=["--upstream", f"http://127.0.0.1:{engine_port}", "--meter", "off"],
        batching=False,
    )
    try:
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", handle.port))
        handle.wait_ready()
        assert httpx.get(handle.url + "/health").json()["model"] == "held"
    finally:
        handle.stop()


def final_chunk(url: str, request_id: str) -> dict:
    """The last data chunk of a streamed answer: the one with usage and energy."""
    chunks = []
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        headers={"X-Request-ID": request_id},
        timeout=60,
        json={"model": "tiny", "stream": True, "max_tokens": 6, "messages": [{"role": "user", "content": "Bonjour"}]},
    ) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line[6:]))
    return chunks[-1]


def metrics(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(arena_worker_\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if match:
            values[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return values


def test_it_streams_through_the_official_openai_client(worker):
    client = openai.OpenAI(base_url=worker.url + "/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Comment économiser l'énergie ?"}],
        stream=True,
        max_tokens=20,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    # Text, unless the tiny trained model ended at its first token (an empty answer, now and then).
    assert text.strip() or (finish == ["stop"] and final.usage.completion_tokens == 1), (text, finish)
    assert final.usage.completion_tokens > 0 and final.usage.prompt_tokens > 0
    energy = final.model_extra["energy"]
    assert energy["energy_j"] > 0 and energy["duration_s"] > 0
    assert energy["measured"] is False and energy["method"] == "cpu-time-model"  # no GPU, no RAPL here
    assert energy["completion_tokens"] == final.usage.completion_tokens
    assert energy["prompt_tokens"] == final.usage.prompt_tokens
    assert energy["cpu_j"] == energy["energy_j"] and energy["gpu_j"] is None


def test_it_answers_a_non_streaming_request_with_energy(worker):
    body = httpx.post(
        worker.url + "/v1/chat/completions",
        json={"model": "tiny", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8},
        timeout=60,
    ).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] <= 8
    assert body["energy"]["energy_j"] > 0


@pytest.mark.parametrize(
    "payload,status,code",
    [
        (b"{not json", 400, "invalid_json"),
        (b'["a list"]', 400, "invalid_json"),
        (b'{"model": "tiny"}', 400, "invalid_parameter"),
        (b'{"model": "tiny", "messages": []}', 400, "invalid_parameter"),
        (b'{"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}', 404, "model_not_found"),
        (
            b'{"model": "tiny", "max_tokens": 100000, "messages": [{"role": "user", "content": "hi"}]}',
            400,
            "max_tokens_too_large",
        ),
        (
            json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "x" * 2001}]}).encode(),
            413,
            "prompt_too_long",
        ),
    ],
)
def test_it_rejects_bad_input_the_openai_way(worker, payload, status, code):
    resp = httpx.post(
        worker.url + "/v1/chat/completions", content=payload, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["code"] == code and error["message"]


def test_it_lists_its_model_and_reports_health_and_metrics(worker):
    assert [m["id"] for m in httpx.get(worker.url + "/v1/models").json()["data"]] == ["tiny"]
    health = httpx.get(worker.url + "/health").json()
    assert health["status"] == "ok" and health["engine"]["up"] is True
    assert health["meter"] == {
        "method": "cpu-time-model",
        "measured": False,
        "devices": health["meter"]["devices"],
        "sampling_period_s": default_sampling_period_s(),
        "host_cpu": None,  # no GPU, so no RAPL beside it
    }
    assert health["engine"]["continuous_batching"] is False and health["engine"]["slots"] == 1
    values = metrics(worker.url)
    for name in (
        "arena_worker_energy_charged_joules",
        "arena_worker_energy_idle_joules",
        "arena_worker_power_watts",
        "arena_worker_prompt_tokens_total",
    ):
        assert name in values


def test_it_keeps_the_energy_of_finished_requests_by_request_id(worker):
    resp = httpx.post(
        worker.url + "/v1/chat/completions",
        headers={"X-Request-ID": "battle-42-a"},
        json={"model": "tiny", "messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 6},
        timeout=60,
    )
    assert resp.headers["x-request-id"] == "battle-42-a"
    kept = httpx.get(worker.url + "/v1/requests/battle-42-a").json()
    assert kept["outcome"] == "ok" and kept["energy"] == resp.json()["energy"]
    missing = httpx.get(worker.url + "/v1/requests/never-seen")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "request_not_found"
    odd = httpx.post(
        worker.url + "/v1/chat/completions",
        headers={"X-Request-ID": "../etc/passwd"},
        json={"model": "tiny", "messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 2},
        timeout=60,
    )
    assert odd.headers["x-request-id"] != "../etc/passwd"  # not a sane token: a fresh id


def test_it_sends_an_energy_record_that_parses_and_round_trips(worker):
    final = final_chunk(worker.url, "record-metered")
    record = EnergyRecord.model_validate(final["energy"])
    assert record.model_dump() == final["energy"]  # every key typed, none dropped or added
    assert record.has_figures and record.completion_tokens == final["usage"]["completion_tokens"]
    kept = FinishedRequest.model_validate(httpx.get(worker.url + "/v1/requests/record-metered").json())
    assert kept.outcome == "ok" and kept.energy == record
    assert kept.usage.model_dump() == final["usage"]


def test_it_sends_a_record_without_figures_with_the_meter_off(unmetered_worker):
    final = final_chunk(unmetered_worker.url, "record-unmetered")
    record = EnergyRecord.model_validate(final["energy"])
    assert record.model_dump() == final["energy"]
    assert not record.has_figures and record.method == "off" and record.measured is False
    assert record.gpu_j is record.cpu_j is record.duration_s is None and record.devices == []
    assert record.completion_tokens == final["usage"]["completion_tokens"] > 0
    kept = FinishedRequest.model_validate(httpx.get(unmetered_worker.url + "/v1/requests/record-unmetered").json())
    assert kept.energy == record


async def test_it_queues_requests_for_an_engine_that_runs_one_at_a_time(worker):
    async def one(client, i):
        resp = await client.post(
            worker.url + "/v1/chat/completions",
            json={"model": "tiny", "max_tokens": 8, "messages": [{"role": "user", "content": f"Question {i}"}]},
        )
        return resp.json()["energy"]

    async with httpx.AsyncClient(timeout=120) as client:
        energies = await asyncio.gather(*(one(client, i) for i in range(4)))
    assert all(e["avg_concurrency"] == 1.0 and e["energy_j"] > 0 for e in energies)  # one on the engine at a time
    assert sum(e["queued_s"] > 0 for e in energies) >= 3  # the others waited in the worker
    assert metrics(worker.url)["arena_worker_queued_requests"] == 0


async def test_it_batches_32_concurrent_streams_and_conserves_energy(batching_worker):
    worker = batching_worker
    assert httpx.get(worker.url + "/health").json()["engine"] | {"pid": None} == {
        "name": "transformers",
        "up": True,
        "pid": None,
        "upstream": None,
        "continuous_batching": True,
        "slots": 0,
    }
    before = metrics(worker.url)

    async def one(client, i):
        records = []
        async with client.stream(
            "POST",
            worker.url + "/v1/chat/completions",
            json={
                "model": "tiny",
                "stream": True,
                "max_tokens": 12,
                "messages": [{"role": "user", "content": f"Question {i}: parle-moi du soleil."}],
            },
        ) as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    assert "error" not in chunk, chunk
                    records.append(chunk)
        return records[-1]["energy"]

    async with httpx.AsyncClient(timeout=120) as client:
        energies = await asyncio.gather(*(one(client, i) for i in range(32)))
    after = metrics(worker.url)
    assert all(e["energy_j"] > 0 for e in energies)
    assert max(e["avg_concurrency"] for e in energies) > 1.5  # they really overlapped
    charged_j = after["arena_worker_energy_charged_joules"] - before["arena_worker_energy_charged_joules"]
    assert sum(e["energy_j"] for e in energies) == pytest.approx(charged_j, rel=1e-3)
    total_j = after["arena_worker_energy_read_joules"]
    assert after["arena_worker_energy_charged_joules"] + after["arena_worker_energy_idle_joules"] == pytest.approx(
        total_j, rel=1e-3
    )


def test_it_refuses_sampling_parameters_with_a_batching_engine(batching_worker):
    resp = httpx.post(
        batching_worker.url + "/v1/chat/completions",
        json={"model": "tiny", "temperature": 0.2, "messages": [{"role": "user", "content": "Bonjour"}]},
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "temperature"


def engine_cpu_ticks(pid: int) -> int:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def test_it_aborts_the_upstream_request_when_the_client_disconnects(worker, chatty_model):
    handle = start_worker(chatty_model, name="chatty", log_dir=TEST_LOGS)
    try:
        handle.wait_ready()
        engine_pid = httpx.get(handle.url + "/health").json()["engine"]["pid"]
        before = metrics(handle.url)
        async with httpx.AsyncClient(timeout=60) as client:
            async with client.stream(
                "POST",
                handle.url + "/v1/chat/completions",
                json={
                    "model": "chatty",
                    "stream": True,
                    "max_tokens": 1000,
                    "messages": [{"role": "user", "content": "Raconte une longue histoire."}],
                },
            ) as resp:
                seen = 0
                async for line in resp.aiter_lines():
                    seen += line.startswith("data: {")
                    if seen >= 5:
                        break  # leaving the block closes the connection mid-answer
        deadline = time.monotonic() + 3
        while metrics(handle.url)["arena_worker_inflight_requests"] > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        after = metrics(handle.url)
        assert after["arena_worker_inflight_requests"] == 0
        assert (
            after.get('arena_worker_requests_total{outcome="aborted"}', 0)
            == before.get('arena_worker_requests_total{outcome="aborted"}', 0) + 1
        )
        assert after["arena_worker_energy_charged_joules"] > before["arena_worker_energy_charged_joules"]
        # The engine stopped generating: its CPU time no longer grows.
        await asyncio.sleep(0.5)
        ticks = engine_cpu_ticks(engine_pid)
        await asyncio.sleep(1.0)
        assert engine_cpu_ticks(engine_pid) - ticks < 20  # < 0.2 CPU-s in 1 s; generating uses ~100
    finally:
        handle.stop()


async def test_it_ends_the_stream_with_an_error_when_the_engine_dies_then_restarts_it(chatty_model):
    handle = start_worker(chatty_model, name="doomed", log_dir=TEST_LOGS)
    try:
        handle.wait_ready()
        engine_pid = httpx.get(handle.url + "/health").json()["engine"]["pid"]
        async with httpx.AsyncClient(timeout=60) as client:
            async with client.stream(
                "POST",
                handle.url + "/v1/chat/completions",
                json={
                    "model": "doomed",
                    "stream": True,
                    "max_tokens": 1000,
                    "messages": [{"role": "user", "content": "Encore une histoire."}],
                },
            ) as resp:
                events, killed_at = [], None
                async for line in resp.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    events.append(line[6:])
                    if len(events) == 5:
                        os.kill(engine_pid, signal.SIGKILL)
                        killed_at = time.monotonic()
                ended_at = time.monotonic()
        assert killed_at is not None and ended_at - killed_at < 5
        assert events[-1] == "[DONE]"
        error = json.loads(events[-2])["error"]
        assert error["code"] == "engine_down"
        health = httpx.get(handle.url + "/health")
        assert health.status_code == 503 and health.json()["status"] == "down"
        refused = httpx.post(
            handle.url + "/v1/chat/completions",
            json={"model": "doomed", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "engine_down"

        # The worker starts its engine again; requests are served and metered once more.
        deadline = time.monotonic() + 90
        while httpx.get(handle.url + "/health").status_code != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        health = httpx.get(handle.url + "/health").json()
        assert health["status"] == "ok" and health["engine"]["pid"] != engine_pid
        again = httpx.post(
            handle.url + "/v1/chat/completions",
            timeout=60,
            json={"model": "doomed", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert again.status_code == 200 and again.json()["energy"]["energy_j"] > 0
        assert metrics(handle.url)["arena_worker_engine_restarts_total"] == 1
    finally:
        handle.stop()
