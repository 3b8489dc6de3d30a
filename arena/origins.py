"""Which pages may open a battle WebSocket: the arena's own origin only.

Browsers send cookies with a cross-site WebSocket handshake, so the Origin header is the
only thing that tells our page from another site's script. Channels'
`AllowedHostsOriginValidator` compares host names only; here scheme and port count too: the
Origin must be the very origin the socket was opened on (`http://host:port` for `ws://`,
`https://` for `wss://`), or one listed in CSRF_TRUSTED_ORIGINS (a proxy that ends TLS in
front of the arena).
"""

from __future__ import annotations

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope) -> bool:
    host = _header(scope, b"host")
    origin = _header(scope, b"origin")
    if not host or not origin:
        return False
    domain, _port = split_domain_port(host)
    if not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    own = ("https" if scope.get("scheme") == "wss" else "http") + "://" + host.lower()
    return origin.lower() in {own, *(o.lower() for o in settings.CSRF_TRUSTED_ORIGINS)}


class SameOriginValidator:
    """ASGI middleware: refuse the handshake unless `origin_allowed`."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
