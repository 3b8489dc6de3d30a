"""Who is asking: a random cookie id per browser, and a salted hash of the IP for rate limits.

The raw IP is never stored: it is hashed with a secret salt and only used as a cache key.
"""

from __future__ import annotations

import hashlib
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
    return hashlib.sha256(f"{settings.ARENA_IP_HASH_SALT}:{ip}".encode()).hexdigest()[:32]


def client_ip(request) -> str:
    # Behind a reverse proxy set ARENA_TRUST_X_FORWARDED_FOR; otherwise the socket's peer.
    return request.META.get("REMOTE_ADDR", "")


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
        return response
