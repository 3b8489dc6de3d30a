"""The battle's rules, apart from HTTP and WebSocket: start, next turn, vote, reveal.

Views and the consumer call these; each raises `BattleError` with an HTTP status and a
message the user can read.
"""

from __future__ import annotations

import random
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

import footprint

from .models import LLM, SIDES, Battle, Message, Turn, Visitor, Vote
from .pairing import Candidate, PairingError, choose_pair

POSITIVE_TAGS = ("useful", "complete", "creative", "clear_formatting")
NEGATIVE_TAGS = ("incorrect", "superficial", "instructions_not_followed")
REASON_TAGS = POSITIVE_TAGS + NEGATIVE_TAGS
MAX_COMMENT_CHARS = 2000
# A stopped answer is finished too: the person chose to end it.
FINISHED = (Message.Status.DONE, Message.Status.STOPPED)

_rng = random.SystemRandom()

MODE_LABELS = [
    ("random", _lazy("Random")),
    ("frugal", _lazy("Frugal: small models only")),
    ("david_vs_goliath", _lazy("David vs Goliath: one small, one big")),
    ("custom", _lazy("Custom: pick one or two models")),
]


class BattleError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# -- start ---------------------------------------------------------------------------
def _clean_prompt(prompt) -> str:
    prompt = (prompt or "").strip()
    if not prompt:
        raise BattleError(400, _("Write a message first."), "empty_prompt")
    if len(prompt) > settings.ARENA_MAX_PROMPT_CHARS:
        raise BattleError(400, _("Your message is %(n)d characters long; the limit is %(max)d.")
                          % {"n": len(prompt), "max": settings.ARENA_MAX_PROMPT_CHARS}, "prompt_too_long")
    return prompt


def pair_vote_counts() -> dict[frozenset, int]:
    """Votes per unordered pair, counted by the database (this runs for every new battle)."""
    counts: Counter = Counter()
    rows = (Vote.objects.values_list("battle__model_a__slug", "battle__model_b__slug")
            .annotate(n=Count("id")).order_by())
    for a, b, n in rows:
        counts[frozenset((a, b))] += n
    return dict(counts)


def start_battle(visitor: Visitor, prompt: str, mode: str, models: list[str] | None = None,
                 workshop: str | None = None, language: str = "fr") -> Battle:
    prompt = _clean_prompt(prompt)
    if mode not in Battle.Mode.values:
        raise BattleError(400, _("Unknown mode: %(mode)s.") % {"mode": mode}, "unknown_mode")
    catalogue = list(LLM.objects.filter(enabled=True))
    candidates = [Candidate(m.slug, m.params_b) for m in catalogue]
    try:
        slug_a, slug_b = choose_pair(
            candidates, mode, pair_votes=pair_vote_counts(), rng=_rng, chosen=list(models or []),
            small_max_params_b=settings.ARENA_SMALL_MAX_PARAMS_B, big_min_params_b=settings.ARENA_BIG_MIN_PARAMS_B)
    except PairingError as exc:
        raise BattleError(400, str(exc), "no_pair") from None
    by_slug = {m.slug: m for m in catalogue}
    with transaction.atomic():
        battle = Battle.objects.create(
            visitor=visitor, mode=mode, model_a=by_slug[slug_a], model_b=by_slug[slug_b],
            workshop_code=workshop or None, publish_consent=visitor.publish_consent, language=language)
        _add_turn(battle, 0, prompt)
    return battle


def _add_turn(battle: Battle, index: int, prompt: str) -> Turn:
    turn = Turn.objects.create(battle=battle, index=index, prompt=prompt)
    Message.objects.bulk_create([Message(turn=turn, side=side) for side in SIDES])
    return turn


def add_turn(battle: Battle, prompt: str) -> Turn:
    """The next prompt of a multi-turn battle: only once both answers of the last turn are done."""
    prompt = _clean_prompt(prompt)
    if battle.is_voted:
        raise BattleError(409, _("This battle is over: you already voted."), "already_voted")
    with transaction.atomic():
        last = battle.turns.select_for_update().order_by("-index").first()
        if last.index + 1 >= settings.ARENA_MAX_TURNS:
            raise BattleError(409, _("This conversation reached its limit of %(n)d messages. Please vote.")
                              % {"n": settings.ARENA_MAX_TURNS}, "too_many_turns")
        if last.messages.exclude(status__in=FINISHED).exists():
            raise BattleError(409, _("Wait until both answers are finished."), "answers_pending")
        return _add_turn(battle, last.index + 1, prompt)


