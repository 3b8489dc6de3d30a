"""A worker reachable over the network bears a shared secret: every endpoint but /health and
/metrics asks for it, as `vllm serve --api-key` does, and the arena's client sends it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from inference.client import ModelClient
from inference.routing import Backend

pytestmark = pytest.mark.slow
TOKEN = "worker-secret-for-the-test"


async def test_every_endpoint_but_the_probes_wants_the_token(tiny_model, launch_worker, monkeypatch):
    worker = launch_worker(tiny_model, name="guarded", extra=["--api-key", TOKEN])
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            refused = await http.get("/v1/models", headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
            chat = await http.post(
                "/v1/chat/completions",
                json={"model": "guarded", "messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 4},
                headers=headers,
            )
            assert chat.status_code == 401
        assert (await http.get("/v1/requests/unknown", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await http.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200

    # The arena's client bears ARENA_WORKER_TOKEN, read when it sends.
    backend = Backend(url=worker.url, served_name="guarded")
    client = ModelClient(30.0)
    try:
        monkeypatch.delenv("ARENA_WORKER_TOKEN", raising=False)
        with pytest.raises(Exception, match="worker_error"):
            async for _ in client.answer(
                backend, [{"role": "user", "content": "Bonjour"}], max_tokens=4, request_id=uuid.uuid4().hex
            ):
                pass
        monkeypatch.setenv("ARENA_WORKER_TOKEN", TOKEN)
        answer = client.answer(
            backend, [{"role": "user", "content": "Bonjour"}], max_tokens=4, request_id=uuid.uuid4().hex
        )
        [t async for t in answer]
        # Served: its tokens counted and metered (a random tiny model's four tokens may all
        # decode to no text, so the text itself may be empty).
        assert answer.outcome.completion_tokens and answer.outcome.energy is not None
    finally:
        await client.aclose()
