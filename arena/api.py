"""The JSON API of DESIGN.md: battles, votes, reveal, reactions (and consent).

Short function views: read the visitor, validate at the edge, call the battle rules,
answer. Errors are `{"error": {"code", "message"}}` with an HTTP status.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import battles
from .limits import LimitExceeded, check_prompt_rate
from .models import Battle, Message, Reaction, Visitor
from .visitors import client_ip, ip_hash

MAX_BODY_BYTES = 64 * 1024


def error(status: int, code: str, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": str(message)}}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def _json_body(request) -> dict | JsonResponse:
    if len(request.body) > MAX_BODY_BYTES:
        return error(413, "too_large", _("The request is too large."))
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(400, "invalid_json", _("The request body is not valid JSON."))
    if not isinstance(data, dict):
        return error(400, "invalid_json", _("The request body must be a JSON object."))
    return data


def _visitor(request) -> Visitor | None:
    return Visitor.objects.filter(pk=request.visitor_id).first()


def _battle(battle_id) -> Battle:
    return get_object_or_404(Battle.objects.select_related("model_a", "model_b"), pk=battle_id)


@require_GET
def models(request):
    """The enabled models, for custom mode only: fetched when a person picks that mode,
    so that a random battle's pages never carry a model name."""
    from .models import LLM

    return JsonResponse({"models": [{"slug": m.slug, "name": m.name, "organization": m.organization,
                                     "params_b": m.params_b} for m in LLM.objects.filter(enabled=True)]})


@require_POST
def consent(request):
    data = _json_body(request)
    if isinstance(data, JsonResponse):
        return data
    if data.get("accept_terms") is not True:
        return error(400, "terms_required", _("You need to accept the terms of use to take part."))
    visitor, _created = Visitor.objects.get_or_create(pk=request.visitor_id)
    visitor.terms_accepted_at = visitor.terms_accepted_at or timezone.now()
    visitor.publish_consent = bool(data.get("publish", False))
    visitor.save()
    return JsonResponse({"terms_accepted": True, "publish": visitor.publish_consent})


@require_POST
def create_battle(request):
    data = _json_body(request)
    if isinstance(data, JsonResponse):
        return data
    visitor = _visitor(request)
    if visitor is None or visitor.terms_accepted_at is None:
        return error(403, "terms_required", _("Please accept the terms of use first."))
    models = data.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        return error(400, "invalid_models", _("models must be a list of model identifiers."))
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        return error(400, "empty_prompt", _("Write a message first."))
    if battles.concurrent_battles(visitor.pk) >= settings.ARENA_MAX_CONCURRENT_BATTLES:
        return error(429, "too_many_battles", _("You already have %(n)d battles answering. Wait for them to finish.")
                     % {"n": settings.ARENA_MAX_CONCURRENT_BATTLES}, Retry_After="10")
    try:
        check_prompt_rate(str(visitor.pk), ip_hash(client_ip(request)))
        battle = battles.start_battle(visitor, prompt, data.get("mode") or "random", models,
                                      workshop=data.get("workshop"), language=translation.get_language() or "fr")
    except LimitExceeded as exc:
        return error(429, "rate_limited", exc.message, Retry_After=str(exc.retry_after_s))
    except battles.BattleError as exc:
        return error(exc.status, exc.code, exc.message)
    return JsonResponse({"id": str(battle.id), "ws": f"/ws/battles/{battle.id}/", "url": f"/battles/{battle.id}/"},
                        status=201)


@require_POST
def vote(request, battle_id):
    battle = _battle(battle_id)
    data = _json_body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        battles.cast_vote(battle, request.visitor_id, data)
        battle.refresh_from_db()
        return JsonResponse({"reveal": battles.build_reveal(battle, translation.get_language() or "fr")})
    except battles.BattleError as exc:
        return error(exc.status, exc.code, exc.message)


@require_GET
def reveal(request, battle_id):
    battle = _battle(battle_id)
    if str(battle.visitor_id) != request.visitor_id:
        return error(403, "not_owner", _("Only the person who started this battle can see its reveal."))
    if not battle.is_voted:
        return error(403, "not_voted", _("The models are revealed after your vote."))
    try:
        return JsonResponse(battles.build_reveal(battle, translation.get_language() or "fr", request.GET.get("zone")))
    except battles.BattleError as exc:
        return error(exc.status, exc.code, exc.message)


@require_POST
def worth(request, battle_id):
    battle = _battle(battle_id)
    data = _json_body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        vote = battles.answer_worth(battle, request.visitor_id, data.get("worth"))
    except battles.BattleError as exc:
        return error(exc.status, exc.code, exc.message)
    return JsonResponse({"worth": vote.worth_extra_energy})


@require_POST
def reaction(request, message_id):
    message = get_object_or_404(Message.objects.select_related("turn__battle"), pk=message_id)
    if str(message.turn.battle.visitor_id) != request.visitor_id:
        return error(403, "not_owner", _("Only the person who started this battle can react to its answers."))
    if message.status != Message.Status.DONE:
        return error(409, "not_finished", _("You can react once the answer is finished."))
    data = _json_body(request)
    if isinstance(data, JsonResponse):
        return data
    liked = data.get("liked")
    tags = data.get("tags") or []
    comment = data.get("comment") or ""
    if liked is not None and not isinstance(liked, bool):  # 1 == True: `in (True, False, None)` let 0 and 1 in
        return error(400, "invalid_liked", _("liked must be true, false or null."))
    if not isinstance(tags, list) or any(t not in battles.REASON_TAGS for t in tags):
        return error(400, "invalid_tags", _("Unknown reason tag. Allowed: %(tags)s.") % {"tags": ", ".join(battles.REASON_TAGS)})
    if not isinstance(comment, str) or len(comment) > battles.MAX_COMMENT_CHARS:
        return error(400, "invalid_comment", _("A comment is text of at most %(n)d characters.") % {"n": battles.MAX_COMMENT_CHARS})
    obj, _created = Reaction.objects.update_or_create(
        message=message, defaults={"liked": liked, "tags": sorted(set(tags)), "comment": comment.strip()})
    return JsonResponse({"message_id": str(message.id), "liked": obj.liked, "tags": obj.tags, "comment": obj.comment})
