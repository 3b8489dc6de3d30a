"""Chat completions through the engine, metered per request.

The engine is always asked for a stream (with usage), whatever the client asked: the
meter needs to see tokens as they come, and a stream can be aborted mid-answer. A
non-streaming client gets the stream gathered into one body. Either way the energy
record rides next to `usage`: on the final chunk, or in the body.
"""

from __future__ import annotations

import json
import time
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from .meter import Meter
from .metrics import WorkerMetrics
from .protocol import APIError, ChatCompletionRequest, sse_json

CHARS_PER_TOKEN = 4  # prompt size estimate until the engine's usage arrives
KEPT_RECORDS = 10_000  # finished requests whose energy can still be asked for by id
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def request_id(header: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a fresh one."""
    return header if header and REQUEST_ID.match(header) else uuid.uuid4().hex


@dataclass
class Limits:
    max_tokens: int = 1024
    max_prompt_chars: int = 32_000
    stall_timeout_s: float = 120.0  # no byte from the engine for this long (queue included): give up


@dataclass
class _Gathered:
    usage: dict | None = None
    chunk_id: str | None = None
    created: int | None = None
    counted_tokens: int = 0
    energy: dict | None = None


class ChatServing:
    def __init__(self, *, upstream_url: str, upstream_model: str, served_names: set[str], public_name: str,
                 meter: Meter, metrics: WorkerMetrics, limits: Limits, engine_alive):
        self.upstream_url = upstream_url.rstrip("/")
        self.upstream_model = upstream_model
        self.served_names = served_names
        self.public_name = public_name
        self.meter = meter
        self.metrics = metrics
        self.limits = limits
        self.engine_alive = engine_alive  # () -> bool
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5.0, read=limits.stall_timeout_s, write=10.0, pool=10.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self._inflight: dict[str, httpx.Response] = {}
        # A client that aborts a stream never sees its final chunk; it can ask for the
        # energy its request used by id (GET /v1/requests/<id>).
        self.finished: OrderedDict[str, dict] = OrderedDict()

    async def close(self) -> None:
        await self.client.aclose()

    # -- validation ---------------------------------------------------------------
    def check(self, req: ChatCompletionRequest) -> None:
        if req.model not in self.served_names:
            raise APIError(404, f"the model {req.model!r} does not exist on this worker; it serves {self.public_name!r}",
                           code="model_not_found", param="model")
        max_tokens = req.max_completion_tokens or req.max_tokens
        if max_tokens is not None and max_tokens > self.limits.max_tokens:
            raise APIError(400, f"max_tokens is {max_tokens}, above this worker's limit of {self.limits.max_tokens}",
                           code="max_tokens_too_large", param="max_tokens")
        if req.n != 1:
            raise APIError(400, "only n=1 is supported", code="invalid_parameter", param="n")
        if req.prompt_chars() > self.limits.max_prompt_chars:
            raise APIError(413, f"the prompt has {req.prompt_chars()} characters, above this worker's limit of "
                                f"{self.limits.max_prompt_chars}", code="prompt_too_long", param="messages")
        if not self.engine_alive():
            raise APIError(503, "the inference engine is down", type="engine_unavailable", code="engine_down")

    def _upstream_body(self, req: ChatCompletionRequest) -> dict:
        body = req.model_dump(exclude_none=True)
        body["model"] = self.upstream_model
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        body.pop("max_completion_tokens", None)
        body["max_tokens"] = req.max_completion_tokens or req.max_tokens or self.limits.max_tokens
        return body

    # -- the metered stream ---------------------------------------------------------
    async def _chunks(self, req: ChatCompletionRequest, public_id: str, state: _Gathered) -> AsyncIterator[dict]:
        """Chunks from the engine, metered; ends with the usage-and-energy chunk.

        The meter knows the request by an id of ours (a client may reuse its own);
        `public_id` (the X-Request-ID) is what the finished record is kept under."""
        rid = uuid.uuid4().hex
        self.meter.begin(rid, req.prompt_chars() / CHARS_PER_TOKEN)
        self.metrics.inflight.inc()
        outcome, first = "aborted", True
        try:
            try:
                async with self.client.stream("POST", self.upstream_url + "/v1/chat/completions",
                                              json=self._upstream_body(req)) as resp:
                    if resp.status_code != 200:
                        detail = (await resp.aread()).decode(errors="replace")[:500]
                        raise APIError(502 if resp.status_code >= 500 else resp.status_code,
                                       f"the engine answered {resp.status_code}: {detail}", type="engine_error",
                                       code="engine_error")
                    self._inflight[rid] = resp
                    async for chunk in sse_json(resp):
                        if "error" in chunk:
                            raise APIError(502, f"the engine failed: {chunk['error']}", type="engine_error", code="engine_error")
                        state.chunk_id = state.chunk_id or chunk.get("id")
                        state.created = state.created or chunk.get("created")
                        if chunk.get("usage"):
                            state.usage = chunk["usage"]
                        choices = chunk.get("choices") or []
                        if any((c.get("delta") or {}).get("content") for c in choices):
                            if first:
                                self.meter.first_token(rid)
                                first = False
                            self.meter.add_tokens(rid, 1)
                            state.counted_tokens += 1
                        if choices:
                            chunk["model"] = self.public_name
                            chunk.pop("usage", None)  # usage goes on the final chunk only
                            yield chunk
            except httpx.ReadTimeout:
                raise APIError(504, f"the inference engine sent nothing for {self.limits.stall_timeout_s:g} s "
                                    "(queued too long or stalled)", type="engine_timeout", code="engine_timeout") from None
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise APIError(503, f"the inference engine stopped answering: {type(exc).__name__}",
                               type="engine_unavailable", code="engine_down") from None
            if state.usage is None and not self.engine_alive():
                # A clean end of stream without usage from a dead engine is a cut-off.
                raise APIError(503, "the inference engine stopped mid-answer", type="engine_unavailable", code="engine_down")
            outcome = "ok"
        except APIError:
            outcome = "error"
            raise
        finally:
            self._inflight.pop(rid, None)
            self.metrics.inflight.dec()
            usage = state.usage or {}
            prompt_tokens = usage.get("prompt_tokens")
            completion_tokens = usage.get("completion_tokens")
            energy = self.meter.finish(rid, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            self.metrics.requests.labels(outcome=outcome).inc()
            prompt_tokens = prompt_tokens if prompt_tokens is not None else round(req.prompt_chars() / CHARS_PER_TOKEN)
            completion_tokens = completion_tokens if completion_tokens is not None else state.counted_tokens
            self.metrics.prompt_tokens.inc(prompt_tokens)
            self.metrics.completion_tokens.inc(completion_tokens)
            state.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                           "total_tokens": prompt_tokens + completion_tokens}
            state.energy = self.meter.record(energy, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            self.finished[public_id] = {"id": public_id, "outcome": outcome, "usage": state.usage, "energy": state.energy}
            self.finished.move_to_end(public_id)
            while len(self.finished) > KEPT_RECORDS:
                self.finished.popitem(last=False)
        yield {
            "id": state.chunk_id or f"chatcmpl-{rid}",
            "object": "chat.completion.chunk",
            "created": state.created or int(time.time()),
            "model": self.public_name,
            "choices": [],
            "usage": state.usage,
            "energy": state.energy,
        }

    async def stream(self, req: ChatCompletionRequest, public_id: str) -> AsyncIterator[bytes]:
        """Server-sent events for a streaming client; errors become an error event."""
        state = _Gathered()
        try:
            async for chunk in self._chunks(req, public_id, state):
                yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()
        except APIError as exc:
            yield f"data: {json.dumps(exc.body())}\n\n".encode()
        yield b"data: [DONE]\n\n"

    async def complete(self, req: ChatCompletionRequest, public_id: str) -> dict:
        """One body for a non-streaming client, gathered from the engine's stream."""
        state = _Gathered()
        parts: list[str] = []
        finish_reason = None
        final: dict = {}
        async for chunk in self._chunks(req, public_id, state):
            for choice in chunk.get("choices") or []:
                parts.append((choice.get("delta") or {}).get("content") or "")
                finish_reason = choice.get("finish_reason") or finish_reason
            final = chunk
        return {
            "id": final.get("id"),
            "object": "chat.completion",
            "created": final.get("created"),
            "model": self.public_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                         "finish_reason": finish_reason or "stop"}],
            "usage": final.get("usage"),
            "energy": final.get("energy"),
        }

    async def abort_all(self) -> None:
        """The engine is gone: end every request in flight now rather than at a timeout."""
        for resp in list(self._inflight.values()):
            await resp.aclose()
