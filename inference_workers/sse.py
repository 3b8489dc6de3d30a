"""Reading an OpenAI-style server-sent event stream (engine -> worker, worker -> arena)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator


async def sse_json(response) -> AsyncIterator[dict]:
    """The JSON payloads of an httpx streaming response, up to `[DONE]` (or the end of
    the body: `transformers serve` sends no `[DONE]`)."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)
