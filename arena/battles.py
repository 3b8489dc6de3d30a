"""The battle's rules, apart from HTTP and WebSocket: who may touch a battle, start,
next turn, history, vote, the worth question.

Views and the consumer call these; each raises `ArenaError` (status, code, message the
visitor can read). Message transitions (streaming, finished, retried) are methods of
`Message`; what is shown after the vote is in `reveal.py`.
"""

from __future__ import annotations

import random
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inference.routing import backend_for

from .errors import ArenaError
from .models import LLM, SIDES, Battle, Message, PairVotes, Turn, Visitor, Vote
from .pairing import Candidate, PairingError, choose_pair
from .signals import battle_changed

POSITIVE_TAGS = ("useful", "complete", "creative", "clear_formatting")
NEGATIVE_TAGS = ("incorrect", "superficial", "instructions_not_followed")
REASON_TAGS = POSITIVE_TAGS + NEGATIVE_TAGS
MAX_COMMENT_CHARS = 2000
# A stopped answer is finished too: the person chose to end it.
FINISHED = (Message.Status.DONE, Message.Status.STOPPED)
UNFINISHED = (Message.Status.PENDING, Message.Status.STREAMING)

_rng = random.SystemRandom()

MODE_LABELS = [
    ("random", gettext_lazy("Random")),
    ("frugal", gettext_lazy("Frugal: small models only")),
    ("david_vs_goliath", gettext_lazy("David vs Goliath: one small, one big")),
    ("custom", gettext_lazy("Custom: pick one or two models")),
]


# -- access ----------------------------------------------------------------------------
def battle_for_visitor(
    battle_id, visitor_id: str | None, *, action: str = "battle", with_models: bool = True
) -> Battle:
    """The battle, when it is this visitor's: 404 when it does not exist, 403 when it is
    someone else's. `action` picks the message (what the stranger tried to do). Its two
    models come with it unless `with_models` is false (the join costs about 1 ms, where
    they are not needed: a socket whose answers were sent at the POST)."""
    battles = Battle.objects.select_related("model_a", "model_b") if with_models else Battle.objects
    battle = battles.filter(pk=battle_id).first()
    if battle is None:
        raise ArenaError(404, "not_found", _("This battle does not exist."))
    if str(battle.visitor_id) != str(visitor_id):
        raise ArenaError(403, "not_owner", _FORBIDDEN[action]())
    return battle


_FORBIDDEN = {
    "battle": lambda: _("This battle belongs to someone else."),
    "vote": lambda: _("Only the person who started this battle can vote."),
    "worth": lambda: _("Only the person who started this battle can answer."),
    "reveal": lambda: _("Only the person who started this battle can see its reveal."),
    "reaction": lambda: _("Only the person who started this battle can react to its answers."),
}


# -- start ---------------------------------------------------------------------------
def clean_prompt(prompt) -> str:
    prompt = (prompt or "").strip() if isinstance(prompt, str) else ""
    if not prompt:
        raise ArenaError(400, "empty_prompt", _("Write a message first."))
    if "\x00" in prompt:  # PostgreSQL text cannot hold it (arena/nul.py): refused, not stored
        raise ArenaError(400, "invalid_prompt", _("Your message contains a NUL character, which cannot be stored."))
    if len(prompt) > settings.ARENA_MAX_PROMPT_CHARS:
        raise ArenaError(
            400,
            "prompt_too_long",
            _("Your message is %(n)d characters long; the limit is %(max)d.")
            % {"n": len(prompt), "max": settings.ARENA_MAX_PROMPT_CHARS},
        )
    return prompt


def pair_vote_counts() -> dict[frozenset, int]:
    """Votes per unordered pair, from the counts each vote keeps (`PairVotes`): one row per
    pair of models, however many votes there are (this runs for every new battle)."""
    rows = PairVotes.objects.values_list("low__slug", "high__slug", "votes")
    return {frozenset((low, high)): votes for low, high, votes in rows}


