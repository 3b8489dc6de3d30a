"""NUL characters at the HTTP edge: PostgreSQL text cannot hold U+0000, so a prompt, a comment
or a workshop code carrying one would fail at the database with a 500 (SQLite stores it). It is
refused where it comes in instead: in a JSON body (`arena.api.parse_body`, 400 `invalid_json`)
and in a URL's path or query string (this middleware, 400 `invalid_url`). Found by fuzzing
docs/openapi.yaml (tests/test_openapi.py) on PostgreSQL.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext as _

NUL = "\x00"


def contains_nul(data) -> bool:
    """Whether a decoded JSON value holds a NUL character in any string, keys included.
    Iterative: a body nested as deep as the JSON parser allows must not exhaust the stack."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if NUL in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


class RefuseNulInUrlMiddleware:
    """400 `invalid_url` for a path or query string that decodes to a NUL character."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.GET  # decoded; a malformed query string decodes with replacement characters
        if NUL in request.path_info or any(NUL in k or any(NUL in v for v in query.getlist(k)) for k in query):
            # JSON everywhere, the API's error shape: no page is reached by such an address.
            message = _("The address contains a NUL character.")
            return JsonResponse({"error": {"code": "invalid_url", "message": message}}, status=400)
        return self.get_response(request)
