"""The web's health probes, for Kubernetes and Docker: `/healthz` (ready: the database
answers) and `/livez` (alive: the process answers, nothing else is asked).

A middleware, first in MIDDLEWARE, rather than a view: a probe comes from the kubelet or
the container itself with the pod's address as Host, which ALLOWED_HOSTS does not list
(a view would answer 400), and over plain HTTP, which ARENA_HTTPS redirects. The answers
carry nothing but a status word, so skipping those checks gives nothing away. Liveness
asks nothing of the database: a database outage must take the pods out of the Service,
not restart them all.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpResponseNotAllowed, JsonResponse

READY_PATH = "/healthz"
LIVE_PATH = "/livez"


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any failure to reach or query it means "not ready"
        return False


def _probe(path: str) -> JsonResponse:
    if path == LIVE_PATH:
        return JsonResponse({"status": "ok"})
    if database_answers():
        return JsonResponse({"status": "ok", "database": "ok"})
    return JsonResponse({"status": "down", "database": "down"}, status=503)


class HealthProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info not in (READY_PATH, LIVE_PATH):
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = _probe(request.path_info)
        response["Cache-Control"] = "no-store"
        return response
