"""Server-rendered pages: the arena, a battle (and its reveal), the methodology."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone, translation

import footprint

from . import battles
from .models import Battle, Message, Visitor

EXAMPLE_PROMPTS = {
    "fr": ["Explique la photosynthèse à un enfant de 10 ans.",
           "Propose un menu de saison pour quatre personnes.",
           "Comment réduire la consommation d'énergie d'un logement ?"],
    "en": ["Explain photosynthesis to a 10-year-old.",
           "Suggest a seasonal menu for four people.",
           "How can a household use less energy?"],
}


def _lang() -> str:
    return (translation.get_language() or "fr")[:2]


def _energy_totals(visitor_id: str) -> dict:
    """The visitor's running total today and the platform's total, in Wh, with an equivalent."""
    def total_wh(qs) -> float:
        return sum(m.energy_j for m in qs.only("energy", "earlier_energy")) / 3600.0

    today = timezone.localdate()
    mine = total_wh(Message.objects.filter(turn__battle__visitor_id=visitor_id, created_at__date=today, energy__isnull=False))
    # Every answer ever: summed again only when an answer was added or finished since.
    state = Message.objects.aggregate(n=Count("id"), latest=Max("finished_at"))
    key = f"platform_energy_wh:{state['n']}:{state['latest'] and state['latest'].isoformat()}"
    platform = cache.get_or_set(key, lambda: total_wh(Message.objects.filter(energy__isnull=False)), 3600)
    lang = _lang()
    return {
        "mine_wh": mine, "mine_equivalents": footprint.pick_equivalents("energy_wh", mine, lang)[:1] if mine else [],
        "platform_wh": platform,
        "platform_equivalents": footprint.pick_equivalents("energy_wh", platform, lang)[:1] if platform else [],
    }


def home(request):
    visitor = Visitor.objects.filter(pk=request.visitor_id).first()
    lang = _lang()
    return render(request, "arena/home.html", {
        "terms_accepted": bool(visitor and visitor.terms_accepted_at),
        "examples": EXAMPLE_PROMPTS.get(lang, EXAMPLE_PROMPTS["fr"]),
        "modes": battles.MODE_LABELS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
        "totals": _energy_totals(request.visitor_id),
    })


def battle_page(request, battle_id):
    battle = get_object_or_404(Battle.objects.select_related("model_a", "model_b"), pk=battle_id)
    if str(battle.visitor_id) != request.visitor_id:
        raise Http404  # someone else's battle does not exist for you
    turns = []
    for turn in battle.turns.prefetch_related("messages"):
        by_side = {m.side: m for m in turn.messages.all()}
        turns.append({"index": turn.index, "prompt": turn.prompt, "answers": [by_side["a"], by_side["b"]]})
    context = {
        "battle": battle, "turns": turns, "max_turns": settings.ARENA_MAX_TURNS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS, "tags_positive": battles.POSITIVE_TAGS,
        "tags_negative": battles.NEGATIVE_TAGS, "reveal": None,
    }
    if battle.is_voted:
        zone = request.GET.get("zone") or None
        try:
            context["reveal"] = battles.build_reveal(battle, _lang(), zone)
        except battles.BattleError:
            context["reveal"] = battles.build_reveal(battle, _lang())
        context["zone"] = context["reveal"]["a"]["impacts"]["zone"] if context["reveal"]["a"]["impacts"] else None
        context["reveal_sides"] = [("a", context["reveal"]["a"]), ("b", context["reveal"]["b"])]
    return render(request, "arena/battle.html", context)


def methodology_page(request):
    return render(request, "arena/methodology.html", {"m": footprint.methodology(_lang())})
