"""The site's own error answers, in the visitor's language: under /api/ the contract's JSON
shape (`{"error": {"code", "message"}}`), elsewhere a page. Django's defaults answer in English
HTML ("Not Found", "Bad Request (400)") or, for a wrong method, with an empty body, which a
client of the API cannot show and a visitor reading French cannot read."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _


def _answer(request, status: int, code: str, message: str, title: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    return render(request, "arena/error.html", {"title": title, "message": message}, status=status)


def not_found(request, exception=None):
    return _answer(request, 404, "not_found", _("There is nothing at this address."), _("Page not found"))


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
        return _answer(request, 413, "too_large", _("The request is too large."), _("Request too large"))
    return _answer(request, 400, "bad_request", _("The request is not valid."), _("Invalid request"))


def csrf_failure(request, reason=""):
    message = _("This form's security token is missing or out of date: reload the page, then try again.")
    return _answer(request, 403, "csrf_failed", message, _("Please reload the page"))


def server_error(request):
    """Rendered without the request's context: whatever failed (the database) is not asked again."""
    message = _("Something went wrong on our side. Please try again in a moment.")
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "server_error", "message": message}}, status=500)
    html = render_to_string("arena/error_bare.html", {"title": _("Server error"), "message": message})
    return HttpResponse(html, status=500)
