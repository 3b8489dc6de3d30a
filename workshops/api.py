"""The workshops' JSON API: create a room, read it, run it (facilitator token), its figures
live, its frozen summary and its battles as CSV.

The facilitator proves who they are with their token: `Authorization: Bearer <token>`
(API clients) or the HttpOnly cookie set at creation or by typing the key in the facilitator
page (pages).
Errors are the arena's `{"error": {"code", "message"}}` in the visitor's language.
"""

from __future__ import annotations

import csv
from typing import Annotated, Literal

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from pydantic import Field, StrictInt, StrictStr, StringConstraints

from arena.api import _Body, api_view, parse_body
from arena.errors import ArenaError
from arena.models import Attempt, Battle, Message, Visitor
from arena.visitors import client_ip, ip_hash

from . import rules
from .models import Workshop, normalize_code
from .stats import frozen_or_live, room_stats

COOKIE_PREFIX = "arena_room_"
COOKIE_MAX_AGE_S = 7 * 24 * 3600


class WorkshopBody(_Body):
    title: Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    language: Literal["fr", "en"] = "fr"
    modes: list[StrictStr] | None = Field(default=None, max_length=8)
    models: list[StrictStr] | None = Field(default=None, max_length=50)
    zone: StrictStr | None = Field(default=None, max_length=16)
    max_participants: StrictInt | None = Field(default=None, ge=1)


class StateBody(_Body):
    state: StrictStr


def _field_errors() -> dict[str, tuple[str, str]]:
    return {
        "title": ("invalid_title", _("Give the workshop a title of 1 to 120 characters.")),
        "language": ("invalid_language", _("language must be fr or en.")),
        "modes": ("unknown_mode", _("modes must be a list of: random, frugal, david_vs_goliath, custom.")),
        "models": ("invalid_models", _("models must be a list of model identifiers.")),
        "zone": ("unknown_zone", _("zone must be an electricity zone code.")),
        "max_participants": (
            "invalid_max_participants",
            _("max_participants must be a whole number from 1 to %(n)d.") % {"n": settings.WORKSHOP_MAX_PARTICIPANTS},
        ),
        "state": ("invalid_state", _("state must be one of: open, paused, closed.")),
    }


def cookie_name(code: str) -> str:
    return COOKIE_PREFIX + normalize_code(code)  # the code in any case, as everywhere else


def facilitator_token(request, code: str) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.COOKIES.get(cookie_name(code))


def remember_facilitator(response, request, code: str, token: str, *, for_days: bool = True) -> None:
    """The facilitator's token in an HttpOnly cookie: their pages and the dashboard socket
    read it from there, so it is never in a URL the projector shows. `for_days` False: a
    session cookie, gone when the browser closes (a computer others use)."""
    response.set_cookie(
        cookie_name(code),
        token,
        max_age=COOKIE_MAX_AGE_S if for_days else None,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )


def links(request, workshop: Workshop, token: str | None = None) -> dict:
    out = {
        "code": workshop.code,
        "join_url": request.build_absolute_uri(reverse("workshop-join", args=[workshop.code])),
        "dashboard_ws": f"/ws/workshops/{workshop.code}/",
        "summary_url": request.build_absolute_uri(reverse("workshop-summary", args=[workshop.code])),
    }
    if token:
        # The link carrying the key is the contract's (`facilitator_url`), for clients that use
        # it; opened in a browser, it stays in that browser's history, its redirect too, where
        # the next person at a shared computer finds it. So the key and the page apart as well:
        # the page asks a browser without the cookie for the key, in a form (POST).
        out["facilitator_url"] = request.build_absolute_uri(
            reverse("workshop-facilitator-link", args=[workshop.code, token])
        )
        out["facilitator_key"] = token
        out["facilitator_page"] = request.build_absolute_uri(reverse("workshop-facilitator", args=[workshop.code]))
    return out


def public(workshop: Workshop) -> dict:
    return {
        "code": workshop.code,
        "title": workshop.title,
        "language": workshop.language,
        "state": workshop.state,
        "modes": workshop.modes,
        "max_participants": workshop.max_participants,
    }


def create_room(request, body: WorkshopBody) -> tuple[Workshop, str]:
    if body.max_participants is not None and body.max_participants > settings.WORKSHOP_MAX_PARTICIPANTS:
        code, message = _field_errors()["max_participants"]
        raise ArenaError(400, code, message)
    return rules.create(
        ip_hash(client_ip(request)),
        title=body.title.strip(),
        language=body.language,
        modes=list(dict.fromkeys(body.modes or [])),
        model_slugs=list(dict.fromkeys(body.models or [])),
        zone=body.zone or "",
        max_participants=body.max_participants or min(60, settings.WORKSHOP_MAX_PARTICIPANTS),
    )


# -- views ---------------------------------------------------------------------------------
@api_view("POST")
def create(request):
    body = parse_body(WorkshopBody, request, _field_errors())
    workshop, token = create_room(request, body)
    response = JsonResponse({**public(workshop), **links(request, workshop, token)}, status=201)
    remember_facilitator(response, request, workshop.code, token)
    return response


