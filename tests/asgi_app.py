"""HTTP requests through the ASGI application the server runs (`config.asgi.application`,
as daphne calls it), on the test's own event loop: unlike Django's test clients, they pass
through the server's handler and carry its event loop (config/handlers.py)."""

from __future__ import annotations

import json

from channels.testing import HttpCommunicator

CSRF_TOKEN = "t" * 32  # the cookie and the header a page's script sends


async def call_app(method: str, path: str, *, body: dict | None = None, cookies: dict | None = None, timeout=30):
    """(status, JSON body or raw bytes) of one request."""
    from config.asgi import application

    cookie = "; ".join(f"{k}={v}" for k, v in {"csrftoken": CSRF_TOKEN, **(cookies or {})}.items())
    headers = [(b"host", b"testserver"), (b"cookie", cookie.encode()), (b"x-csrftoken", CSRF_TOKEN.encode())]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        headers.append((b"content-type", b"application/json"))
    response = await HttpCommunicator(application, method, path, body=payload, headers=headers).get_response(timeout)
    try:
        return response["status"], json.loads(response["body"])
    except ValueError:
        return response["status"], response["body"]