def start_battle(
    visitor: Visitor,
    prompt: str,
    mode: str,
    models: list[str] | None = None,
    workshop: str | None = None,
    language: str = "fr",
    only_models: list[str] | None = None,
    on_pair=None,
) -> Battle:
    """A new battle and its first turn. `only_models` narrows the catalogue (a workshop's).

    `on_pair(battle_id, model_a, model_b, prompt)`, where given, is called once the pair is
    chosen and before anything is stored (the answers are begun then: arena/early.py); the
    battle then gets that id. If storing it fails, the error propagates as ever: the caller
    cuts what it began."""
    prompt = clean_prompt(prompt)
    if mode not in Battle.Mode.values:
        raise ArenaError(400, "unknown_mode", _("Unknown mode: %(mode)s.") % {"mode": mode})
    catalogue = LLM.objects.filter(enabled=True)
    if only_models:
        catalogue = catalogue.filter(slug__in=only_models)
    # A remote API whose key is not set stays out of new battles.
    catalogue = [m for m in catalogue if backend_for(m).ready]
    candidates = [Candidate(m.slug, m.params_b) for m in catalogue]
    try:
        slug_a, slug_b = choose_pair(
            candidates,
            mode,
            pair_votes=pair_vote_counts(),
            rng=_rng,
            chosen=list(models or []),
            small_max_params_b=settings.ARENA_SMALL_MAX_PARAMS_B,
            big_min_params_b=settings.ARENA_BIG_MIN_PARAMS_B,
        )
    except PairingError as exc:
        raise ArenaError(400, "no_pair", _(exc.template) % exc.params) from None
    by_slug = {m.slug: m for m in catalogue}
    battle_id = uuid.uuid4()
    if on_pair is not None:
        on_pair(battle_id, by_slug[slug_a], by_slug[slug_b], prompt)
    with transaction.atomic():
        battle = Battle.objects.create(
            id=battle_id,
            visitor=visitor,
            mode=mode,
            model_a=by_slug[slug_a],
            model_b=by_slug[slug_b],
            workshop_code=workshop or None,
            publish_consent=visitor.publish_consent,
            language=language,
        )
        _add_turn(battle, 0, prompt)
    battle_changed.send(sender=Battle, battle=battle)
    return battle


def _check_room(battle: Battle) -> None:
    """A battle of a closed workshop takes no next turn and no vote (read under the
    caller's transaction, with the room locked, so a vote and a close are ordered)."""
    if battle.workshop_code:
        from workshops.rules import check_room_allows

        check_room_allows(battle.workshop_code)


def _add_turn(battle: Battle, index: int, prompt: str) -> Turn:
    turn = Turn.objects.create(battle=battle, index=index, prompt=prompt)
    Message.objects.bulk_create([Message(turn=turn, side=side) for side in SIDES])
    return turn


def add_turn(battle: Battle, prompt: str) -> Turn:
    """The next prompt of a multi-turn battle: only once both answers of the last turn are done."""
    prompt = clean_prompt(prompt)
    if battle.is_voted:
        raise ArenaError(409, "already_voted", _("This battle is over: you already voted."))
    with transaction.atomic():
        _lock_unvoted(battle)
        _check_room(battle)
        last = battle.turns.select_for_update().order_by("-index").first()
        if last.index + 1 >= settings.ARENA_MAX_TURNS:
            raise ArenaError(
                409,
                "too_many_turns",
                _("This conversation reached its limit of %(n)d messages. Please vote.")
                % {"n": settings.ARENA_MAX_TURNS},
            )
        if last.messages.exclude(status__in=FINISHED).exists():
            raise ArenaError(409, "answers_pending", _("Wait until both answers are finished."))
        return _add_turn(battle, last.index + 1, prompt)


def retry_answer(battle: Battle, side: str) -> None:
    """Put a failed or stopped answer of the last turn back in the queue."""
    if battle.is_voted:
        raise ArenaError(409, "already_voted", _("This battle is over: you already voted."))
    Message.end_abandoned_streams(turn__battle=battle)
    with transaction.atomic():
        _lock_unvoted(battle)
        message = battle.last_turn().messages.filter(side=side).first()
        if message is None or message.status not in (Message.Status.ERROR, Message.Status.STOPPED):
            raise ArenaError(
                409, "nothing_to_retry", _("Only a failed or stopped answer of the last turn can be retried.")
            )
        message.reset_for_retry()


def _lock_unvoted(battle: Battle) -> None:
    """Lock the battle's row, as a vote does, and refuse if a vote came first: a next turn or
    a retry on another process cannot slip in after the vote and undo a voted answer."""
    voted_at = Battle.objects.select_for_update().filter(pk=battle.pk).values_list("voted_at", flat=True).first()
    if voted_at is not None:
        raise ArenaError(409, "already_voted", _("This battle is over: you already voted."))


def turn_in_progress(turn_id) -> bool:
    """Whether an answer of the turn is still pending or streaming."""
    return Message.objects.filter(turn_id=turn_id, status__in=UNFINISHED).exists()


def last_turn_messages(battle: Battle):
    return Message.objects.filter(turn=battle.last_turn())


