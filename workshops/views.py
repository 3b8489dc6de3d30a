"""Workshop pages: create a room, join it, run it, project it, print it, sum it up.

Every page works without JavaScript except the live dashboard updates. The facilitator's
key (the room's token) is shown once, on the page after the form, and kept in an HttpOnly
cookie; another browser types it in the facilitator page's form. It is in no address: not
on a projected address bar, not in a shared computer's history.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from pydantic import ValidationError

from arena.battles import MODE_LABELS
from arena.errors import ArenaError
from arena.models import LLM
from arena.nul import contains_nul
from arena.views import home_context

from . import rules
from .api import WorkshopBody, cookie_name, create_room, facilitator_token, links, remember_facilitator
from .models import Workshop, normalize_code
from .qr import qr_svg
from .stats import frozen_or_live, room_stats


def _message(request, exc: ArenaError, *, code: str = ""):
    """A refusal as a page: what happened and a box to type another code."""
    return render(request, "workshops/message.html", {"message": exc.message, "code": code}, status=exc.status)


def _room_language(request, workshop: Workshop, keep: bool = False) -> None:
    """The room's language, unless the person picked one with the switcher. `keep`: for a
    participant joining, the language stays theirs for what follows (the battle, its
    reveal: pages outside the room's address), as if they had picked it
    (`arena.visitors.FrenchFirstLocaleMiddleware` sets the cookie)."""
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
        translation.activate(workshop.language)
        request.LANGUAGE_CODE = workshop.language
        if keep:
            request.keep_language = workshop.language


def _facilitated(request, code) -> Workshop:
    workshop = rules.as_facilitator(code, facilitator_token(request, normalize_code(code)))
    _room_language(request, workshop)
    return workshop


@require_http_methods(["GET", "POST"])
def create_page(request):
    context = {"modes": MODE_LABELS, "models": LLM.objects.filter(enabled=True), "errors": {}, "values": {}}
    if request.method == "POST":
        raw = {
            "title": request.POST.get("title", ""),
            "language": request.POST.get("language", "fr"),
            "modes": request.POST.getlist("modes") or None,
            "models": request.POST.getlist("models") or None,
            # isdecimal, not isdigit: "²" is a digit that int() refuses.
            "max_participants": int(request.POST["max_participants"])
            if request.POST.get("max_participants", "").strip().isdecimal()
            else None,
        }
        context["values"] = raw
        invalid = _("Give the workshop a title of 1 to 120 characters, and a number of participants.")
        if contains_nul(raw):  # PostgreSQL text cannot hold it (the JSON API refuses it too)
            context["error"] = invalid
            return render(request, "workshops/create.html", context, status=400)
        try:
            body = WorkshopBody.model_validate(raw)
            workshop, token = create_room(request, body)
        except ValidationError:
            context["error"] = invalid
            return render(request, "workshops/create.html", context, status=400)
        except ArenaError as exc:
            context["error"] = exc.message
            return render(request, "workshops/create.html", context, status=exc.status)
        # The facilitator's key is shown here, once, before anything is projected: the
        # facilitator page itself never shows it.
        response = render(
            request, "workshops/created.html", {"room": workshop, "links": links(request, workshop, token)}, status=201
        )
        remember_facilitator(response, request, workshop.code, token)
        return response
    return render(request, "workshops/create.html", context)


def join_lookup(request):
    """The home page's "join a workshop" box: a typed code, any case, to the room."""
    code = normalize_code(request.GET.get("code", ""))
    if not code:
        return _message(request, ArenaError(400, "empty_code", _("Type the code your facilitator shows.")))
    try:  # a code no room has ("a/b") gets its message here, not an address built from it
        workshop = rules.find(code)
    except ArenaError as exc:
        return _message(request, exc)
    return HttpResponseRedirect(reverse("workshop-join", args=[workshop.code]))


def join(request, code):
    try:
        workshop = rules.find(code)
        if workshop.code != code:  # typed in lower case: one address per room
            return HttpResponseRedirect(reverse("workshop-join", args=[workshop.code]))
        _room_language(request, workshop, keep=True)
        rules.check_seat(workshop, request.visitor_id)  # the seat is taken once the terms are accepted
    except ArenaError as exc:
        closed = exc.code == "workshop_closed"
        return render(
            request,
            "workshops/message.html",
            {"message": exc.message, "code": code, "summary_code": normalize_code(code) if closed else None},
            status=410 if closed else exc.status,
        )
    context = home_context(request)
    if workshop.modes:
        context["modes"] = [(value, label) for value, label in context["modes"] if value in workshop.modes]
    context["room"] = workshop
    return render(request, "arena/home.html", context)


def _sign_in_form(request, code, target: str, *, error: str = ""):
    """A facilitator page opened without the room's key (another device, another browser):
    a form that asks for it (403: the page itself stays the facilitator's). The key goes in a
    POST body, never in an address: the browser's history keeps every address it loads,
    redirects included, and a shared computer's next user could read it there."""
    try:
        workshop = rules.find(code)
    except ArenaError as exc:
        return _message(request, exc, code=code)
    _room_language(request, workshop)
    context = {"room": workshop, "error": error, "next": "projection" if target == "workshop-dashboard" else ""}
    return render(request, "workshops/signin.html", context, status=403)


def _sign_in(request, code):
    """The key typed in that form: kept in the HttpOnly cookie, then the page asked for."""
    target = "workshop-dashboard" if request.POST.get("next") == "projection" else "workshop-facilitator"
    key = request.POST.get("key", "").strip()  # pasted with a space or a line break around it
    try:
        workshop = rules.as_facilitator(code, key)
    except ArenaError as exc:
        if exc.code != "facilitator_only":
            return _message(request, exc, code=code)
        return _sign_in_form(
            request, code, target, error=_("This key does not open this room. Copy it again from where you kept it.")
        )
    response = HttpResponseRedirect(reverse(target, args=[workshop.code]))
    # Kept for days only when asked: the form is where a shared computer signs in.
    remember_facilitator(response, request, workshop.code, key, for_days=request.POST.get("remember") == "1")
    return response


def _forget(request, code):
    """A shared computer, before its next user: the browser drops the key (the room goes on)."""
    try:
        workshop = rules.find(code)
    except ArenaError as exc:
        return _message(request, exc, code=code)
    response = HttpResponseRedirect(reverse("workshop-facilitator", args=[workshop.code]))
    response.delete_cookie(cookie_name(workshop.code), samesite="Lax")
    return response


def facilitator_link(request, code, token):
    """The API's `facilitator_url`: keep the token in a cookie, go on without it in the URL.
    The browser's history keeps this address all the same; the pages hand out the key and
    the page apart (`_sign_in_form`)."""
    try:
        workshop = rules.as_facilitator(code, token)
    except ArenaError as exc:
        return _message(request, exc)
    response = HttpResponseRedirect(reverse("workshop-facilitator", args=[workshop.code]))
    remember_facilitator(response, request, workshop.code, token)
    return response


@require_http_methods(["GET", "POST"])
def facilitator_page(request, code):
    if request.method == "POST" and "key" in request.POST:
        return _sign_in(request, code)
    if request.method == "POST" and "forget" in request.POST:
        return _forget(request, code)
    try:
        workshop = _facilitated(request, code)
        if request.method == "POST":
            workshop = rules.set_state(workshop, request.POST.get("state", ""))
            return HttpResponseRedirect(reverse("workshop-facilitator", args=[workshop.code]))
    except ArenaError as exc:
        if exc.code == "facilitator_only":
            return _sign_in_form(request, code, "workshop-facilitator")
        return _message(request, exc, code=code)
    room_links = links(request, workshop)
    context = {
        "room": workshop,
        "links": room_links,
        "qr": qr_svg(room_links["join_url"], title=_("QR code of the join address")),
        "participants": workshop.participants.count(),
    }
    return render(request, "workshops/facilitator.html", context)


def dashboard_page(request, code):
    try:
        workshop = _facilitated(request, code)
    except ArenaError as exc:
        if exc.code == "facilitator_only":
            return _sign_in_form(request, code, "workshop-dashboard")
        return _message(request, exc, code=code)
    stats = room_stats(workshop, request.LANGUAGE_CODE)
    return render(
        request,
        "workshops/dashboard.html",
        {"room": workshop, "stats": stats, "links": links(request, workshop), "projector": True},
    )


def sheet_page(request, code):
    """A printable sheet: the code, the address and the QR code, nothing secret."""
    try:
        workshop = rules.find(code)
    except ArenaError as exc:
        return _message(request, exc, code=code)
    _room_language(request, workshop)
    room_links = links(request, workshop)
    return render(
        request,
        "workshops/sheet.html",
        {"room": workshop, "links": room_links, "qr": qr_svg(room_links["join_url"], scale=10)},
    )


def summary_page(request, code):
    from .api import readable_summary

    try:
        workshop = readable_summary(request, code)
    except ArenaError as exc:
        return _message(request, exc, code=code)
    _room_language(request, workshop)
    return render(
        request,
        "workshops/summary.html",
        {"room": workshop, "stats": frozen_or_live(workshop, request.LANGUAGE_CODE), "links": links(request, workshop)},
    )
