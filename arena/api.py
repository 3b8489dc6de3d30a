"""The JSON API of DESIGN.md: consent, battles, votes, reveal, the worth question, reactions.

Short function views: the visitor's battle through one access helper, the body checked
by a small pydantic model at the edge, the battle rules called, an answer. Errors are
`{"error": {"code", "message"}}` with an HTTP status, in the visitor's language.
"""

from __future__ import annotations

import json
import uuid
from functools import wraps
from typing import Literal

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from config.handlers import event_loop
from inference.routing import backend_for

from . import battles, early
from .consumers import least_busy
from .errors import ArenaError
from .limits import check_login_rate, check_prompt_rate
from .models import LLM, Message, Reaction, Visitor, Vote
from .nul import contains_nul
from .reveal import build_reveal
from .visitors import client_ip, ip_hash

MAX_BODY_BYTES = 64 * 1024
MAX_WORKSHOP_CHARS = 32

Tag = Literal[battles.REASON_TAGS]  # type: ignore[valid-type]
Comment = StrictStr


# -- what the API accepts ---------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ConsentBody(_Body):
    accept_terms: Literal[True]
    publish: StrictBool | None = None  # only JSON true consents: "false" is not a yes


class BattleBody(_Body):
    prompt: StrictStr
    mode: StrictStr | None = None
    models: list[StrictStr] | None = None
    workshop: StrictStr | None = Field(default=None, max_length=MAX_WORKSHOP_CHARS)


class SideTags(_Body):
    a: list[Tag] | None = None
    b: list[Tag] | None = None


class SideComments(_Body):
    a: Comment | None = Field(default=None, max_length=battles.MAX_COMMENT_CHARS)
    b: Comment | None = Field(default=None, max_length=battles.MAX_COMMENT_CHARS)


class VoteBody(_Body):
    choice: Literal[tuple(Vote.Choice.values)]  # type: ignore[valid-type]
    tags: SideTags | None = None
    comments: SideComments | None = None


class WorthBody(_Body):
    worth: StrictBool


class ReactionBody(_Body):
    liked: StrictBool | None = None
    tags: list[Tag] | None = None
    comment: Comment | None = Field(default=None, max_length=battles.MAX_COMMENT_CHARS)


def _field_errors() -> dict[str, tuple[str, str]]:
    """The code and message for a body field that failed validation (first key of its path)."""
    tags = ", ".join(battles.REASON_TAGS)
    comment = _("A comment is text of at most %(n)d characters.") % {"n": battles.MAX_COMMENT_CHARS}
    return {
        "accept_terms": ("terms_required", _("You need to accept the terms of use to take part.")),
        "publish": ("invalid_publish", _("publish must be true or false.")),
        "prompt": ("empty_prompt", _("Write a message first.")),
        "mode": ("unknown_mode", _("mode must be one of: random, frugal, david_vs_goliath, custom.")),
        "models": ("invalid_models", _("models must be a list of model identifiers.")),
        "workshop": (
            "invalid_workshop",
            _("workshop must be a workshop code of at most %(n)d characters.") % {"n": MAX_WORKSHOP_CHARS},
        ),
        "choice": ("invalid_choice", _("choice must be one of: a, b, tie, both_bad.")),
        "tags": ("invalid_tags", _("Unknown reason tag. Allowed: %(tags)s.") % {"tags": tags}),
        "comments": ("invalid_comment", comment),
        "comment": ("invalid_comment", comment),
        "worth": ("invalid_worth", _("worth must be true or false.")),
        "liked": ("invalid_liked", _("liked must be true, false or null.")),
    }


