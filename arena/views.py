"""Server-rendered pages: the arena, a battle (and its reveal), the methodology."""

from __future__ import annotations

from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max, Q, Sum
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone, translation

import footprint

from . import battles
from .battles import UNFINISHED
from .errors import ArenaError
from .impacts import deployment_profile
from .models import Attempt, Message, Visitor, Vote
from .picture import bars_svg
from .reveal import build_reveal
from .templatetags.arena_format import num, wh

EXAMPLE_PROMPTS = {
    "fr": [
        "Explique la photosynthèse à un enfant de 10 ans.",
        "Propose un menu de saison pour quatre personnes.",
        "Comment réduire la consommation d'énergie d'un logement ?",
    ],
    "en": [
        "Explain photosynthesis to a 10-year-old.",
        "Suggest a seasonal menu for four people.",
        "How can a household use less energy?",
    ],
}


def _lang() -> str:
    return (translation.get_language() or "fr")[:2]


def _voted_energy(**filters) -> tuple[float, float]:
    """(Wh, Wh of measured tries) over every try of the answers of voted battles matching
    `filters` (one aggregate). Energy at the servers, as the tries store it.

    Only voted battles count: a total that moved when one side of an unvoted battle
    finished would tell that side's energy, and so its model, before the vote."""
    sums = Attempt.objects.filter(message__turn__battle__voted_at__isnull=False, **filters).aggregate(
        j=Sum("energy_j"), measured_j=Sum("energy_j", filter=Q(measured=True))
    )
    return (sums["j"] or 0.0) / 3600.0, (sums["measured_j"] or 0.0) / 3600.0


def _total(wh: float, measured_wh: float, lang: str, pue: float) -> dict:
    """A total for the page: Wh at the servers, Wh with the data centre (x the deployment
    profile's central PUE, as the reveal), the equivalent of the latter (the basis
    fixtures/footprint/equivalents.yaml defines them on), and the share of the energy that
    was measured (the rest is estimated: the CPU-time model, EcoLogits); None without energy."""
    wall = wh * pue
    return {
        "wh": wh,
        "wall_wh": wall,
        "measured_share": measured_wh / wh if wh else None,
        "equivalents": footprint.pick_equivalents("energy_wh", wall, lang)[:1] if wall else [],
    }


def _energy_totals(visitor_id: str) -> dict:
    """The visitor's total today and the platform's total (voted battles only), each with
    its data-centre figure, an equivalent and its measured share."""
    today = timezone.localdate()
    mine = _voted_energy(message__turn__battle__visitor_id=visitor_id, message__turn__battle__created_at__date=today)
    # A voted battle's tries never change, so the total changes only with a new vote:
    # the newest vote's id (an index lookup) keys the cached sums.
    newest_vote = Vote.objects.aggregate(newest=Max("id"))["newest"]
    platform = cache.get_or_set(f"platform_energy:{newest_vote}", _voted_energy, 3600)
    lang = _lang()
    pue = deployment_profile().pue.value
    return {"mine": _total(*mine, lang, pue), "platform": _total(*platform, lang, pue)}


def home_context(request) -> dict:
    """What the arena page needs; a workshop's join page adds its room to it."""
    visitor = Visitor.objects.filter(pk=request.visitor_id).first()
    lang = _lang()
    return {
        "terms_accepted": bool(visitor and visitor.terms_accepted_at),
        "examples": EXAMPLE_PROMPTS.get(lang, EXAMPLE_PROMPTS["fr"]),
        "modes": battles.MODE_LABELS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
        "totals": _energy_totals(request.visitor_id),
    }


def home(request):
    return render(request, "arena/home.html", home_context(request))


def battle_page(request, battle_id):
    try:
        battle = battles.battle_for_visitor(battle_id, request.visitor_id)
    except ArenaError:
        raise Http404 from None  # someone else's battle does not exist for you
    turns = []
    for turn in battle.turns.prefetch_related("messages"):
        by_side = {m.side: m for m in turn.messages.all()}
        answers = [by_side["a"], by_side["b"]]
        if any(m.status in UNFINISHED for m in answers):
            # The pacer may hold an answer already stored: shown here, it would tell which model
            # finished first (and how fast). Until both end, the page shows both under way and
            # the socket brings them.
            answers = [_under_way(m) for m in answers]
        turns.append({"index": turn.index, "prompt": turn.prompt, "answers": answers})
    context = {
        "battle": battle,
        "turns": turns,
        "max_turns": settings.ARENA_MAX_TURNS,
        "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS,
        "tags_positive": battles.POSITIVE_TAGS,
        "tags_negative": battles.NEGATIVE_TAGS,
        "reveal": None,
    }
    if battle.workshop_code:
        context["workshop_code"] = battle.workshop_code
    if battle.is_voted:
        zone = request.GET.get("zone") or _room_zone(battle)
        try:
            context["reveal"] = build_reveal(battle, _lang(), zone)
        except ArenaError:  # an unknown zone: the deployment's own
            context["reveal"] = build_reveal(battle, _lang())
        context["zone"] = context["reveal"]["a"]["impacts"]["zone"] if context["reveal"]["a"]["impacts"] else None
        context["reveal_sides"] = [("a", context["reveal"]["a"]), ("b", context["reveal"]["b"])]
        context["pictures"] = _pictures(context["reveal"])
    return render(request, "arena/battle.html", context)


def _under_way(message: Message) -> SimpleNamespace:
    return SimpleNamespace(id=message.id, side=message.side, status=Message.Status.STREAMING, html="", content="")


def _pictures(reveal: dict) -> list[dict]:
    """A and B as bars with their ranges: energy (data centre included), then CO2e."""
    from django.utils.translation import gettext as _

    charts = []
    for key, title, fmt in (
        ("energy_wh", _("Energy, data centre included"), wh),
        ("gwp_g", _("Greenhouse gases (gCO2e)"), lambda v: f"{num(v)} g"),
    ):
        rows = []
        for side in ("a", "b"):
            impacts = reveal[side]["impacts"]
            fig = impacts["indicators"][key]["total"] if impacts else None
            rows.append(
                {
                    "label": side.upper(),
                    "value": fig["value"] if fig else None,
                    "min": fig["min"] if fig else None,
                    "max": fig["max"] if fig else None,
                    "text": fmt(fig["value"]) if fig else _("not measured"),
                    "range": f" [{fmt(fig['min'])} – {fmt(fig['max'])}]" if fig else "",
                }
            )
        description = "; ".join(f"{r['label']}: {r['text']}{r['range']}" for r in rows)
        charts.append({"title": title, "svg": bars_svg(title, rows, description)})
    return charts


def _room_zone(battle) -> str | None:
    """A workshop's battles are shown in the room's electricity zone, if it chose one."""
    if not battle.workshop_code:
        return None
    from workshops.models import Workshop

    return Workshop.objects.filter(code=battle.workshop_code).values_list("zone", flat=True).first() or None


def methodology_page(request):
    from .models import LLM

    lang = _lang()
    return render(
        request,
        "arena/methodology.html",
        {
            "m": footprint.methodology(lang),
            "classes": footprint.class_table(),
            "sobriety": [footprint.sobriety_reference("web_search", lang)],
            "trained": [m for m in LLM.objects.filter(enabled=True) if m.training_footprint],
        },
    )
