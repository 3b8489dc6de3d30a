"""A chunk of battles turned into every table of a release, a column at a time (Polars).

`exports.source` hands over a chunk: four frames (battles, answers, tries, reactions) whose rows
belong to the same battles. `Release.tables` applies the rules (no vote, a failed or empty answer,
personal data: the battle stays out, counted), then builds each table's frame with its columns in
the order of `exports.schema`. Python still does what only Python libraries can: the keyed hashes
of ids, the personal-data checks (on the few texts whose characters could hold such data), the
EcoLogits estimates (once per distinct model and token count) and the parsing of the JSON columns
(once per distinct value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import polars as pl
from django.utils.translation import get_language_info

from arena.battles import REASON_TAGS

from .markdown import BOLD_KEYS, HEADER_KEYS, LIST_KEYS, PY_WHITESPACE, count_frame
from .rows import Hasher, Model
from .schema import SIDES
from .scrub import personal_data_kinds

WINNERS = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
FINISHED = ("done", "stopped")
# A text that can hold personal data has an '@', four digits or two colons (see exports.scrub):
# the others skip the Python checks. The scrub reads a text folded first, so one holding a character
# that folds into a digit, an '@' or a colon ("０", "٣", "²", "①", "＠", "：", CJK "1月") goes on too.
_FOLDS_INTO_SIGN = r"[\p{N}＠﹫：﹕︓⩴\x{3200}-\x{33FF}--0-9]"
_MAYBE_PERSONAL = (
    pl.col("text").str.contains("@", literal=True)
    | (pl.col("text").str.count_matches("[0-9]") >= 4)
    | (pl.col("text").str.count_matches(":", literal=True) >= 2)
    | pl.col("text").str.contains(_FOLDS_INTO_SIGN)
)
_CONVERSATION = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))


@dataclass
class Chunk:
    battles: pl.DataFrame
    answers: pl.DataFrame
    tries: pl.DataFrame
    reactions: pl.DataFrame


@dataclass
class Context:
    ids: Hasher
    models: dict[int, Model]
    # (model pk, completion tokens) -> EcoLogits (Wh, min, max), or None without tokens
    estimate: Callable[[int, int | None], tuple[float, float, float] | None]

    def __post_init__(self):
        self.model_frame = pl.DataFrame(
            [(pk, *model) for pk, model in self.models.items()],
            schema={
                "pk": pl.Int64,
                "slug": pl.String,
                "name": pl.String,
                "params_b": pl.Float64,
                "active_params_b": pl.Float64,
                "license_kind": pl.String,
            },
            orient="row",
        )


def tables_of(chunk: Chunk, ctx: Context, counts: Counter, languages: Counter) -> dict[str, pl.DataFrame]:
    """{table name: frame} for the battles of `chunk` that the rules let in; counts what they keep out."""
    battles = chunk.battles.with_row_index("b")
    ids = battles.select("bid", "b")
    # The rows come in the battles' order (exports.source); those of a battle out of scope go.
    answers = chunk.answers.join(ids, on="bid", maintain_order="left")
    tries = chunk.tries.join(ids, on="bid", maintain_order="left")
    reactions = chunk.reactions.join(ids, on="bid", maintain_order="left")

    battles = _rules(battles, answers, reactions, counts)
    kept = battles.select("b")
    answers = answers.join(kept, on="b", how="semi", maintain_order="left")
    tries = tries.join(kept, on="b", how="semi", maintain_order="left")
    reactions = reactions.join(kept, on="b", how="semi", maintain_order="left")
    counts["published"] += battles.height
    counts["leak_flagged"] += int(battles["leak_flagged"].sum() or 0)
    languages.update(dict(battles["language"].value_counts().iter_rows()))
    if not battles.height:
        return {}

    battles = _shared(battles, answers, tries, ctx)
    return {
        "conversations": _conversations(battles),
        "votes": _votes(battles, answers),
        "reactions": _reactions(battles, answers, reactions),
        "energy": _energy(battles, tries, ctx),
        "arena_battles": _arena_battles(battles),
    }


# -- the rules ------------------------------------------------------------------------------
def _rules(battles: pl.DataFrame, answers: pl.DataFrame, reactions: pl.DataFrame, counts: Counter) -> pl.DataFrame:
    """The battles the rules let in. Each left out counts once, under the first rule that keeps
    it out: no vote row, then a failed or empty answer, then personal data."""
    unvoted = battles["choice"].is_null()
    counts["unvoted"] += int(unvoted.sum())
    usable = answers.group_by("b").agg(
        answers=pl.len(),
        unusable=(~pl.col("status").is_in(FINISHED) | (pl.col("content").str.strip_chars(PY_WHITESPACE) == "")).sum(),
    )
    battles = (
        battles.filter(~unvoted)
        .join(usable, on="b", how="left", maintain_order="left")
        .with_columns(pl.col("answers", "unusable").fill_null(0))
    )
    unusable = (pl.col("unusable") > 0) | (pl.col("answers") == 0)
    left_out = battles.filter(unusable)
    counts["unusable_answers"] += left_out.height
    counts["unusable_answer_count"] += int(left_out["unusable"].sum() or 0)
    battles = battles.filter(~unusable)
    battles = battles.with_columns(comment_texts=_json_column(battles["comments"], _comment_texts, pl.List(pl.String)))

    kinds = _personal_data(battles, answers, reactions)
    for battle_kinds in kinds.values():
        counts["personal_data"] += 1
        counts.update(f"personal_data_{kind}" for kind in battle_kinds)
    flagged = pl.DataFrame({"b": pl.Series(list(kinds), dtype=battles["b"].dtype)})
    return battles.join(flagged, on="b", how="anti", maintain_order="left")


def _personal_data(battles: pl.DataFrame, answers: pl.DataFrame, reactions: pl.DataFrame) -> dict[int, set[str]]:
    """{battle: kinds of personal data} for the battles where the visitor wrote some: in a prompt,
    a comment of the vote or a reaction's comment."""
    in_play = battles.select("b")
    texts = pl.concat(
        [
            answers.join(in_play, on="b", how="semi").unique(["b", "turn"]).select("b", text="prompt"),
            battles.select("b", text="comment_texts").explode("text"),
            reactions.join(in_play, on="b", how="semi").select("b", text="comment"),
        ]
    ).filter(pl.col("text").is_not_null() & _MAYBE_PERSONAL)
    found: dict[int, set[str]] = {}
    checked: dict[str, set[str]] = {}
    for b, text in texts.iter_rows():
        if text not in checked:
            checked[text] = personal_data_kinds(text)
        if checked[text]:
            found.setdefault(b, set()).update(checked[text])
    return found