def history(message: Message) -> list[dict]:
    """The conversation as this side saw it: every earlier turn with this side's own answers."""
    turns = Turn.objects.filter(battle_id=message.turn.battle_id, index__lte=message.turn.index).prefetch_related("messages")
    chat = []
    for turn in turns:
        chat.append({"role": "user", "content": turn.prompt})
        if turn.index < message.turn.index:
            answer = next(m for m in turn.messages.all() if m.side == message.side)
            chat.append({"role": "assistant", "content": answer.content})
    return chat


def concurrent_battles(visitor_id: str) -> int:
    return (Message.objects.filter(turn__battle__visitor_id=visitor_id,
                                   status__in=[Message.Status.PENDING, Message.Status.STREAMING])
            .values("turn__battle").distinct().count())


# -- vote -------------------------------------------------------------------------------
def _clean_vote(payload: dict) -> tuple[str, dict, dict]:
    choice = payload.get("choice")
    if choice not in Vote.Choice.values:
        raise BattleError(400, _("choice must be one of: a, b, tie, both_bad."), "invalid_choice")
    tags_in = payload.get("tags") or {}
    comments_in = payload.get("comments") or {}
    if not isinstance(tags_in, dict) or not isinstance(comments_in, dict):
        raise BattleError(400, _("tags and comments are objects keyed by side (a, b)."), "invalid_tags")
    tags, comments = {}, {}
    for side in SIDES:
        side_tags = tags_in.get(side) or []
        if not isinstance(side_tags, list) or any(t not in REASON_TAGS for t in side_tags):
            raise BattleError(400, _("Unknown reason tag. Allowed: %(tags)s.") % {"tags": ", ".join(REASON_TAGS)},
                              "invalid_tags")
        comment = comments_in.get(side) or ""
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
            raise BattleError(400, _("A comment is text of at most %(n)d characters.") % {"n": MAX_COMMENT_CHARS},
                              "invalid_comment")
        tags[side] = sorted(set(side_tags))
        comments[side] = comment.strip()
    return choice, tags, comments


def cast_vote(battle: Battle, visitor_id: str, payload: dict) -> Vote:
    if str(battle.visitor_id) != visitor_id:
        raise BattleError(403, _("Only the person who started this battle can vote."), "not_owner")
    choice, tags, comments = _clean_vote(payload)
    with transaction.atomic():
        battle = Battle.objects.select_for_update().get(pk=battle.pk)
        existing = Vote.objects.filter(battle=battle).first()
        if existing is not None:
            if (existing.choice, existing.tags, existing.comments) == (choice, tags, comments):
                return existing  # the same vote again (a retried request): same answer
            raise BattleError(409, _("You already voted on this battle."), "already_voted")
        last = battle.turns.order_by("-index").first()
        unfinished = last.messages.exclude(status__in=FINISHED)
        if unfinished.filter(status=Message.Status.ERROR).exists():
            raise BattleError(409, _("An answer failed: retry it before voting."), "answer_failed")
        if unfinished.exists():
            raise BattleError(409, _("Wait until both answers are finished before voting."), "answers_pending")
        vote = Vote.objects.create(battle=battle, choice=choice, tags=tags, comments=comments)
        battle.voted_at = timezone.now()
        battle.save(update_fields=["voted_at"])
    return vote


def answer_worth(battle: Battle, visitor_id: str, worth) -> Vote:
    if str(battle.visitor_id) != visitor_id:
        raise BattleError(403, _("Only the person who started this battle can answer."), "not_owner")
    if not isinstance(worth, bool):
        raise BattleError(400, _("worth must be true or false."), "invalid_worth")
    vote = Vote.objects.filter(battle=battle).first()
    if vote is None:
        raise BattleError(409, _("Vote first."), "not_voted")
    if _worth_question(battle, vote) is None:
        raise BattleError(409, _("The preferred answer did not use more energy: there is nothing to ask."),
                          "no_question")
    vote.worth_extra_energy = worth
    vote.save(update_fields=["worth_extra_energy"])
    return vote


# -- reveal --------------------------------------------------------------------------------
def side_messages(battle: Battle, side: str) -> list[Message]:
    return list(Message.objects.filter(turn__battle=battle, side=side).select_related("turn").order_by("turn__index"))


def side_energy_j(battle: Battle) -> dict[str, float]:
    return {side: sum(m.energy_j for m in side_messages(battle, side)) for side in SIDES}


def _worth_question(battle: Battle, vote: Vote) -> str | None:
    """The side whose extra energy is in question, when the preferred answer used more."""
    if vote.choice not in SIDES:
        return None
    energy = side_energy_j(battle)
    other = "b" if vote.choice == "a" else "a"
    return vote.choice if energy[vote.choice] > energy[other] else None


