"""The worker's published contract: request and response models, pydantic only.

The arena (and anyone else) imports this module to speak to a worker: it needs neither
FastAPI nor httpx. `EnergyRecord` is the project's central datum: the worker emits it on
the final chunk of every answer, the arena parses and stores it, `footprint` reads it.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The largest request body read at all (413 beyond): far above any prompt the limits allow.
MAX_BODY_BYTES = 1024 * 1024


class TextPart(BaseModel):
    """A content part. The engines behind workers read text only: an image or audio part
    is refused, not passed on to an engine that would fail on it (or ignore it)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_call_id: str | None = Field(default=None, max_length=256)

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content or [])

    def chars(self) -> int:
        """What counts toward the prompt limit: every part of the content, and the name."""
        return len(self.text()) + len(self.name or "") + len(self.tool_call_id or "")


class ChatCompletionRequest(BaseModel):
    # Only the OpenAI fields an engine here honours pass through, each with its bounds.
    # Anything else is refused (as OpenAI does): an unknown field went to the engine
    # unchecked before, and a 5 MB one went past the prompt limit. `stop` is not taken:
    # `transformers serve` fails (a 5xx) on stop strings its tokenizer cannot split.
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1)
    stream_options: dict[str, bool] | None = None  # replaced by the worker's own (usage on)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    logit_bias: dict[str, float] | None = Field(default=None, max_length=300)
    user: str | None = Field(default=None, max_length=256)

    def prompt_chars(self) -> int:
        return sum(m.chars() for m in self.messages)


class EnergyRecord(BaseModel):
    """What one request cost, as metered by the worker (DESIGN.md, "the energy record").

    `measured` is true only for a hardware counter (NVML, RAPL); a model-based figure
    (CPU time x power) says `measured: false`. A worker run with `--meter off` sends a
    record without figures: `energy_j` and friends are None, never a made-up zero.
    """

    model_config = ConfigDict(extra="ignore")  # newer workers may add fields

    measured: bool = False
    method: str = ""
    energy_j: float | None = None
    gpu_j: float | None = None
    cpu_j: float | None = None
    duration_s: float | None = None
    devices: list[str] = Field(default_factory=list)
    avg_concurrency: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    sampling_period_s: float | None = None

    @property
    def has_figures(self) -> bool:
        return self.energy_j is not None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class FinishedRequest(BaseModel):
    """`GET /v1/requests/<X-Request-ID>`: what a finished request (aborted ones included) used."""

    id: str
    outcome: Literal["ok", "error", "aborted"]
    usage: Usage
    energy: EnergyRecord


class APIError(Exception):
    """An error answered to the client as OpenAI does: {"error": {...}} with a status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def parse_chat_request(raw: bytes) -> ChatCompletionRequest:
    if len(raw) > MAX_BODY_BYTES:
        raise APIError(413, f"the request body is over {MAX_BODY_BYTES} bytes", code="request_too_large")
    try:
        data = json.loads(raw)
        # A lone surrogate decodes but cannot be sent on to the engine as UTF-8.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError) as exc:  # bad JSON, huge integers, deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise APIError(400, f"the request body is not valid JSON: {reason}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "missing":
            message = f"missing required parameter: {param}"
        else:
            message = f"invalid parameter {param}: {first['msg']}"
        raise APIError(400, message, param=param, code="invalid_parameter") from None
