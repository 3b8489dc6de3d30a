"""Chat completions through the engine, metered per request.

The engine is always asked for a stream (with usage), whatever the client asked: the
meter needs to see tokens as they come, and a stream can be aborted mid-answer. A
non-streaming client gets the stream gathered into one body. Either way the energy
record rides next to `usage`: on the final chunk, or in the body.

An engine that runs one request at a time (`transformers serve` without continuous
batching) gets one at a time: the others wait here, in arrival order, where the meter
knows they are waiting and charges them nothing; in the engine's own queue they would
look like requests in prefill and take a share of the running one's energy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from .attribution import RequestEnergy
from .meter import Meter
from .metrics import WorkerMetrics
from .protocol import APIError, ChatCompletionRequest, ChatMessage, FinishedRequest, Usage
from .sse import sse_json

# A rough heuristic, not a measurement: OpenAI's rule of thumb "1 token ~= 4 chars in
# English" (help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them), for
# OpenAI's tokenizers; the same article shows another language using more tokens per
# character (Spanish "Cómo estás": 5 tokens for 10 characters), and each model's tokenizer
# differs, so a French prompt may be undercounted. Used only (1) as a request's prompt weight in the
# prefill intervals split before the engine's own count arrives with its usage, at the end
# (`Meter.begin`; `Meter.finish` corrects the intervals not yet split), and (2) as the
# prompt_tokens of a record the engine sent no usage for (aborted or failed).
CHARS_PER_TOKEN = 4
KEPT_RECORDS = 10_000  # finished requests whose energy can still be asked for by id
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# vLLM's floor for a sampling temperature: below it, logits / temperature overflow to inf
# and the engine fails on a NaN probability (transformers serve did at 1e-300).
MIN_SAMPLING_TEMPERATURE = 1e-2
# What `transformers serve --continuous-batching` cannot apply per request: it takes them
# from the first request it serves and applies them to every later one.
SHARED_SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "logit_bias",
)


def request_id(header: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a fresh one."""
    return header if header and REQUEST_ID.match(header) else uuid.uuid4().hex


def _engine_message(message: ChatMessage) -> dict:
    """A message as every engine reads it: content as one string (text parts joined, as
    counted toward the limit), and OpenAI's newer "developer" role as the "system" role that
    chat templates know (the tiny models' template fails on any other role)."""
    out = {"role": "system" if message.role == "developer" else message.role, "content": message.text()}
    if message.name is not None:
        out["name"] = message.name
    return out


@dataclass
class Limits:
    max_tokens: int = 1024
    max_prompt_chars: int = 32_000
    stall_timeout_s: float = 120.0  # no byte from the engine for this long (queue included): give up


@dataclass
class _EngineStream:
    """What the relay saw of one engine stream, read when its energy is settled."""

    rid: str  # the meter's id for the request: a client may reuse its own X-Request-ID
    arrived_s: float = 0.0  # time.monotonic() when it arrived
    admitted_s: float | None = None  # when the engine took it; None while it waits for a slot
    chunk_id: str | None = None
    created: int | None = None
    usage: dict | None = None  # the engine's own token counts, on its last chunk
    counted_tokens: int = 0  # content chunks seen, for an engine that sends no usage