@api_view("GET")
def detail(request, code):
    workshop = rules.find(code)
    return JsonResponse({**public(workshop), **links(request, workshop)})


@api_view("POST")
def join(request, code):
    """A seat for this browser, once its person accepted the terms: the room's page posts it
    then (loading the page takes none, so a link preview or a crawler fills no seat). The
    same browser again keeps its seat."""
    workshop = rules.find(code)
    if not Visitor.objects.filter(pk=request.visitor_id, terms_accepted_at__isnull=False).exists():
        raise ArenaError(403, "terms_required", _("Please accept the terms of use first."))
    rules.join(workshop, request.visitor_id)
    return JsonResponse(public(workshop))


@api_view("POST")
def state(request, code):
    workshop = rules.as_facilitator(code, facilitator_token(request, code))
    body = parse_body(StateBody, request, _field_errors())
    workshop = rules.set_state(workshop, body.state)
    return JsonResponse(public(workshop))


@api_view("GET")
def live_stats(request, code):
    workshop = rules.as_facilitator(code, facilitator_token(request, code))
    return JsonResponse(room_stats(workshop, stats_language(request.COOKIES, workshop)))


def stats_language(cookies, workshop: Workshop) -> str:
    """The figures' language: the visitor's (cookie), else the room's. The projector's socket
    and this API give the same figures."""
    chosen = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    return chosen if chosen in dict(settings.LANGUAGES) else workshop.language


def readable_summary(request, code) -> Workshop:
    """A closed room's summary is public (a shareable link); before the close only its
    facilitator sees the figures."""
    workshop = rules.find(code)
    if not workshop.is_closed and not workshop.token_matches(facilitator_token(request, code)):
        raise ArenaError(409, "not_closed", _("The summary is published when the facilitator closes the workshop."))
    return workshop


@api_view("GET")
def summary(request, code):
    workshop = readable_summary(request, code)
    return JsonResponse(
        {**public(workshop), "frozen": bool(workshop.summary), **frozen_or_live(workshop, request.LANGUAGE_CODE)}
    )


CSV_COLUMNS = [
    "n",
    "created_at",
    "mode",
    "model_a",
    "model_b",
    "choice",
    "worth_extra_energy",
    "turns",
    "tokens_a",
    "tokens_b",
    "wh_a",
    "wh_b",
    "measured_a",
    "measured_b",
    "method_a",
    "method_b",
]


@api_view("GET")
def battles_csv(request, code):
    """The room's voted battles, one row each: no prompt, no answer, no visitor, only figures.
    An unvoted battle is left out, as from the room's figures: its row would name the models
    before the vote (to a facilitator who plays in their own room, say). Rows are numbered and
    started to the minute: a battle's id or exact time would single it out in a public dataset
    release, which publishes the same models, tokens and energy."""
    workshop = readable_summary(request, code)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="workshop-{workshop.code}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    battles = (
        Battle.objects.filter(workshop_code=workshop.code, vote__isnull=False)
        .select_related("model_a", "model_b", "vote")
        .annotate(n_turns=Count("turns"))
        .order_by("created_at")
    )
    # Per side, over its tries with a figure (as exports/frames.py `_metered`): J, every one
    # measured, their methods. A side none of whose tries has a figure is absent: its wh,
    # measured and method cells stay empty ("not measured", never 0 Wh).
    energy: dict = {}
    for battle_id, side, joules, measured, method in Attempt.objects.filter(
        message__turn__battle__workshop_code=workshop.code, energy_j__isnull=False
    ).values_list("message__turn__battle_id", "message__side", "energy_j", "measured", "method"):
        total, all_measured, methods = energy.get((battle_id, side), (0.0, True, set()))
        energy[(battle_id, side)] = (total + joules, all_measured and bool(measured), methods | ({method} - {""}))
    tokens: dict = {}
    for battle_id, side, n in Message.objects.filter(turn__battle__workshop_code=workshop.code).values_list(
        "turn__battle_id", "side", "completion_tokens"
    ):
        tokens[(battle_id, side)] = tokens.get((battle_id, side), 0) + (n or 0)
    for n, battle in enumerate(battles, start=1):
        vote = getattr(battle, "vote", None)
        started = battle.created_at.replace(second=0, microsecond=0).isoformat(timespec="minutes")
        row = [n, started, battle.mode, battle.model_a.slug, battle.model_b.slug]
        row += [
            vote.choice if vote else "",
            "" if vote is None or vote.worth_extra_energy is None else vote.worth_extra_energy,
        ]
        row.append(battle.n_turns)
        row += [tokens.get((battle.id, s), 0) for s in ("a", "b")]
        sides = [energy.get((battle.id, s)) for s in ("a", "b")]
        row += ["" if e is None else round(e[0] / 3600.0, 6) for e in sides]
        row += ["" if e is None else e[1] for e in sides]
        row += ["" if e is None else "+".join(sorted(e[2])) for e in sides]
        writer.writerow(row)
    return response
