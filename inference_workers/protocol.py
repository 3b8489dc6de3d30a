"""The worker's published contract: request and response models, pydantic only.

The arena (and anyone else) imports this module to speak to a worker: it needs neither
FastAPI nor httpx. `EnergyRecord` is the project's central datum: the worker emits it on
the final chunk of every answer, the arena parses and stores it, `footprint` reads it.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

# The largest request body read at all (413 beyond): far above any prompt the limits allow.
MAX_BODY_BYTES = 1024 * 1024

# A token id as OpenAI's logit_bias names it: a decimal string ("50256"), nothing looser,
# since an engine turns it into an int as it comes (" 5", "abc" were 5xx there).
TokenId = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,9})$")]
# OpenAI's range for a bias; beyond it the engine's probabilities overflow (a 5xx).
TokenBias = Annotated[float, Field(ge=-100, le=100)]
# OpenAI takes up to 4 stop sequences; an empty one stops nothing and one engine fails on it.
StopSequence = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TextPart(BaseModel):
    """A content part. The engines behind workers read text only: an image or audio part
    is refused, not passed on to an engine that would fail on it (or ignore it)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    # No "tool" role nor tool_call_id: tools are not offered, so no tool answer can exist
    # (and the engines' chat templates fail on a role they do not know: a 5xx).
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    # A string arrives as one text part: one shape to count and to forward.
    content: list[TextPart] | None = None
    name: str | None = Field(default=None, max_length=256)

    @field_validator("content", mode="before")
    @classmethod
    def _text_only(cls, content):
        if content is None:
            return None
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise ValueError("content must be a string or a list of text parts")
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind != "text":
                raise ValueError(
                    f"content parts of type {kind[:40]!r} are not supported: this worker's model reads text only"
                )
        return content

    def text(self) -> str:
        """The content as the engine gets it: text parts joined by newlines (as vLLM does)."""
        return "\n".join(part.text for part in self.content or [])

    def chars(self) -> int:
        """What counts toward the prompt limit: every part of the content, and the name."""
        return len(self.text()) + len(self.name or "")


class ChatCompletionRequest(BaseModel):
    # Only the OpenAI fields an engine here honours are taken, each with its bounds;
    # anything else (tools, response_format, logprobs, audio, generation_config...) is
    # refused as OpenAI refuses an unknown argument: an unknown field went to the engine
    # unchecked before, and a 5 MB one went past the prompt limit. `n`, `user` and
    # `stream_options` are taken for clients that send them but not forwarded (n must be 1;
    # the worker asks the engine for usage itself).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str = Field(max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    stream: bool = False
    stream_options: dict[str, bool] | None = Field(default=None, max_length=8)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    # OpenAI allows -2..2, but `transformers serve` reads it as a repetition penalty of
    # 1 + frequency_penalty, which must be positive: -1 and below were a 5xx there.
    frequency_penalty: float | None = Field(default=None, gt=-1, le=2)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    # A string arrives as a list of one: one shape to check and to forward.
    stop: list[StopSequence] | None = Field(default=None, max_length=4)
    logit_bias: dict[TokenId, TokenBias] | None = Field(default=None, max_length=300)
    user: str | None = Field(default=None, max_length=256)

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, stop):
        return [stop] if isinstance(stop, str) else stop

    def prompt_chars(self) -> int:
        return sum(m.chars() for m in self.messages)


class EnergyRecord(BaseModel):
    """What one request cost, as metered by the worker (DESIGN.md, "the energy record").

    `measured` is true only for a hardware counter (NVML, RAPL); a model-based figure
    (CPU time x power) says `measured: false`. A worker run with `--meter off` sends a
    record without figures: `energy_j` and friends are None, never a made-up zero.
    `energy_j` is the main source's figure (the GPUs where NVML reads them); `cpu_j` beside
    a `gpu_j` is the host's CPU packages (RAPL) over the same intervals, not included in
    `energy_j`. `duration_s` counts from the moment the engine took the request;
    `queued_s` is the time it waited before that, charged nothing.
    """

    model_config = ConfigDict(extra="ignore")  # newer workers may add fields

    measured: bool = False
    method: str = ""
    # Joules and seconds are finite and never negative: a record that says otherwise is a
    # broken worker's, refused where it arrives rather than failing the reveal after a vote.
    energy_j: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    gpu_j: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cpu_j: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    duration_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    devices: list[str] = Field(default_factory=list)
    avg_concurrency: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    sampling_period_s: float | None = None
    queued_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)

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


def check_body_size(n_bytes: int) -> None:
    """A body over MAX_BODY_BYTES is refused (413), before it is read where its size is declared."""
    if n_bytes > MAX_BODY_BYTES:
        raise APIError(413, f"the request body is over {MAX_BODY_BYTES} bytes", code="request_too_large")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")  # Python's json takes NaN and Infinity


def parse_chat_request(raw: bytes) -> ChatCompletionRequest:
    """The request in a body, or an APIError (4xx) saying what is wrong with it: bad JSON of
    any kind, an unknown field, a value of the wrong type or out of bounds."""
    check_body_size(len(raw))
    try:
        data = json.loads(raw, parse_constant=_no_constant)
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
        raise _invalid_parameter(exc.errors()[0]) from None


def _invalid_parameter(error: dict) -> APIError:
    """OpenAI's error for pydantic's first complaint, with the parameter as a dotted path."""
    param = ".".join(str(p) for p in error["loc"] if p != "[key]")[:100] or None
    if error["type"] == "missing":
        message = f"missing required parameter: {param}"
    elif error["type"] == "extra_forbidden":
        message = f"unrecognized request argument supplied: {param}"
    else:
        message = f"invalid parameter {param}: {error['msg'].removeprefix('Value error, ')}"
    return APIError(400, message, param=param, code="invalid_parameter")
