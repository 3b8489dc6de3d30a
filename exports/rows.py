"""One battle's rows in every table of a release, from what the database holds about it.

Pure functions over plain values (no query here): `exports.source` streams a battle with its
answers, tries and reactions, `battle_rows` turns them into one tuple per row in each table's
column order (`exports.schema`), and the writers take it from there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import orjson
from django.utils.translation import get_language_info

from arena.battles import REASON_TAGS

from .schema import SIDES

WINNERS = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
FINISHED = ("done", "stopped")


class Battle(NamedTuple):
    id: object
    visitor_id: object
    created_at: object
    voted_at: object
    mode: str
    language: str
    model_a_id: int
    model_b_id: int
    in_workshop: bool
    leak_flagged: bool
    choice: str
    tags: dict | None
    comments: dict | None
    worth_extra_energy: bool | None


class Answer(NamedTuple):
    turn: int
    side: str
    prompt: str
    content: str
    status: str
    prompt_tokens: int | None
    completion_tokens: int | None
    estimate_wh: float | None


class Try(NamedTuple):
    turn: int
    side: str
    outcome: str
    prompt_tokens: int | None
    completion_tokens: int | None
    energy_j: float | None
    gpu_j: float | None
    cpu_j: float | None
    measured: bool
    method: str
    duration_s: float | None
    avg_concurrency: float | None
    sampling_period_s: float | None
    devices: str | None  # the record's JSON list, as text


class ReactionRow(NamedTuple):
    turn: int
    side: str
    liked: bool | None
    tags: list | None
    comment: str
    updated_at: object


class Model(NamedTuple):
    slug: str
    name: str
    params_b: float
    active_params_b: float
    license_kind: str


class Hasher:
    """Ids for one release: keyed BLAKE2b (a MAC) of the database ids under a key drawn for the
    release and never stored, so a release's ids cannot be traced back to the database nor
    matched with another release's."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, kind: str, value) -> str:
        return hashlib.blake2b(f"{kind}:{value}".encode(), key=self._key, digest_size=16).hexdigest()


@dataclass
class Context:
    ids: Hasher
    models: dict[int, Model]
    # (model pk, completion tokens) -> EcoLogits (Wh, min, max), or None without tokens
    estimate: Callable[[int, int | None], tuple[float, float, float] | None]
    _devices: dict | None = None

    def devices(self, text: str | None) -> list[str]:
        """The record's device list; a release has a handful of distinct ones, parsed once each."""
        if not text:
            return []
        if self._devices is None:
            self._devices = {}
        if text not in self._devices:
            self._devices[text] = [str(d) for d in orjson.loads(text)]
        return self._devices[text]


def visitor_texts(battle: Battle, answers: list[Answer], reactions: list[ReactionRow]) -> Iterator[str]:
    """What the visitor wrote: the prompts, the vote's comments, the reactions' comments."""
    seen_turns = set()
    for answer in answers:
        if answer.turn not in seen_turns:
            seen_turns.add(answer.turn)
            yield answer.prompt
    for comment in (battle.comments or {}).values():
        if isinstance(comment, str):
            yield comment
    for reaction in reactions:
        yield reaction.comment


def unusable_answers(answers: list[Answer]) -> int:
    """Answers that failed or hold nothing (a stop before the first token): researchers asked for
    releases without such placeholders, so their battles stay out."""
    return sum(1 for a in answers if a.status not in FINISHED or not a.content.strip())


class Shared(NamedTuple):
    """What every table's row of one battle is built from."""

    conversation_id: str
    visitor_id: str
    models: dict[str, Model]
    slugs: dict[str, str]
    answers: dict[str, list[Answer]]  # by side, in turn order
    tries: dict[str, list[Try]]
    conversations: dict[str, list[dict]]
    turns: int