# -- what every table takes from a battle ------------------------------------------------------
def _shared(battles: pl.DataFrame, answers: pl.DataFrame, tries: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """The battles with their hashed ids, both models, and each side's conversation, tokens,
    energy and Markdown counts (suffixes _a and _b)."""
    pseudonyms = _pseudonyms(battles, ctx)
    battles = battles.join(
        pseudonyms, on=["visitor", "room"], how="left", nulls_equal=True, maintain_order="left"
    ).drop("room")  # the room's code goes no further
    battles = battles.with_columns(
        id=pl.Series([ctx.ids("battle", bid) for bid in battles["bid"]], dtype=pl.String),
        tags_by_side=_json_column(battles["tags"], _tags_by_side, pl.List(pl.Boolean)),
        comment_a=_json_column(battles["comments"], lambda c: _comment(c, "a"), pl.String),
        comment_b=_json_column(battles["comments"], lambda c: _comment(c, "b"), pl.String),
    )
    for side in SIDES:
        model = ctx.model_frame.rename({c: f"model_{side}_{c}" for c in ctx.model_frame.columns if c != "pk"})
        battles = battles.join(model, left_on=f"model_{side}_id", right_on="pk", how="left", maintain_order="left")

    # Each answer gives two turns of its side's conversation, its prompt then its text.
    numbered = answers.with_row_index("_row")
    turns_of = (
        pl.concat(
            [
                numbered.select("b", "side", "_row", _k=pl.lit(0, pl.Int8), role=pl.lit("user"), content="prompt"),
                numbered.select(
                    "b", "side", "_row", _k=pl.lit(1, pl.Int8), role=pl.lit("assistant"), content="content"
                ),
            ]
        )
        .sort("_row", "_k")
        .group_by("b", "side")
        .agg(conversation=pl.struct("role", "content"))
    )
    per_side = (
        answers.group_by("b", "side")
        .agg(
            tokens=pl.col("completion_tokens").fill_null(0).sum().cast(pl.Int64),
            estimate=pl.when(pl.col("estimate_wh").count() > 0).then(pl.col("estimate_wh").sum()),
            context=pl.col("prompt_tokens").last(),
            text=pl.col("content").str.join("\n"),
        )
        .join(turns_of, on=["b", "side"])
        .sort("b")
    )
    metered = _metered(tries)
    turns = answers.group_by("b").agg(turns=pl.col("turn").n_unique().cast(pl.Int64))
    opening = answers.group_by("b").agg(opening_msg=pl.col("prompt").first())
    battles = battles.join(turns, on="b", how="left").join(opening, on="b", how="left").sort("b")
    columns = []
    for side in SIDES:
        mine = _aligned(battles, per_side.filter(pl.col("side") == side).drop("side"))
        mine = mine.with_columns(
            pl.col("conversation").fill_null(pl.lit([], dtype=_CONVERSATION)),
            pl.col("tokens").fill_null(0),
            pl.col("text").fill_null(""),
        )
        figures = _aligned(battles, metered.filter(pl.col("side") == side).drop("side"))
        style = count_frame(mine["text"])
        columns += [
            *(mine[c].alias(f"{c}_{side}") for c in mine.columns if c not in ("b", "text")),
            *(figures[c].alias(f"{c}_{side}") for c in figures.columns if c != "b"),
            pl.struct(*(style[k] for k in HEADER_KEYS), eager=True).alias(f"header_count_{side}"),
            pl.struct(*(style[k] for k in LIST_KEYS), eager=True).alias(f"list_count_{side}"),
            pl.struct(*(style[k] for k in BOLD_KEYS), eager=True).alias(f"bold_count_{side}"),
        ]
    return battles.hstack(columns).with_columns(pl.col("measured_a", "measured_b").fill_null(False))


def _pseudonyms(battles: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """visitor_id for each (visitor, room) of the battles, hashed once each. Outside any room, the
    visitor's own (one for all their battles); in a room, one for the visitor in that room alone.
    A facilitator can find a room's battles in a release (the room's CSV lists their models, tokens
    and times): scoped to the room, the id leads from them to no battle played elsewhere."""
    pairs = battles.select("visitor", "room").unique()
    ids = [
        ctx.ids("visitor", visitor) if room is None else ctx.ids("room-visitor", f"{visitor}|{room}")
        for visitor, room in pairs.iter_rows()
    ]
    return pairs.with_columns(visitor_id=pl.Series(ids, dtype=pl.String))


def _metered(tries: pl.DataFrame) -> pl.DataFrame:
    """Energy over every try of each battle's side (a retried answer used the energy of each try),
    and how it was metered: the tries' methods, sorted and joined by '+' ("cpu-time-model+nvml"),
    null without any. Nearly every side has one method: the list of methods is built only for the
    sides whose first and last method (in sort order) differ, since building one for each side cost
    three times the rest."""
    named = pl.col("method").filter(pl.col("method").is_not_null() & (pl.col("method") != ""))
    present = tries.filter(pl.col("energy_j").is_not_null())
    metered = present.group_by("b", "side").agg(
        energy=pl.col("energy_j").sum(), measured=pl.col("measured").all(), _lo=named.min(), _hi=named.max()
    )
    mixed = metered.filter(pl.col("_lo") != pl.col("_hi")).select("b", "side")
    if mixed.height:
        joined = (
            present.join(mixed, on=["b", "side"], how="semi")
            .group_by("b", "side")
            .agg(_all=named.unique().sort().str.join("+"))
        )
        metered = metered.join(joined, on=["b", "side"], how="left").with_columns(method=pl.coalesce("_all", "_lo"))
    else:
        metered = metered.with_columns(method=pl.col("_lo"))
    return metered.select("b", "side", "energy", "method", "measured").sort("b")


def _aligned(battles: pl.DataFrame, per_battle: pl.DataFrame) -> pl.DataFrame:
    """`per_battle`'s rows in the order of `battles` (null where a battle has none): as it comes
    when every battle has one (no copy of its texts), else through a join."""
    if per_battle["b"].equals(battles["b"]):
        return per_battle
    return battles.select("b").join(per_battle, on="b", how="left", maintain_order="left")


def _json_column(values: pl.Series, parse: Callable, dtype: pl.DataType) -> pl.Series:
    """`parse` of each JSON text (null: of None), computed once per distinct text."""
    distinct = values.unique(maintain_order=True).to_list()
    parsed = [parse(orjson.loads(v) if v is not None else None) for v in distinct]
    lookup = pl.DataFrame({"key": pl.Series(distinct, dtype=pl.String), "value": pl.Series(parsed, dtype=dtype)})
    return pl.DataFrame({"key": values}).join(lookup, on="key", how="left", nulls_equal=True, maintain_order="left")[
        "value"
    ]


def _comment_texts(comments) -> list[str]:
    return [c for c in (comments or {}).values() if isinstance(c, str)] if isinstance(comments, dict) else []


def _comment(comments, side: str) -> str:
    value = comments.get(side) if isinstance(comments, dict) else None
    return value if isinstance(value, str) else ""


def _tags_by_side(tags) -> list[bool]:
    """conv_<tag>_<side> for each reason tag and side, in the votes table's order."""
    tags = tags if isinstance(tags, dict) else {}
    return [tag in (tags.get(side) or ()) for tag in REASON_TAGS for side in SIDES]


# -- the tables ---------------------------------------------------------------------------------
def _model_columns(side: str) -> list[pl.Expr]:
    return [
        pl.col(f"model_{side}_slug").alias(f"model_{side}"),
        pl.col(f"model_{side}_name"),
        pl.col(f"model_{side}_params_b"),
        pl.col(f"model_{side}_active_params_b"),
        pl.col(f"model_{side}_license_kind"),
    ]


def _side_figures(side: str) -> list[pl.Expr]:
    return [
        pl.col(f"tokens_{side}").alias(f"completion_tokens_{side}"),
        pl.col(f"energy_{side}").alias(f"energy_j_{side}"),
        pl.col(f"method_{side}").alias(f"energy_method_{side}"),
        pl.col(f"measured_{side}").alias(f"energy_measured_{side}"),
        pl.col(f"estimate_{side}").alias(f"ecologits_wh_{side}"),
    ]


def _conversations(battles: pl.DataFrame) -> pl.DataFrame:
    return battles.select(
        "id",
        pl.col("created_at").alias("timestamp"),
        "voted_at",
        "visitor_id",
        "mode",
        "language",
        pl.col("turns").alias("conv_turns"),
        *_model_columns("a"),
        *_model_columns("b"),
        "conversation_a",
        "conversation_b",
        *_side_figures("a"),
        *_side_figures("b"),
        pl.col("in_workshop").alias("workshop"),
        "leak_flagged",
    )


def _votes(battles: pl.DataFrame, answers: pl.DataFrame) -> pl.DataFrame:
    choice = pl.col("choice")
    tag_columns = [f"conv_{tag}_{side}" for tag in REASON_TAGS for side in SIDES]
    return battles.select(
        "id",
        pl.col("voted_at").alias("timestamp"),
        pl.col("model_a_slug").alias("model_a_name"),
        pl.col("model_b_slug").alias("model_b_name"),
        pl.concat_list("model_a_slug", "model_b_slug").list.sort().alias("model_pair_name"),
        pl.when(choice == "a")
        .then("model_a_slug")
        .when(choice == "b")
        .then("model_b_slug")
        .otherwise(None)
        .alias("chosen_model_name"),
        choice.is_in(("tie", "both_bad")).alias("both_equal"),
        (choice == "both_bad").alias("both_bad"),
        "choice",
        pl.col("opening_msg").fill_null(""),
        "conversation_a",
        "conversation_b",
        pl.col("turns").alias("conv_turns"),
        pl.col("id").alias("conversation_pair_id"),
        "visitor_id",
        pl.col("comment_a").alias("conv_comments_a"),
        pl.col("comment_b").alias("conv_comments_b"),
        *(pl.col("tags_by_side").list.get(i).alias(name) for i, name in enumerate(tag_columns)),
        "worth_extra_energy",
        "mode",
        "language",
        pl.col("in_workshop").alias("workshop"),
        "leak_flagged",
    )


def _reactions(battles: pl.DataFrame, answers: pl.DataFrame, reactions: pl.DataFrame) -> pl.DataFrame:
    answer = answers.select("b", "turn", "side", question_content="prompt", response_content="content")
    rows = (
        reactions.join(answer, on=["b", "turn", "side"], how="left", maintain_order="left")
        .join(
            battles.select("b", "id", "visitor_id", "model_a_slug", "model_b_slug", "mode", "language", "leak_flagged"),
            on="b",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            tag_list=_json_column(reactions["tags"], lambda tags: [str(t) for t in tags or ()], pl.List(pl.String))
        )
    )
    return rows.select(
        pl.format("{}-{}{}", "id", "turn", "side").alias("id"),
        pl.col("updated_at").alias("timestamp"),
        pl.col("id").alias("conversation_pair_id"),
        "visitor_id",
        pl.col("model_a_slug").alias("model_a_name"),
        pl.col("model_b_slug").alias("model_b_name"),
        pl.when(pl.col("side") == "a").then("model_a_slug").otherwise("model_b_slug").alias("refers_to_model"),
        "side",
        pl.col("turn").cast(pl.Int64).alias("msg_index"),
        "question_content",
        "response_content",
        pl.col("liked").eq_missing(True).alias("liked"),
        pl.col("liked").eq_missing(False).alias("disliked"),
        *(pl.col("tag_list").list.contains(tag).fill_null(False).alias(tag) for tag in REASON_TAGS),
        "comment",
        "mode",
        "language",
        "leak_flagged",
    )


def _energy(battles: pl.DataFrame, tries: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    rows = tries.join(
        battles.select("b", "id", "model_a_id", "model_b_id", "model_a_slug", "model_b_slug"),
        on="b",
        how="left",
        maintain_order="left",
    ).with_columns(
        attempt=_number_in_runs("b", "turn", "side"),
        model_pk=pl.when(pl.col("side") == "a").then("model_a_id").otherwise("model_b_id"),
        devices=_json_column(tries["devices"], lambda devices: [str(d) for d in devices or ()], pl.List(pl.String)),
    )
    pairs = rows.select("model_pk", "completion_tokens").unique()
    estimates = [ctx.estimate(pk, tokens) or (None, None, None) for pk, tokens in pairs.iter_rows()]
    pairs = pairs.with_columns(
        pl.Series("ecologits_energy_wh", [e[0] for e in estimates], dtype=pl.Float64),
        pl.Series("ecologits_energy_wh_min", [e[1] for e in estimates], dtype=pl.Float64),
        pl.Series("ecologits_energy_wh_max", [e[2] for e in estimates], dtype=pl.Float64),
    )
    rows = rows.join(pairs, on=["model_pk", "completion_tokens"], how="left", nulls_equal=True, maintain_order="left")
    return rows.select(
        pl.col("id").alias("conversation_pair_id"),
        pl.format("{}-{}{}-{}", "id", "turn", "side", "attempt").alias("request_id"),
        pl.when(pl.col("side") == "a").then("model_a_slug").otherwise("model_b_slug").alias("model"),
        "side",
        pl.col("turn").cast(pl.Int64),
        "attempt",
        "outcome",
        "prompt_tokens",
        "completion_tokens",
        "energy_j",
        "gpu_j",
        "cpu_j",
        "duration_s",
        "avg_concurrency",
        "devices",
        "method",
        "measured",
        "sampling_period_s",
        "ecologits_energy_wh",
        "ecologits_energy_wh_min",
        "ecologits_energy_wh_max",
    )


def _number_in_runs(*keys: str) -> pl.Expr:
    """1, 2, 3... along each run of rows with the same keys: the tries of an answer come one
    after the other, in the order they were made (exports.source). A window over the keys
    gave the same numbers in twenty times the time."""
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    starts = pl.any_horizontal(*(pl.col(key).ne_missing(pl.col(key).shift()) for key in keys))
    return row - pl.when(starts).then(row).forward_fill() + 1


def _arena_battles(battles: pl.DataFrame) -> pl.DataFrame:
    codes = battles["language"].unique().to_list()
    names = [_language_name(code) for code in codes]
    metadata = pl.struct(
        pl.lit(None, dtype=pl.Int64).alias("sum_user_tokens"),
        pl.col("tokens_a").alias("sum_assistant_a_tokens"),
        pl.col("tokens_b").alias("sum_assistant_b_tokens"),
        pl.col("context_a").cast(pl.Int64).alias("context_a_tokens"),
        pl.col("context_b").cast(pl.Int64).alias("context_b_tokens"),
        "turns",
        "header_count_a",
        "list_count_a",
        "bold_count_a",
        "header_count_b",
        "list_count_b",
        "bold_count_b",
    )
    return battles.select(
        pl.col("id").alias("question_id"),
        pl.col("model_a_slug").alias("model_a"),
        pl.col("model_b_slug").alias("model_b"),
        pl.col("choice").replace_strict(WINNERS, return_dtype=pl.String).alias("winner"),
        pl.col("visitor_id").alias("judge"),
        pl.col("turns").alias("turn"),
        (~pl.col("leak_flagged")).alias("anony"),
        pl.col("in_workshop").alias("workshop"),
        pl.col("language").replace_strict(codes, names, return_dtype=pl.String),
        (pl.col("voted_at").dt.epoch("us") / 1_000_000).alias("tstamp"),
        metadata.alias("conv_metadata"),
    )


def _language_name(code: str) -> str:
    """Chatbot Arena names languages ("French"); FastChat filters on those names."""
    try:
        return get_language_info(code)["name"]
    except KeyError:
        return code
