"""Who is asking: a random cookie id per browser, and a salted hash of the IP for rate limits.

The raw IP is never stored: it is hashed with a secret salt and only used as a cache key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid

from django.conf import settings

COOKIE = "arena_visitor"
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def _parse(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


class VisitorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        visitor_id = _parse(request.COOKIES.get(COOKIE))
        fresh = visitor_id is None
        request.visitor_id = visitor_id or str(uuid.uuid4())
        response = self.get_response(request)
        if fresh:
            response.set_cookie(
                COOKIE,
                request.visitor_id,
                max_age=COOKIE_MAX_AGE_S,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response


def visitor_id_from_scope(scope) -> str | None:
    """The visitor of a WebSocket connection (cookies parsed by Channels' CookieMiddleware)."""
    return _parse((scope.get("cookies") or {}).get(COOKIE))


def ip_hash(ip: str) -> str:
    """The network a request comes from, salted and hashed (the raw address is never stored):
    an IPv4 address, or an IPv6 address's /64, the block one subscriber gets. Hashed whole, an
    IPv6 address would let anyone with a /64 rotate past every per-network limit."""
    return hashlib.sha256(f"{settings.ARENA_IP_HASH_SALT}:{network_of(ip)}".encode()).hexdigest()[:32]


def network_of(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:  # ::ffff:1.2.3.4 is that IPv4 client
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def forwarded_client(peer: str, forwarded_for: str | None, hops: int) -> str:
    """The client's address behind `hops` trusted reverse proxies (ARENA_TRUST_X_FORWARDED_FOR).

    Each proxy appends the address it received the request from, so with N proxies the
    client is the N-th entry from the right; anything further left was written by the
    client and proves nothing. A request that went through fewer proxies has fewer
    entries: the left-most is then the farthest address a proxy saw. No header, or an
    entry that is not an IP address: the socket's peer."""
    if hops <= 0 or not forwarded_for:
        return peer
    entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
    if not entries:
        return peer
    return _ip_address(entries[-hops] if len(entries) >= hops else entries[0]) or peer


def _ip_address(value: str) -> str | None:
    """`value` as an IP address, with a port some proxies add (1.2.3.4:56, [::1]:80) dropped."""
    candidates = [value]
    if value.startswith("[") and "]" in value:
        candidates.append(value[1 : value.index("]")])
    elif value.count(":") == 1:
        candidates.append(value.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def client_ip(request) -> str:
    """The address rate limits count: the socket's peer, or behind trusted proxies the
    address they forwarded (`forwarded_client`)."""
    return forwarded_client(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.ARENA_TRUST_X_FORWARDED_FOR,
    )


class ForwardedClientMiddleware:
    """ASGI middleware for WebSockets: the scope's client becomes the address the trusted
    proxies forwarded, so that the per-network socket caps count people, not the proxy.
    (HTTP views read it through `client_ip`.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        hops = settings.ARENA_TRUST_X_FORWARDED_FOR
        if hops and scope["type"] == "websocket":
            values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"x-forwarded-for"]
            peer, port = scope.get("client") or ("", 0)
            client = forwarded_client(peer, ",".join(values), hops)
            if client != peer:
                scope = {**scope, "client": (client, port)}
        return await self.app(scope, receive, send)


class FrenchFirstLocaleMiddleware:
    """French unless the person picked another language with the switcher (a cookie).

    Unlike Django's LocaleMiddleware, the browser's Accept-Language is not followed: the
    arena is French first, and English is one click away."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils import translation

        lang = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if lang not in dict(settings.LANGUAGES):
            lang = settings.LANGUAGE_CODE
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", lang)
        kept = getattr(request, "keep_language", None)  # a workshop room's, for one who picked none
        if kept in dict(settings.LANGUAGES):
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                kept,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
