"""A room's figures for the projector and the summary: people, battles, votes, energy,
its own leaderboard, the worth answers, the reasons chosen, the room against the arena,
and the questions to debate.

As everywhere in the arena, energy counts only voted battles: a total that moved when one
side of an unvoted battle finished would tell its owner something before their vote.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import yaml
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import footprint
from arena.impacts import deployment_profile
from arena.models import Attempt, Battle, Vote

from .models import Workshop

QUESTIONS_FILE = settings.BASE_DIR / "fixtures" / "workshops" / "debate_questions.yaml"
LEADERBOARD_BOOTSTRAP = 100  # a room has at most a few hundred votes: enough for its intervals
# The msgids of arena/templates/arena/_tag.html: the same words everywhere.
TAG_LABELS = {
    "useful": gettext_lazy("useful"),
    "complete": gettext_lazy("complete"),
    "creative": gettext_lazy("creative"),
    "clear_formatting": gettext_lazy("clear formatting"),
    "incorrect": gettext_lazy("incorrect"),
    "superficial": gettext_lazy("superficial"),
    "instructions_not_followed": gettext_lazy("instructions not followed"),
}


@cache
def _questions() -> dict:
    return yaml.safe_load(QUESTIONS_FILE.read_text(encoding="utf-8"))["questions"]


def debate_questions(lang: str) -> list[dict]:
    return [
        {"id": key, "text": q.get(lang) or q["fr"], "source": q["source"], "url": q.get("url"), "year": q["year"]}
        for key, q in _questions().items()
    ]


def _energy(battles) -> dict:
    """The energy of the voted battles among `battles`, in one aggregate: Wh over every try
    (at the servers, as the tries store it), the Wh of measured tries, and the answers with
    a figure.

    `answers` counts the answers at least one of whose tries has a figure, finished, stopped
    or failed: the same set the Wh sums over (a try without a figure adds nothing), so Wh per
    answer divides like by like, and a room that stops answers does not look costlier."""
    sums = Attempt.objects.filter(message__turn__battle__in=battles.filter(voted_at__isnull=False)).aggregate(
        j=Sum("energy_j"),
        measured_j=Sum("energy_j", filter=Q(measured=True)),
        answers=Count("message", filter=Q(energy_j__isnull=False), distinct=True),
    )
    return {
        "wh": (sums["j"] or 0.0) / 3600.0,
        "measured_wh": (sums["measured_j"] or 0.0) / 3600.0,
        "answers": sums["answers"],
    }


def _per_answer(energy: dict) -> float | None:
    return energy["wh"] / energy["answers"] if energy["answers"] else None


def _arena_wh_per_answer() -> float | None:
    """The whole arena's Wh per answer, on the room's basis (`_energy`), cached until the
    next vote anywhere."""
    newest_vote = Vote.objects.aggregate(newest=Max("id"))["newest"]
    return django_cache.get_or_set(
        f"arena_wh_per_answer_with_figures:{newest_vote}", lambda: _per_answer(_energy(Battle.objects.all())), 3600
    )


def _leaderboard(code: str) -> dict:
    from leaderboard.snapshots import compute_leaderboard

    board = compute_leaderboard(
        {"workshop": code}, bootstrap=LEADERBOARD_BOOTSTRAP, min_group=settings.WORKSHOP_MIN_VOTES
    )
    rows = [
        {
            "rank": r["rank"],
            "slug": r["slug"],
            "name": r["name"],
            "params_b": r["params_b"],
            "rating": round(r["rating"], 1),
            "lower": round(r["lower"], 1),
            "upper": round(r["upper"], 1),
            "votes": r["votes"],
            "wh_per_1k_tokens": r["wh_per_1k_tokens"],
            # Share of the model's answers every try of which was measured (the leaderboard's).
            "measured_share": r["measured_share"],
        }
        for r in board["rows"]
    ]
    return {"rows": rows, "too_early": "too_few" in board, "min_votes": settings.WORKSHOP_MIN_VOTES}


def _votes(battles) -> dict:
    votes = list(
        Vote.objects.filter(battle__in=battles).values_list(
            "choice", "tags", "worth_extra_energy", "battle__model_a__params_b", "battle__model_b__params_b"
        )
    )
    tags: Counter = Counter()
    smaller_chosen = decided = 0
    for choice, side_tags, _worth, params_a, params_b in votes:
        for side in ("a", "b"):
            tags.update((side_tags or {}).get(side) or [])
        if choice in ("a", "b") and params_a != params_b:
            decided += 1
            smaller_chosen += (params_a < params_b) == (choice == "a")
    worth = [w for _c, _t, w, _a, _b in votes if w is not None]
    return {
        "worth": {
            "answered": len(worth),
            "yes": sum(worth),
            "share_yes": sum(worth) / len(worth) if worth else None,
        },
        "tags": [{"tag": t, "label": str(TAG_LABELS.get(t, t)), "count": n} for t, n in tags.most_common(5)],
        "smaller_chosen": {"decided": decided, "share": smaller_chosen / decided if decided else None},
        "choices": dict(Counter(c for c, *_rest in votes)),
    }


def room_stats(workshop: Workshop, lang: str = "fr") -> dict:
    """Every figure of the dashboard, in `lang`."""
    with translation.override(lang):
        battles = Battle.objects.filter(workshop_code=workshop.code)
        counts = battles.aggregate(battles=Count("id"), votes=Count("id", filter=Q(voted_at__isnull=False)))
        energy = _energy(battles)
        wh = energy["wh"]
        # Equivalents are defined on the energy at the wall (fixtures/footprint/equivalents.yaml):
        # the servers' energy x the deployment profile's central PUE, as the reveal computes it.
        wall_wh = wh * deployment_profile().pue.value
        room_per_answer = _per_answer(energy)
        arena_per_answer = _arena_wh_per_answer()
        return {
            "code": workshop.code,
            "title": workshop.title,
            "state": workshop.state,
            "computed_at": timezone.now().isoformat(),
            "participants": workshop.participants.count(),
            "battles": counts["battles"],
            "votes": counts["votes"],
            "energy": {
                "wh": wh,
                "wall_wh": wall_wh,
                # Share of the Wh measured by a meter (NVML, RAPL); the rest is estimated
                # (the CPU-time model, EcoLogits). None without energy.
                "measured_share": energy["measured_wh"] / wh if wh else None,
                "answers": energy["answers"],
                "wh_per_answer": room_per_answer,
                "arena_wh_per_answer": arena_per_answer,
                "ratio_to_arena": room_per_answer / arena_per_answer
                if room_per_answer is not None and arena_per_answer
                else None,
                "equivalents": footprint.pick_equivalents("energy_wh", wall_wh, lang)[:3] if wall_wh else [],
            },
            "leaderboard": _leaderboard(workshop.code),
            **_votes(battles),
            "questions": debate_questions(lang),
            "labels": {"too_early": _("Too early to rank: fewer votes than the threshold.")},
        }


def frozen_or_live(workshop: Workshop, lang: str) -> dict:
    """The summary frozen at close (in the language asked), or the live figures."""
    if workshop.summary:
        return workshop.summary.get(lang) or workshop.summary.get("fr") or next(iter(workshop.summary.values()))
    return room_stats(workshop, lang)