def parse_body(schema: type[_Body], request, field_errors: dict | None = None) -> _Body:
    """The JSON body checked against `schema`, or the ArenaError that says what is wrong
    (`field_errors`: code and message per field, the arena's own by default)."""
    if len(request.body) > MAX_BODY_BYTES:
        raise ArenaError(413, "too_large", _("The request is too large."))
    try:
        data = json.loads(request.body or b"{}")
        # A lone surrogate decodes but cannot be stored: refuse it here, not at the database.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError):  # bad JSON, huge integers, deep nesting
        raise ArenaError(400, "invalid_json", _("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ArenaError(400, "invalid_json", _("The request body must be a JSON object."))
    if contains_nul(data):  # valid JSON, but PostgreSQL cannot store it (arena/nul.py)
        raise ArenaError(400, "invalid_json", _("The request body contains a NUL character, which cannot be stored."))
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        code, message = (field_errors or _field_errors()).get(field, ("invalid", _("The request is not valid.")))
        raise ArenaError(400, code, message) from None


def _error_response(exc: ArenaError) -> JsonResponse:
    response = JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
    if exc.retry_after_s is not None:
        response["Retry-After"] = str(exc.retry_after_s)
    return response


def api_view(*methods: str):
    """Allowed methods, and every `ArenaError` answered as a JSON error."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:  # Django's own 405 has an empty body
                response = _error_response(
                    ArenaError(
                        405,
                        "method_not_allowed",
                        _("This address does not take %(method)s requests.") % {"method": request.method[:16]},
                    )
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except ArenaError as exc:
                return _error_response(exc)

        return wrapper

    return decorate


def _lang() -> str:
    return translation.get_language() or "fr"


# -- views ---------------------------------------------------------------------------------
@api_view("GET")
def models(request):
    """The models a battle can pick, for custom mode only: fetched when a person picks that
    mode, so that a random battle's pages never carry a model name. Enabled, and for a remote
    API, its key set (as `battles.start_battle` keeps them): a model listed is never `no_pair`."""
    enabled = LLM.objects.filter(enabled=True)
    if request.GET.get("workshop"):  # a room's own choice of models
        from workshops.rules import find

        room = find(request.GET["workshop"])
        enabled = enabled.filter(slug__in=room.model_slugs) if room.model_slugs else enabled
    return JsonResponse(
        {
            "models": [
                {"slug": m.slug, "name": m.name, "organization": m.organization, "params_b": m.params_b}
                for m in enabled
                if backend_for(m).ready
            ]
        }
    )


@api_view("POST")
def consent(request):
    body = parse_body(ConsentBody, request)
    visitor, _created = Visitor.objects.get_or_create(pk=request.visitor_id)
    visitor.terms_accepted_at = visitor.terms_accepted_at or timezone.now()
    visitor.publish_consent = body.publish is True
    visitor.save()
    return JsonResponse({"terms_accepted": True, "publish": visitor.publish_consent})


@api_view("POST")
def create_battle(request):
    """Both answers are sent on the server's event loop as soon as the pair is chosen, while
    the battle is being stored (arena/early.py). Not under the server's ASGI application
    (WSGI, Django's test clients): the socket begins them, as it did before."""
    loop = event_loop(request) if early.enabled() else None
    body = parse_body(BattleBody, request)
    visitor = Visitor.objects.filter(pk=request.visitor_id).first()
    if visitor is None or visitor.terms_accepted_at is None:
        raise ArenaError(403, "terms_required", _("Please accept the terms of use first."))
    if battles.concurrent_battles(visitor.pk) >= settings.ARENA_MAX_CONCURRENT_BATTLES:
        raise ArenaError(
            429,
            "too_many_battles",
            _("You already have %(n)d battles answering. Wait for them to finish.")
            % {"n": settings.ARENA_MAX_CONCURRENT_BATTLES},
            retry_after_s=10,
        )
    mode, chosen, room, only_models = body.mode or "random", body.models or [], None, None
    if body.workshop:  # the room lets it through (open, not full, its modes and models) and seats the visitor
        from workshops.rules import admit_battle

        room, only_models = admit_battle(body.workshop, str(visitor.pk), mode, chosen)
    # A class shares one address: in a room, the network may send as much as a full room.
    check_prompt_rate(str(visitor.pk), ip_hash(client_ip(request)), in_room=room is not None)
    begun = []

    def begin_answers(battle_id, model_a, model_b, prompt):
        backends = {"a": least_busy(backend_for(model_a)), "b": least_busy(backend_for(model_b))}
        request_ids = {side: uuid.uuid4().hex for side in backends}
        loop.call_soon_threadsafe(early.begin, battle_id, backends, prompt, request_ids)
        begun.append(battle_id)

    try:
        battle = battles.start_battle(
            visitor,
            body.prompt,
            mode,
            chosen,
            workshop=room.code if room else None,
            language=_lang(),
            only_models=only_models,
            on_pair=begin_answers if loop is not None else None,
        )
    except BaseException:
        for battle_id in begun:  # not stored: nobody will take them
            loop.call_soon_threadsafe(early.drop, battle_id, "battle not stored")
        raise
    return JsonResponse(
        {"id": str(battle.id), "ws": f"/ws/battles/{battle.id}/", "url": f"/battles/{battle.id}/"}, status=201
    )


@api_view("POST")
def vote(request, battle_id):
    battle = battles.battle_for_visitor(battle_id, request.visitor_id, action="vote")
    body = parse_body(VoteBody, request)
    tags, comments = body.tags or SideTags(), body.comments or SideComments()
    battles.cast_vote(
        battle, body.choice, {"a": tags.a or [], "b": tags.b or []}, {"a": comments.a or "", "b": comments.b or ""}
    )
    battle.refresh_from_db()
    return JsonResponse({"reveal": build_reveal(battle, _lang())})


@api_view("GET")
def reveal(request, battle_id):
    battle = battles.battle_for_visitor(battle_id, request.visitor_id, action="reveal")
    if not battle.is_voted:
        raise ArenaError(403, "not_voted", _("The models are revealed after your vote."))
    return JsonResponse(build_reveal(battle, _lang(), request.GET.get("zone")))


@api_view("POST")
def worth(request, battle_id):
    battle = battles.battle_for_visitor(battle_id, request.visitor_id, action="worth")
    body = parse_body(WorthBody, request)
    return JsonResponse({"worth": battles.answer_worth(battle, body.worth).worth_extra_energy})


@api_view("POST")
def reaction(request, message_id):
    message = Message.objects.select_related("turn").filter(pk=message_id).first()
    if message is None:
        raise ArenaError(404, "not_found", _("This answer does not exist."))
    battles.battle_for_visitor(message.turn.battle_id, request.visitor_id, action="reaction")
    body = parse_body(ReactionBody, request)
    # Once both answers of the turn ended, not this one alone: while the pacer holds an answer
    # already stored, its status read here would tell which model finished first. The turn is
    # asked first, whatever this answer's state, so that the time taken tells nothing either.
    in_progress = battles.turn_in_progress(message.turn_id)
    if in_progress or message.status != Message.Status.DONE:
        raise ArenaError(409, "not_finished", _("You can react once the answer is finished."))
    obj, _created = Reaction.objects.update_or_create(
        message=message,
        defaults={"liked": body.liked, "tags": sorted(set(body.tags or [])), "comment": (body.comment or "").strip()},
    )
    return JsonResponse({"message_id": str(message.id), "liked": obj.liked, "tags": obj.tags, "comment": obj.comment})


def throttled_admin_login(request, *args, **kwargs):
    """The admin's login page, with login attempts rate-limited per network."""
    from django.contrib import admin
    from django.http import HttpResponse

    if request.method == "POST":
        try:
            check_login_rate(ip_hash(client_ip(request)))
        except ArenaError as exc:
            return HttpResponse(
                exc.message,
                status=exc.status,
                headers={"Retry-After": str(exc.retry_after_s)},
                content_type="text/plain; charset=utf-8",
            )
    return admin.site.login(request, *args, **kwargs)