def _side_reveal(battle: Battle, side: str, lang: str, profile) -> dict:
    messages = side_messages(battle, side)
    records = [r for m in messages for r in m.energy_records()]
    impacts = [footprint.compute_impacts(r, profile) for r in records]
    total = footprint.sum_impacts(impacts) if impacts else None
    energy_wh = sum(r.get("energy_j", 0.0) for r in records) / 3600.0
    methods = sorted({r.get("method", "") for r in records})
    measured = bool(records) and all(r.get("measured") for r in records)
    estimates = [m.estimate for m in messages if m.estimate]
    est_wh = sum(e["energy_wh"] for e in estimates) if estimates else None
    card = battle.model(side).card(lang)
    impacts_out = None
    if total is not None:
        impacts_out = {
            "zone": profile.zone,
            "energy_wall_wh": total.wall_energy_wh.value if total.wall_energy_wh else None,
            "gwp_g": total.gwp_g.value, "gwp_g_min": total.gwp_g.min, "gwp_g_max": total.gwp_g.max,
            "water_ml": total.water_ml.value if total.water_ml else None,
            "equivalents": [e for fig in footprint.equivalents_for(total, lang).values() for e in fig],
        }
    return {
        "model": card,
        "energy": {"energy_wh": energy_wh, "measured": measured, "method": ", ".join(m for m in methods if m),
                   "completion_tokens": sum(m.completion_tokens or 0 for m in messages),
                   "messages": [{"id": str(m.id), "turn": m.turn.index, "energy_wh": m.energy_j / 3600.0,
                                 "attempts": m.attempts,
                                 "measured": bool((m.energy or {}).get("measured")),
                                 "method": (m.energy or {}).get("method"),
                                 "completion_tokens": m.completion_tokens} for m in messages]},
        "impacts": impacts_out,
        "estimate": {"energy_wh": est_wh, "source": estimates[0]["source"] if estimates else None},
    }


def energy_comparison(energy_a_wh: float, energy_b_wh: float, lang: str = "fr") -> str:
    if energy_a_wh <= 0 or energy_b_wh <= 0:
        return ""
    hi, lo, big = (energy_a_wh, energy_b_wh, "A") if energy_a_wh >= energy_b_wh else (energy_b_wh, energy_a_wh, "B")
    small = "B" if big == "A" else "A"
    ratio = hi / lo
    if ratio < 1.05:
        return _("A and B used about the same energy.")
    return _("%(big)s used %(ratio)sx the energy of %(small)s.") % {
        "big": big, "small": small, "ratio": f"{ratio:.1f}".replace(".", "," if lang == "fr" else ".")}


def deployment_profile():
    """The deployment profile of fixtures/footprint, in the zone the settings name."""
    profile = footprint.default_profile()
    return profile.in_zone(settings.ARENA_ZONE) if settings.ARENA_ZONE != profile.zone else profile


def estimate_for(message: Message) -> dict | None:
    """What EcoLogits would say of this answer: stored beside the measurement."""
    llm = message.turn.battle.model(message.side)
    if not message.completion_tokens:
        return None
    est = footprint.estimate_with_ecologits(
        llm.params_b, llm.active_params_b, message.prompt_tokens or 0, message.completion_tokens,
        (message.duration_ms or 0) / 1000.0, deployment_profile().zone)
    return {"energy_wh": est.wall_energy_wh.value, "energy_wh_min": est.wall_energy_wh.min,
            "energy_wh_max": est.wall_energy_wh.max, "gwp_g": est.gwp_g.value, "source": est.source}


def build_reveal(battle: Battle, lang: str = "fr", zone: str | None = None) -> dict:
    """Everything shown after the vote. `zone` recomputes impacts "as if" the answers had
    run in another zone; nothing stored changes."""
    vote = battle.vote
    profile = deployment_profile()
    if zone:
        try:
            profile = profile.in_zone(zone)
        except (KeyError, ValueError):
            raise BattleError(400, _("Unknown zone: %(zone)s.") % {"zone": zone}, "unknown_zone") from None
    sides = {side: _side_reveal(battle, side, lang, profile) for side in SIDES}
    worth_side = _worth_question(battle, vote)
    return {
        "battle": str(battle.id),
        "vote": {"choice": vote.choice, "tags": vote.tags, "comments": vote.comments},
        "a": sides["a"], "b": sides["b"],
        "comparison": energy_comparison(sides["a"]["energy"]["energy_wh"], sides["b"]["energy"]["energy_wh"], lang),
        "worth_question": {"asked": worth_side is not None, "answer": vote.worth_extra_energy},
        "leak": {"flagged": battle.leak_flagged, "detail": battle.leak_detail},
        "zones": footprint.zone_labels(lang),
    }