class ChatServing:
    def __init__(
        self,
        *,
        upstream_url: str,
        upstream_model: str,
        served_names: set[str],
        public_name: str,
        meter: Meter,
        metrics: WorkerMetrics,
        limits: Limits,
        engine_alive,
        vocab_size: int | None = None,
        engine_slots: int = 0,
        shared_sampling: bool = False,
    ):
        self.upstream_url = upstream_url.rstrip("/")
        self.upstream_model = upstream_model
        self.served_names = served_names
        self.public_name = public_name
        self.meter = meter
        self.metrics = metrics
        self.limits = limits
        self.engine_alive = engine_alive  # () -> bool
        self.vocab_size = vocab_size  # the model's, where known: bounds logit_bias's token ids
        # Requests the engine runs at once (0: as many as come); the rest wait in arrival order.
        self._slots = asyncio.Semaphore(engine_slots) if engine_slots > 0 else None
        self.queued = 0  # requests waiting for a slot now
        self.shared_sampling = shared_sampling  # the engine applies one sampling setting to all
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5.0, read=limits.stall_timeout_s, write=10.0, pool=10.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self._inflight: dict[str, httpx.Response] = {}
        # A client that aborts a stream never sees its final chunk; it can ask for the
        # energy its request used by id (GET /v1/requests/<id>).
        self.finished: OrderedDict[str, FinishedRequest] = OrderedDict()

    async def close(self) -> None:
        await self.client.aclose()

    # -- validation ---------------------------------------------------------------
    def check(self, req: ChatCompletionRequest) -> None:
        if req.model not in self.served_names:
            raise APIError(
                404,
                f"the model {req.model!r} does not exist on this worker; it serves {self.public_name!r}",
                code="model_not_found",
                param="model",
            )
        max_tokens = req.max_completion_tokens or req.max_tokens
        if max_tokens is not None and max_tokens > self.limits.max_tokens:
            raise APIError(
                400,
                f"max_tokens is {max_tokens}, above this worker's limit of {self.limits.max_tokens}",
                code="max_tokens_too_large",
                param="max_tokens",
            )
        if req.n != 1:
            raise APIError(400, "only n=1 is supported", code="invalid_parameter", param="n")
        if self.shared_sampling:
            for name in SHARED_SAMPLING_FIELDS:
                if getattr(req, name) not in (None, [], {}):
                    raise APIError(
                        400,
                        f"{name} is not supported by this worker: its engine (transformers serve with continuous "
                        "batching) applies one sampling setting to every request",
                        code="unsupported_parameter",
                        param=name,
                    )
        if req.prompt_chars() > self.limits.max_prompt_chars:
            raise APIError(
                413,
                f"the prompt has {req.prompt_chars()} characters, above this worker's limit of "
                f"{self.limits.max_prompt_chars}",
                code="prompt_too_long",
                param="messages",
            )
        if req.logit_bias and self.vocab_size is not None:
            outside = [token for token in req.logit_bias if int(token) >= self.vocab_size]
            if outside:
                raise APIError(
                    400,
                    f"logit_bias names token {outside[0]}, outside this model's vocabulary of {self.vocab_size}",
                    code="invalid_parameter",
                    param="logit_bias",
                )
        if not self.engine_alive():
            raise APIError(503, "the inference engine is down", type="engine_unavailable", code="engine_down")

    def _upstream_body(self, req: ChatCompletionRequest) -> dict:
        """What the engine gets: only fields it honours, in the one shape every engine reads."""
        body = req.model_dump(
            exclude_none=True, exclude={"messages", "n", "user", "stream_options", "max_completion_tokens"}
        )
        body["model"] = self.upstream_model
        body["messages"] = [_engine_message(m) for m in req.messages]
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        body["max_tokens"] = req.max_completion_tokens or req.max_tokens or self.limits.max_tokens
        if req.temperature:
            body["temperature"] = max(req.temperature, MIN_SAMPLING_TEMPERATURE)
        for empty_means_none in ("stop", "logit_bias"):  # an engine fails on an empty one
            if not body.get(empty_means_none):
                body.pop(empty_means_none, None)
        return body

    # -- the metered stream ---------------------------------------------------------
    async def _metered_chunks(self, req: ChatCompletionRequest, public_id: str) -> AsyncIterator[dict]:
        """Chunks from the engine, metered; ends with the usage-and-energy chunk.

        Whatever ends the stream (its last chunk, an error, the client leaving, in the
        queue or on the engine), the request's energy is settled, and kept under
        `public_id` (the X-Request-ID)."""
        seen = _EngineStream(rid=uuid.uuid4().hex, arrived_s=time.monotonic())
        outcome = "aborted"  # unless the stream ends or fails on its own
        try:
            async with self._engine_slot():
                seen.admitted_s = time.monotonic()
                self.meter.begin(seen.rid, req.prompt_chars() / CHARS_PER_TOKEN)
                self.metrics.inflight.inc()
                # aclosing: a client that leaves closes the engine's stream now, not when
                # the garbage collector gets to it.
                async with contextlib.aclosing(self._relay_engine_stream(req, seen)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            outcome = "ok"
        except APIError:
            outcome = "error"
            raise
        finally:
            # Settled before the next request in the queue begins: the slot is released
            # here, and the waiter only runs at the event loop's next turn.
            finished = self._settle_energy(req, public_id, seen, outcome)
        yield {
            "id": seen.chunk_id or f"chatcmpl-{seen.rid}",
            "object": "chat.completion.chunk",
            "created": seen.created or int(time.time()),
            "model": self.public_name,
            "choices": [],
            "usage": finished.usage.model_dump(),
            "energy": finished.energy.model_dump(),
        }

    @contextlib.asynccontextmanager
    async def _engine_slot(self) -> AsyncIterator[None]:
        """Hold one of the engine's slots, waiting for it in arrival order (asyncio's
        semaphore is first come, first served) no longer than the stall timeout."""
        if self._slots is None:
            yield
            return
        self.queued += 1
        self.metrics.queued.inc()
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.stall_timeout_s)
        except TimeoutError:
            raise APIError(
                504,
                f"the inference engine was busy for {self.limits.stall_timeout_s:g} s (queued too long)",
                type="engine_timeout",
                code="engine_timeout",
            ) from None
        finally:
            self.queued -= 1
            self.metrics.queued.dec()
        try:
            yield
        finally:
            self._slots.release()

    async def _relay_engine_stream(self, req: ChatCompletionRequest, seen: _EngineStream) -> AsyncIterator[dict]:
        """The engine's chunks under the public model name, each content chunk counted by
        the meter; the engine's usage is kept in `seen`, not relayed. Failures become APIError."""
        try:
            async with self.client.stream(
                "POST", self.upstream_url + "/v1/chat/completions", json=self._upstream_body(req)
            ) as resp:
                if resp.status_code != 200:
                    detail = (await resp.aread()).decode(errors="replace")[:500]
                    raise APIError(
                        502 if resp.status_code >= 500 else resp.status_code,
                        f"the engine answered {resp.status_code}: {detail}",
                        type="engine_error",
                        code="engine_error",
                    )
                self._inflight[seen.rid] = resp
                async for chunk in sse_json(resp):
                    if "error" in chunk:
                        raise APIError(
                            502, f"the engine failed: {chunk['error']}", type="engine_error", code="engine_error"
                        )
                    seen.chunk_id = seen.chunk_id or chunk.get("id")
                    seen.created = seen.created or chunk.get("created")
                    if chunk.get("usage"):
                        seen.usage = chunk["usage"]
                    choices = chunk.get("choices") or []
                    if any((c.get("delta") or {}).get("content") for c in choices):
                        if seen.counted_tokens == 0:
                            self.meter.first_token(seen.rid)
                        self.meter.add_tokens(seen.rid, 1)
                        seen.counted_tokens += 1
                    if choices:
                        chunk["model"] = self.public_name
                        chunk.pop("usage", None)  # usage goes on the final chunk only
                        yield chunk
        except httpx.ReadTimeout:
            raise APIError(
                504,
                f"the inference engine sent nothing for {self.limits.stall_timeout_s:g} s (queued too long or stalled)",
                type="engine_timeout",
                code="engine_timeout",
            ) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise APIError(
                503,
                f"the inference engine stopped answering: {type(exc).__name__}",
                type="engine_unavailable",
                code="engine_down",
            ) from None
        finally:
            self._inflight.pop(seen.rid, None)
        if seen.usage is None and not self.engine_alive():
            # A clean end of stream without usage from a dead engine is a cut-off.
            raise APIError(
                503, "the inference engine stopped mid-answer", type="engine_unavailable", code="engine_down"
            )

    def _settle_energy(
        self, req: ChatCompletionRequest, public_id: str, seen: _EngineStream, outcome: str
    ) -> FinishedRequest:
        """Close the request in the meter, count its tokens, and keep what it used by id.

        The engine's usage is the truth where it sent one; otherwise (aborted, failed)
        the prompt is estimated from its characters and the answer from the chunks seen."""
        engine_usage = seen.usage or {}
        prompt_tokens = engine_usage.get("prompt_tokens")
        completion_tokens = engine_usage.get("completion_tokens")
        if seen.admitted_s is None:  # left (or timed out) in the queue: the engine never ran it
            used = RequestEnergy(energy_j=0.0, duration_s=0.0, avg_concurrency=0.0, counted_tokens=0)
            queued_s = time.monotonic() - seen.arrived_s
        else:
            self.metrics.inflight.dec()
            used = self.meter.finish(seen.rid, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            queued_s = seen.admitted_s - seen.arrived_s
        if prompt_tokens is None:
            prompt_tokens = round(req.prompt_chars() / CHARS_PER_TOKEN)
        if completion_tokens is None:
            completion_tokens = seen.counted_tokens
        self.metrics.requests.labels(outcome=outcome).inc()
        self.metrics.prompt_tokens.inc(prompt_tokens)
        self.metrics.completion_tokens.inc(completion_tokens)
        finished = FinishedRequest(
            id=public_id,
            outcome=outcome,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            energy=self.meter.record(
                used, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, queued_s=queued_s
            ),
        )
        self._keep_finished(finished)
        return finished

    def _keep_finished(self, finished: FinishedRequest) -> None:
        self.finished[finished.id] = finished
        self.finished.move_to_end(finished.id)
        while len(self.finished) > KEPT_RECORDS:
            self.finished.popitem(last=False)

    async def stream(self, req: ChatCompletionRequest, public_id: str) -> AsyncIterator[bytes]:
        """Server-sent events for a streaming client; errors become an error event."""
        try:
            # aclosing: a client that leaves settles its energy now, not at garbage collection.
            async with contextlib.aclosing(self._metered_chunks(req, public_id)) as chunks:
                async for chunk in chunks:
                    yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()
        except APIError as exc:
            yield f"data: {json.dumps(exc.body())}\n\n".encode()
        yield b"data: [DONE]\n\n"

    async def complete(self, req: ChatCompletionRequest, public_id: str) -> dict:
        """One body for a non-streaming client, gathered from the engine's stream."""
        parts: list[str] = []
        finish_reason = None
        final: dict = {}
        async for chunk in self._metered_chunks(req, public_id):
            for choice in chunk.get("choices") or []:
                parts.append((choice.get("delta") or {}).get("content") or "")
                finish_reason = choice.get("finish_reason") or finish_reason
            final = chunk
        return {
            "id": final.get("id"),
            "object": "chat.completion",
            "created": final.get("created"),
            "model": self.public_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(parts)},
                    "finish_reason": finish_reason or "stop",
                }
            ],
            "usage": final.get("usage"),
            "energy": final.get("energy"),
        }

    @property
    def in_flight(self) -> int:
        """Requests streaming from the engine now."""
        return len(self._inflight)

    async def abort_all(self) -> None:
        """The engine is gone: end every request in flight now rather than at a timeout."""
        for resp in list(self._inflight.values()):
            await resp.aclose()
