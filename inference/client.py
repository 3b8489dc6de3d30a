"""Stream one answer from a backend, then settle what it cost.

`ModelClient.answer(...)` returns an `AnswerStream`: iterate it for the text deltas;
once it ends, `outcome` holds the usage and the worker's typed `EnergyRecord` (none from a
remote API: its final chunk carries only the usage, asked for with `stream_options`). A failed
answer raises `AnswerFailed` with a stable code (the arena words it for people). An
answer the arena cut (stop, a closed socket) never gets its final chunk: `aborted_energy`
asks the worker for it by request id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import certifi
import httpx
from pydantic import ValidationError

from inference_workers.protocol import EnergyRecord, FinishedRequest
from inference_workers.sse import sse_json

from .routing import Backend

# How long to wait for the worker's record of an aborted request: its meter closes the
# request when it sees the disconnect, a few sampling periods later; a worker busy with
# many answers on few cores (CI: 30 battles on 2 cores) can take over a second to see it
# or to answer the lookup. A worker that refuses the connection is gone: no wait then.
ABORTED_LOOKUP_DEADLINE_S = 5.0
ABORTED_LOOKUP_PAUSE_S = 0.1


class AnswerFailed(Exception):
    """The backend could not give a whole answer. `code` is one of FAILURE_CODES."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


FAILURE_CODES = ("worker_unreachable", "engine_down", "worker_error", "cut_off", "engine_timeout")


@dataclass
class Outcome:
    """What a finished answer reports besides its text."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    energy: EnergyRecord | None = None
    ttft_ms: int | None = None


class AnswerStream:
    """The text deltas of one answer; `outcome` is filled when the stream ends cleanly."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        backend: Backend,
        messages: list[dict],
        *,
        max_tokens: int,
        request_id: str,
    ):
        self._client = client
        self.backend = backend
        self.request_id = request_id
        self._body = {"model": backend.served_name, "messages": messages, "stream": True, "max_tokens": max_tokens}
        if not backend.metered:  # a remote API reports usage in a last chunk only when asked
            self._body["stream_options"] = {"include_usage": True}
        self.outcome: Outcome | None = None
        self.chunks = 0  # content chunks received: the token count of a remote answer cut short
        self._started = time.monotonic()
        self.ttft_ms: int | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        final: dict | None = None
        try:
            async with self._client.stream(
                "POST",
                self.backend.url + "/v1/chat/completions",
                json=self._body,
                headers={"X-Request-ID": self.request_id, **self.backend.headers()},
            ) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise AnswerFailed("engine_down" if resp.status_code == 503 else "worker_error")
                async for chunk in sse_json(resp):
                    if "error" in chunk:
                        raise AnswerFailed((chunk["error"] or {}).get("code") or "worker_error")
                    if chunk.get("energy") is not None or (not self.backend.metered and chunk.get("usage")):
                        final = chunk
                    for choice in chunk.get("choices") or []:
                        if choice.get("finish_reason") and not self.backend.metered and final is None:
                            final = {}  # a whole answer; a usage chunk may still follow
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            self.chunks += 1
                            if self.ttft_ms is None:
                                self.ttft_ms = int((time.monotonic() - self._started) * 1000)
                            # A model may emit U+0000 (an untrained one did, under load), which
                            # PostgreSQL text cannot hold: the answer shown is the answer stored.
                            text = text.replace("\x00", "")
                            if text:
                                yield text
        except httpx.ConnectError:
            raise AnswerFailed("worker_unreachable") from None
        except httpx.ReadTimeout:
            raise AnswerFailed("engine_timeout") from None
        except (httpx.TransportError, json.JSONDecodeError):
            raise AnswerFailed("engine_down") from None
        if final is None:
            raise AnswerFailed("cut_off")
        self.outcome = _outcome(final, self.ttft_ms, metered=self.backend.metered, chunks=self.chunks)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)


def _outcome(final: dict, ttft_ms: int | None, *, metered: bool = True, chunks: int | None = None) -> Outcome:
    """The usage and energy of a whole answer (a remote API that sent no usage: its
    content chunks stand for its tokens, one token per chunk as OpenAI streams them)."""
    usage = final.get("usage") or {}
    energy = None
    if metered:  # a remote API's answer gets its estimate in the arena, which knows the model
        try:
            energy = EnergyRecord.model_validate(final["energy"])
        except ValidationError:
            raise AnswerFailed("worker_error") from None
    return Outcome(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens", chunks),
        energy=energy,
        ttft_ms=ttft_ms,
    )


class ModelClient:
    """One HTTP client per WebSocket (or per caller); close it with `aclose`. Each socket has
    its own, so that an answer cut mid-stream (stop, a closed socket) can only ever disturb the
    connections of its own battle."""

    def __init__(self, timeout_s: float):
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=5.0), limits=_LIMITS, verify=_tls_context()
        )

    def answer(self, backend: Backend, messages: list[dict], *, max_tokens: int, request_id: str) -> AnswerStream:
        return AnswerStream(self._client, backend, messages, max_tokens=max_tokens, request_id=request_id)

    async def aborted_energy(self, backend: Backend, request_id: str) -> FinishedRequest | None:
        """The worker's record of a request we cut, once its meter has closed it (None when
        the worker itself is gone, or never closed it, or the backend is a remote API)."""
        if not backend.metered:
            return None
        deadline = time.monotonic() + ABORTED_LOOKUP_DEADLINE_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                resp = await self._client.get(
                    f"{backend.url}/v1/requests/{request_id}", timeout=left, headers=backend.headers()
                )
            except httpx.TimeoutException:
                continue  # a busy worker: ask again while there is time
            except httpx.HTTPError:
                return None  # the worker is gone
            if resp.status_code == 200:
                try:
                    return FinishedRequest.model_validate(resp.json())
                except (ValidationError, ValueError):
                    return None
            await asyncio.sleep(min(ABORTED_LOOKUP_PAUSE_S, max(deadline - time.monotonic(), 0)))
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


# Every answer streams on its own connection for as long as it lasts: no cap on how many are
# open at once (the workers queue).
_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=8)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The certificate store, loaded once per process: an `httpx.AsyncClient` made without one
    loads it again (about 20 ms, which every battle's first token waited for). The same store as
    httpx's default: certifi's."""
    return ssl.create_default_context(cafile=certifi.where())