def battle_rows(battle: Battle, answers: list[Answer], tries: list[Try], reactions: list[ReactionRow], ctx: Context):
    """{table name: [row tuple]} for one published battle."""
    models = {"a": ctx.models[battle.model_a_id], "b": ctx.models[battle.model_b_id]}
    by_side = {side: [a for a in answers if a.side == side] for side in SIDES}
    shared = Shared(
        conversation_id=ctx.ids("battle", battle.id),
        visitor_id=ctx.ids("visitor", battle.visitor_id),
        models=models,
        slugs={side: models[side].slug for side in SIDES},
        answers=by_side,
        tries={side: [t for t in tries if t.side == side] for side in SIDES},
        conversations={side: _conversation(by_side[side]) for side in SIDES},
        turns=len({a.turn for a in answers}),
    )
    return {
        "conversations": [_conversation_row(battle, shared)],
        "votes": [_vote_row(battle, answers, shared)],
        "reactions": _reaction_rows(battle, answers, reactions, shared),
        "energy": _energy_rows(battle, tries, shared, ctx),
        "arena_battles": [_arena_row(battle, shared)],
    }


def _conversation_row(battle: Battle, s: Shared) -> tuple:
    return (
        s.conversation_id,
        battle.created_at,
        battle.voted_at,
        s.visitor_id,
        battle.mode,
        battle.language,
        s.turns,
        *_model_fields(s.models["a"]),
        *_model_fields(s.models["b"]),
        s.conversations["a"],
        s.conversations["b"],
        *_side_figures(s.answers["a"], s.tries["a"]),
        *_side_figures(s.answers["b"], s.tries["b"]),
        battle.in_workshop,
        battle.leak_flagged,
    )


def _vote_row(battle: Battle, answers: list[Answer], s: Shared) -> tuple:
    tags = battle.tags or {}
    comments = battle.comments or {}
    return (
        s.conversation_id,  # one vote per conversation
        battle.voted_at,
        s.slugs["a"],
        s.slugs["b"],
        sorted(s.slugs.values()),
        s.slugs.get(battle.choice),
        battle.choice in ("tie", "both_bad"),
        battle.choice == "both_bad",
        battle.choice,
        answers[0].prompt if answers else "",
        s.conversations["a"],
        s.conversations["b"],
        s.turns,
        s.conversation_id,
        s.visitor_id,
        comments.get("a") or "",
        comments.get("b") or "",
        *(tag in (tags.get(side) or ()) for tag in REASON_TAGS for side in SIDES),
        battle.worth_extra_energy,
        battle.mode,
        battle.language,
        battle.in_workshop,
        battle.leak_flagged,
    )


def _arena_row(battle: Battle, s: Shared) -> tuple:
    return (
        s.conversation_id,
        s.slugs["a"],
        s.slugs["b"],
        WINNERS[battle.choice],
        s.visitor_id,
        s.turns,
        not battle.leak_flagged,
        battle.in_workshop,
        _language_name(battle.language),
        battle.voted_at.timestamp(),
        _conv_metadata(s.answers, s.turns),
    )


def _reaction_rows(battle: Battle, answers: list[Answer], reactions: list[ReactionRow], s: Shared) -> list[tuple]:
    answer_of = {(a.turn, a.side): a for a in answers}
    rows = []
    for reaction in reactions:
        answer = answer_of.get((reaction.turn, reaction.side))
        tags = reaction.tags or ()
        rows.append(
            (
                f"{s.conversation_id}-{reaction.turn}{reaction.side}",
                reaction.updated_at,
                s.conversation_id,
                s.visitor_id,
                s.slugs["a"],
                s.slugs["b"],
                s.slugs[reaction.side],
                reaction.side,
                reaction.turn,
                answer.prompt if answer else None,
                answer.content if answer else None,
                reaction.liked is True,
                reaction.liked is False,
                *(tag in tags for tag in REASON_TAGS),
                reaction.comment,
                battle.mode,
                battle.language,
                battle.leak_flagged,
            )
        )
    return rows


def _energy_rows(battle: Battle, tries: list[Try], s: Shared, ctx: Context) -> list[tuple]:
    rows = []
    attempt_number: dict[tuple, int] = {}
    model_pks = {"a": battle.model_a_id, "b": battle.model_b_id}
    for t in tries:
        number = attempt_number[(t.turn, t.side)] = attempt_number.get((t.turn, t.side), 0) + 1
        estimate = ctx.estimate(model_pks[t.side], t.completion_tokens) or (None, None, None)
        rows.append(
            (
                s.conversation_id,
                f"{s.conversation_id}-{t.turn}{t.side}-{number}",
                s.slugs[t.side],
                t.side,
                t.turn,
                number,
                t.outcome,
                t.prompt_tokens,
                t.completion_tokens,
                t.energy_j,
                t.gpu_j,
                t.cpu_j,
                t.duration_s,
                t.avg_concurrency,
                ctx.devices(t.devices),
                t.method,
                t.measured,
                t.sampling_period_s,
                *estimate,
            )
        )
    return rows


