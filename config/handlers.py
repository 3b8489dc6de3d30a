"""Django's ASGI handler, with each HTTP request's middleware and view run in one thread hop.

Every view of the arena is synchronous, and so are most of its middleware (Django's own
`MiddlewareMixin` ones, when the handler below them is synchronous). Django's `ASGIHandler`
still puts an asynchronous core under them: a request went from the event loop to the sync
thread for the outer middleware, back to the loop for the core (`async_to_sync`), to the
thread again for CSRF's `process_view`, back, to the thread for the view, and the same way
out: eight switches where two do. `OneHopASGIHandler` loads the same middleware in Django's
synchronous mode (what a WSGI server runs) and calls that whole stack through one
`sync_to_async`: about 1 ms less per request on this project's 2-core machine, each page
and each API call alike (`bench/asgi_handler.py`). Reading the body, the request signals,
disconnects and streaming responses stay Django's own (`ASGIHandler.handle`).

An async view would still work under it (Django wraps it in `async_to_sync`), at the price
of the hops saved. `ARENA_ASGI_ONE_HOP = False` serves with Django's handler unchanged.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

# The scope key under which the server's event loop reaches a view (arena/early.py sends a
# new battle's answers on it from the POST's thread).
LOOP_KEY = "arena.loop"


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def with_event_loop(app):
    """An ASGI app whose HTTP scope carries the running event loop (`LOOP_KEY`), for views
    that run in the sync thread and must start work on the loop."""

    async def app_with_loop(scope, receive, send):
        return await app({**scope, LOOP_KEY: asyncio.get_running_loop()}, receive, send)

    return app_with_loop


def event_loop(request) -> asyncio.AbstractEventLoop | None:
    """The server's event loop, for a request that came through `with_event_loop`."""
    scope = getattr(request, "scope", None)
    return scope.get(LOOP_KEY) if scope else None
