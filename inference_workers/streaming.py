"""A streaming response that notices a client leaving, whatever the ASGI server.

Starlette only sees a disconnect when a write fails (ASGI 2.4) or through a listener
(older specs). Here a listener always runs beside the stream; when the client goes,
the stream task is cancelled, so the generator's `finally` closes the upstream request
at once: no engine time is spent on an answer nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class DisconnectAwareStreamingResponse(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def pump() -> None:
            try:
                await self.stream_response(send)
            finally:
                aclose = getattr(self.body_iterator, "aclose", None)
                if aclose is not None:
                    await aclose()

        stream = asyncio.create_task(pump())
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        done, _ = await asyncio.wait({stream, listener}, return_when=asyncio.FIRST_COMPLETED)
        if stream in done:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            with contextlib.suppress(OSError):  # the client left during the last write
                stream.result()
            return
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await stream