def model_row(llm) -> tuple:
    return (
        llm.slug,
        llm.name,
        llm.organization,
        llm.license,
        llm.license_kind,
        llm.params_b,
        llm.active_params_b,
        llm.architecture,
        llm.release_date,
        llm.hf_id,
        llm.enabled,
        llm.description_fr,
        llm.description_en,
    )


def _conversation(answers: list[Answer]) -> list[dict]:
    turns = []
    for answer in answers:
        turns.append({"role": "user", "content": answer.prompt})
        turns.append({"role": "assistant", "content": answer.content})
    return turns


def _model_fields(model: Model) -> tuple:
    return (model.slug, model.name, model.params_b, model.active_params_b, model.license_kind)


def _side_figures(answers: list[Answer], tries: list[Try]) -> tuple:
    """Tokens, then energy over every try (a retried answer used the energy of each try), how it was
    metered, and the EcoLogits estimates the reveal showed."""
    tokens = sum(a.completion_tokens or 0 for a in answers)
    figures = [t for t in tries if t.energy_j is not None]
    energy_j = sum(t.energy_j for t in figures) if figures else None
    method = "+".join(sorted({t.method for t in figures if t.method})) or None
    measured = bool(figures) and all(t.measured for t in figures)
    estimates = [a.estimate_wh for a in answers if a.estimate_wh is not None]
    return tokens, energy_j, method, measured, (sum(estimates) if estimates else None)


def _language_name(code: str) -> str:
    """Chatbot Arena names languages ("French"); FastChat filters on those names."""
    try:
        return get_language_info(code)["name"]
    except KeyError:
        return code


# -- FastChat's style features: the counts of fastchat/serve/monitor/add_markdown_info.py
# (Apache-2.0). Its six header and two list patterns all start a line and end at the whitespace
# after their marker, so one pass finds them all; the bold patterns may overlap each other and
# are counted apart (tests/exports/test_markdown_counts.py checks the counts against FastChat's).
_CODE_BLOCK = re.compile(r"```([^`]*)```")
_LINE_MARKS = re.compile(r"^(?:(?P<header>#{1,6})\s|(?P<ordered>\s*\d+\.\s)|(?P<unordered>\s*[-*+]\s))", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")
_HEADER_KEYS = ("h1", "h2", "h3", "h4", "h5", "h6")


def markdown_counts(text: str) -> tuple[dict, dict, dict]:
    """(header_count, list_count, bold_count) of a side's answers, code blocks left out."""
    if "```" in text:  # as FastChat does it: the blocks' contents go, wherever they occur
        for block in _CODE_BLOCK.findall(text):
            text = text.replace(block, "")
    headers = dict.fromkeys(_HEADER_KEYS, 0)
    lists = {"ordered": 0, "unordered": 0}
    for match in _LINE_MARKS.finditer(text):
        kind = match.lastgroup
        if kind == "header":
            headers[_HEADER_KEYS[len(match.group("header")) - 1]] += 1
        else:
            lists[kind] += 1
    bold = {
        "**": len(_BOLD_STARS.findall(text)) if "**" in text else 0,
        "__": len(_BOLD_UNDERSCORES.findall(text)) if "__" in text else 0,
    }
    return headers, lists, bold


def _conv_metadata(by_side: dict[str, list[Answer]], turns: int) -> dict:
    meta = {"sum_user_tokens": None}
    for side in SIDES:
        meta[f"sum_assistant_{side}_tokens"] = sum(a.completion_tokens or 0 for a in by_side[side])
    for side in SIDES:
        last = by_side[side][-1] if by_side[side] else None
        meta[f"context_{side}_tokens"] = last.prompt_tokens if last else None
    meta["turns"] = turns
    for side in SIDES:
        headers, lists, bold = markdown_counts("\n".join(a.content for a in by_side[side]))
        meta[f"header_count_{side}"] = headers
        meta[f"list_count_{side}"] = lists
        meta[f"bold_count_{side}"] = bold
    return meta