def last_turn_answers(battle: Battle) -> list[Message]:
    """The answers of the last turn as they stand, those whose task is gone failed first
    (none once voted: nothing is streamed or reported after the vote).

    A socket's checks run this before a new battle's first delta: the answers are read first,
    and those left streaming by a dead task are looked for (a query of 1.5 to 2 ms) only when
    one of them streams. Only the last turn can hold one: a turn is added once both answers
    of the one before are finished (`add_turn`)."""
    if battle.is_voted:
        return []
    turn = battle.last_turn()
    answers = list(turn.messages.all())
    if any(m.status == Message.Status.STREAMING for m in answers) and Message.end_abandoned_streams(turn=turn):
        answers = list(turn.messages.all())
    return answers


def history(message: Message) -> list[dict]:
    """The conversation as this side saw it: every earlier turn with this side's own answers."""
    turns = Turn.objects.filter(battle_id=message.turn.battle_id, index__lte=message.turn.index).prefetch_related(
        "messages"
    )
    chat = []
    for turn in turns:
        chat.append({"role": "user", "content": turn.prompt})
        if turn.index < message.turn.index:
            answer = next(m for m in turn.messages.all() if m.side == message.side)
            chat.append({"role": "assistant", "content": answer.content})
    return chat


def concurrent_battles(visitor_id: str) -> int:
    """The visitor's battles with an answer not ended yet. One query in the usual case (none):
    answers left streaming by a dead task (which hold no slot) are looked for only when some
    battle is unfinished, since they are among them. Each query here stands before a new
    battle's answers are sent (arena/early.py)."""
    unfinished = _unfinished_battles(visitor_id)
    if unfinished and Message.end_abandoned_streams(turn__battle__visitor_id=visitor_id):
        unfinished = _unfinished_battles(visitor_id)
    return unfinished


def _unfinished_battles(visitor_id: str) -> int:
    return (
        Message.objects.filter(
            turn__battle__visitor_id=visitor_id, status__in=[Message.Status.PENDING, Message.Status.STREAMING]
        )
        .values("turn__battle")
        .distinct()
        .count()
    )


# -- vote -------------------------------------------------------------------------------
def cast_vote(battle: Battle, choice: str, tags: dict[str, list[str]], comments: dict[str, str]) -> Vote:
    """Store the vote (already validated at the edge) once both answers are finished.
    The same vote sent again (a retried request) gets the same answer."""
    tags = {side: sorted(set(tags.get(side) or [])) for side in SIDES}
    comments = {side: (comments.get(side) or "").strip() for side in SIDES}
    Message.end_abandoned_streams(turn__battle=battle)  # then "failed: retry it", not "wait" forever
    with transaction.atomic():
        battle = Battle.objects.select_for_update().get(pk=battle.pk)
        existing = Vote.objects.filter(battle=battle).first()
        if existing is not None:
            if (existing.choice, existing.tags, existing.comments) == (choice, tags, comments):
                return existing
            raise ArenaError(409, "already_voted", _("You already voted on this battle."))
        _check_room(battle)
        last = battle.turns.order_by("-index").first()
        unfinished = last.messages.exclude(status__in=FINISHED)
        if unfinished.filter(status=Message.Status.ERROR).exists():
            raise ArenaError(409, "answer_failed", _("An answer failed: retry it before voting."))
        if unfinished.exists():
            raise ArenaError(409, "answers_pending", _("Wait until both answers are finished before voting."))
        if last.messages.filter(status=Message.Status.STOPPED, content="").exists():
            # Stopped (or its socket closed) before its first word: there is nothing to judge.
            raise ArenaError(409, "answer_empty", _("An answer was stopped before it began: retry it before voting."))
        vote = Vote.objects.create(battle=battle, choice=choice, tags=tags, comments=comments)
        PairVotes.count_one(battle.model_a_id, battle.model_b_id)
        battle.voted_at = timezone.now()
        battle.save(update_fields=["voted_at"])
    battle_changed.send(sender=Battle, battle=battle)
    return vote


def answer_worth(battle: Battle, worth: bool) -> Vote:
    from .reveal import side_energy_j, worth_question_side

    vote = Vote.objects.filter(battle=battle).first()
    if vote is None:
        raise ArenaError(409, "not_voted", _("Vote first."))
    if worth_question_side(vote.choice, side_energy_j(battle)) is None:
        raise ArenaError(
            409, "no_question", _("The preferred answer did not use more energy: there is nothing to ask.")
        )
    with transaction.atomic():
        _check_room(battle)
        vote.worth_extra_energy = worth
        vote.save(update_fields=["worth_extra_energy"])
    battle_changed.send(sender=Battle, battle=battle)
    return vote
