"""The worker's published contract: request and response models, pydantic only.

The arena (and anyone else) imports this module to speak to a worker: it needs neither
FastAPI nor httpx. `EnergyRecord` is the project's central datum: the worker emits it on
the final chunk of every answer, the arena parses and stores it, `footprint` reads it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "".join(part.get("text", "") for part in self.content if isinstance(part, dict))
        return ""


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI fields (temperature, top_p, seed, stop...) pass through to the engine.
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1)
    stream_options: dict[str, Any] | None = None

    def prompt_chars(self) -> int:
        return sum(len(m.text()) for m in self.messages)


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

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def parse_chat_request(raw: bytes) -> ChatCompletionRequest:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
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
