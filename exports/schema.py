"""The tables of a dataset release: every column with its Arrow type, unit and meaning.

One definition serves the Parquet writer (schemas), the JSONL rows (column order), the dataset
card (schema tables) and the public page (table summaries), so a column cannot be documented one
way and written another. Column names follow compar:IA's releases where a column means the same
thing (votes, reactions) and Chatbot Arena's where FastChat reads them (arena_battles).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from django.utils.translation import gettext_lazy

from arena.battles import REASON_TAGS

TIMESTAMP = pa.timestamp("us", tz="UTC")
TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
CONVERSATION = pa.list_(TURN)
SIDES = ("a", "b")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    unit: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    summary: str  # lazy: English in the card, the visitor's language on /donnees/
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _col(name: str, type_: pa.DataType, description: str, unit: str = "") -> Column:
    return Column(name, type_, unit, description)


def _models(side: str) -> tuple[Column, ...]:
    s = side.upper()
    return (
        _col(f"model_{side}", pa.string(), f"side {s}'s model: its catalogue slug (see the models table)"),
        _col(f"model_{side}_name", pa.string(), f"side {s}'s model: display name"),
        _col(f"model_{side}_params_b", pa.float64(), f"side {s}'s model: total parameters", "billion parameters"),
        _col(
            f"model_{side}_active_params_b",
            pa.float64(),
            f"side {s}'s model: parameters used per token",
            "billion parameters",
        ),
        _col(f"model_{side}_license_kind", pa.string(), f"side {s}'s model: open, semi_open or proprietary"),
    )


def _side_figures(side: str) -> tuple[Column, ...]:
    s = side.upper()
    return (
        _col(f"completion_tokens_{side}", pa.int64(), f"tokens side {s} generated, all turns", "tokens"),
        _col(
            f"energy_j_{side}",
            pa.float64(),
            f"energy of every try at side {s}'s answers, as its worker metered it, or EcoLogits' estimate "
            "(divided by the PUE) for a remote API model (null: no try reported a figure)",
            "J",
        ),
        _col(
            f"energy_method_{side}",
            pa.string(),
            "how those tries were metered or estimated (nvml, nvml-power-polling, rapl, cpu-time-model, ecologits, "
            "off...; '+' joins several)",
        ),
        _col(
            f"energy_measured_{side}",
            pa.bool_(),
            "true when every try with a figure was read from hardware (NVML counter or power polling, RAPL)",
        ),
        _col(
            f"ecologits_wh_{side}",
            pa.float64(),
            f"EcoLogits estimate of side {s}'s finished answers at the data centre, its PUE included (sum over"
            " turns; the reveal shows it so beside the PUE-free figure: divide by the PUE to compare with energy_wh)",
            "Wh",
        ),
    )


CONVERSATION_ID = "conversation id: a keyed hash of the battle, different in every release"
VISITOR_ID = (
    "visitor id: a keyed hash of the browser's id, different in every release (releases cannot be joined on it); "
    "in a workshop, of the browser's id and the room: the same person in a workshop room and outside it has "
    "two different visitor_id values"
)
LEAK = "an answer named its own model: kept, but left out of the arena's ranking"

CONVERSATIONS = Table(
    "conversations",
    gettext_lazy("One row per battle: both models, each side's turns, tokens and energy."),
    (
        _col("id", pa.string(), CONVERSATION_ID),
        _col("timestamp", TIMESTAMP, "when the battle started", "UTC"),
        _col("voted_at", TIMESTAMP, "when the vote closed it", "UTC"),
        _col("visitor_id", pa.string(), VISITOR_ID),
        _col("mode", pa.string(), "how the pair was drawn: random, frugal, david_vs_goliath or custom"),
        _col("language", pa.string(), "interface language (ISO 639-1)"),
        _col("conv_turns", pa.int64(), "number of prompts", "turns"),
        *_models("a"),
        *_models("b"),
        _col("conversation_a", CONVERSATION, "side A's conversation: [{role: user|assistant, content}]"),
        _col("conversation_b", CONVERSATION, "side B's conversation"),
        *_side_figures("a"),
        *_side_figures("b"),
        _col("workshop", pa.bool_(), "played during a workshop (the room's code is never published)"),
        _col("leak_flagged", pa.bool_(), LEAK),
    ),
)

VOTES = Table(
    "votes",
    gettext_lazy("One row per vote, with compar:IA's column names, reason tags and the energy question."),
    (
        _col("id", pa.string(), "vote id: its conversation's id (one vote per conversation)"),
        _col("timestamp", TIMESTAMP, "when the vote was cast", "UTC"),
        _col("model_a_name", pa.string(), "side A's model (catalogue slug)"),
        _col("model_b_name", pa.string(), "side B's model (catalogue slug)"),
        _col("model_pair_name", pa.list_(pa.string()), "the two models, sorted"),
        _col("chosen_model_name", pa.string(), "the preferred model; null for tie and both_bad"),
        _col("both_equal", pa.bool_(), "no preference: tie or both_bad"),
        _col("both_bad", pa.bool_(), "no preference because both answers were bad"),
        _col("choice", pa.string(), "the vote as cast: a, b, tie or both_bad"),
        _col("opening_msg", pa.string(), "the first prompt"),
        _col("conversation_a", CONVERSATION, "side A's conversation: [{role, content}]"),
        _col("conversation_b", CONVERSATION, "side B's conversation"),
        _col("conv_turns", pa.int64(), "number of prompts", "turns"),
        _col("conversation_pair_id", pa.string(), CONVERSATION_ID + " (the conversations table's id)"),
        _col("visitor_id", pa.string(), VISITOR_ID),
        _col("conv_comments_a", pa.string(), "the voter's comment on side A"),
        _col("conv_comments_b", pa.string(), "the voter's comment on side B"),
        *(
            _col(f"conv_{tag}_{side}", pa.bool_(), f"reason tag '{tag}' given to side {side.upper()}")
            for tag in REASON_TAGS
            for side in SIDES
        ),
        _col(
            "worth_extra_energy",
            pa.bool_(),
            "answer to 'was it worth the extra energy?', asked when the preferred answer used more; null when not asked or not answered",
        ),
        _col("mode", pa.string(), "how the pair was drawn"),
        _col("language", pa.string(), "interface language (ISO 639-1)"),
        _col("workshop", pa.bool_(), "played during a workshop"),
        _col("leak_flagged", pa.bool_(), LEAK),
    ),
)

REACTIONS = Table(
    "reactions",
    gettext_lazy("One row per reaction to a single answer, with that answer and its question."),
    (
        _col("id", pa.string(), "reaction id: conversation id, turn and side of the answer"),
        _col("timestamp", TIMESTAMP, "when the reaction was last changed", "UTC"),
        _col("conversation_pair_id", pa.string(), CONVERSATION_ID),
        _col("visitor_id", pa.string(), VISITOR_ID),
        _col("model_a_name", pa.string(), "side A's model (catalogue slug)"),
        _col("model_b_name", pa.string(), "side B's model (catalogue slug)"),
        _col("refers_to_model", pa.string(), "the model whose answer was rated"),
        _col("side", pa.string(), "a or b"),
        _col("msg_index", pa.int64(), "turn of the answer, from 0", "turn"),
        _col("question_content", pa.string(), "the prompt the answer replies to"),
        _col("response_content", pa.string(), "the answer"),
        _col("liked", pa.bool_(), "thumbs up"),
        _col("disliked", pa.bool_(), "thumbs down"),
        *(_col(tag, pa.bool_(), f"reason tag '{tag}'") for tag in REASON_TAGS),
        _col("comment", pa.string(), "the visitor's comment"),
        _col("mode", pa.string(), "how the pair was drawn"),
        _col("language", pa.string(), "interface language (ISO 639-1)"),
        _col("leak_flagged", pa.bool_(), LEAK),
    ),
)

ENERGY = Table(
    "energy",
    gettext_lazy(
        "One row per request to a model, with the measured energy and the EcoLogits estimate for the same tokens."
    ),
    (
        _col("conversation_pair_id", pa.string(), CONVERSATION_ID),
        _col("request_id", pa.string(), "the request's id in this release: conversation id, turn and side, try"),
        _col("model", pa.string(), "catalogue slug"),
        _col("side", pa.string(), "a or b"),
        _col("turn", pa.int64(), "turn of the answer, from 0", "turn"),
        _col("attempt", pa.int64(), "try at this answer, from 1 (a failed or stopped try may be retried)"),
        _col("outcome", pa.string(), "done, stopped, error or unknown (tries stored before outcomes were recorded)"),
        _col("prompt_tokens", pa.int64(), "prompt tokens, chat template and earlier turns included", "tokens"),
        _col("completion_tokens", pa.int64(), "generated tokens", "tokens"),
        _col(
            "energy_j",
            pa.float64(),
            "energy charged to the request by its worker, or EcoLogits' estimate divided by the PUE for a remote "
            "API model (method ecologits) (null: no figure, e.g. method off)",
            "J",
        ),
        _col("gpu_j", pa.float64(), "of which accelerators (NVML)", "J"),
        _col(
            "cpu_j",
            pa.float64(),
            "CPU packages (RAPL: whole packages, shared by every process on the host) or the CPU-time model; "
            "on a GPU worker it sits beside gpu_j and is not included in energy_j, without a GPU it is energy_j",
            "J",
        ),
        _col("duration_s", pa.float64(), "duration the worker metered", "s"),
        _col(
            "avg_concurrency", pa.float64(), "mean number of requests the engine served at once meanwhile", "requests"
        ),
        _col(
            "devices",
            pa.list_(pa.string()),
            "devices metered: GPU names, RAPL packages, the CPU-time model's scope (the engine's processes or the "
            "whole host), or 'remote API (provider)' for an estimate",
        ),
        _col(
            "method",
            pa.string(),
            "nvml (GPU energy counter), nvml-power-polling (GPU power polled and integrated, on GPUs without the "
            "counter), rapl (CPU package counter), cpu-time-model (CPU time x power per core, estimated), "
            "ecologits (remote API, estimated) or off (worker run without a meter, no figure)",
        ),
        _col(
            "measured",
            pa.bool_(),
            "read from hardware (nvml, nvml-power-polling, rapl); false for cpu-time-model, ecologits and off",
        ),
        _col("sampling_period_s", pa.float64(), "the meter's sampling period", "s"),
        _col(
            "ecologits_energy_wh",
            pa.float64(),
            "EcoLogits estimate for the same model and completion tokens (no latency given), at the wall (PUE included)",
            "Wh",
        ),
        _col("ecologits_energy_wh_min", pa.float64(), "low end of that estimate", "Wh"),
        _col("ecologits_energy_wh_max", pa.float64(), "high end of that estimate", "Wh"),
    ),
)

HEADER_COUNT = pa.struct([(f"h{i}", pa.int64()) for i in range(1, 7)])
LIST_COUNT = pa.struct([("ordered", pa.int64()), ("unordered", pa.int64())])
BOLD_COUNT = pa.struct([("**", pa.int64()), ("__", pa.int64())])
CONV_METADATA = pa.struct(
    [
        ("sum_user_tokens", pa.int64()),
        ("sum_assistant_a_tokens", pa.int64()),
        ("sum_assistant_b_tokens", pa.int64()),
        ("context_a_tokens", pa.int64()),
        ("context_b_tokens", pa.int64()),
        ("turns", pa.int64()),
        ("header_count_a", HEADER_COUNT),
        ("list_count_a", LIST_COUNT),
        ("bold_count_a", BOLD_COUNT),
        ("header_count_b", HEADER_COUNT),
        ("list_count_b", LIST_COUNT),
        ("bold_count_b", BOLD_COUNT),
    ]
)

ARENA_BATTLES = Table(
    "arena_battles",
    gettext_lazy("Chatbot Arena's battle format, so that FastChat's and arena-rank's code run on it unchanged."),
    (
        _col("question_id", pa.string(), CONVERSATION_ID),
        _col("model_a", pa.string(), "side A's model (catalogue slug)"),
        _col("model_b", pa.string(), "side B's model (catalogue slug)"),
        _col("winner", pa.string(), "model_a, model_b, tie or tie (bothbad)"),
        _col("judge", pa.string(), VISITOR_ID),
        _col("turn", pa.int64(), "number of prompts", "turns"),
        _col(
            "anony", pa.bool_(), "models hidden until the vote; false when an answer named its own model (leak_flagged)"
        ),
        _col("workshop", pa.bool_(), "played during a workshop (the arena's public leaderboard leaves these out)"),
        _col("language", pa.string(), "interface language, as a name (French, English)"),
        _col("tstamp", pa.float64(), "when the vote was cast", "Unix seconds"),
        _col(
            "conv_metadata",
            CONV_METADATA,
            "FastChat's style features: assistant tokens per side (sum and last context), Markdown headers, "
            "lists and bold per side, counted as FastChat's add_markdown_info does; sum_user_tokens is null "
            "(the workers count prompt tokens with the chat template and earlier turns)",
        ),
    ),
)

MODELS = Table(
    "models",
    gettext_lazy("The model catalogue as it was at export time."),
    (
        _col("slug", pa.string(), "catalogue id, as used in the other tables"),
        _col("name", pa.string(), "display name"),
        _col("organization", pa.string(), "publisher"),
        _col("license", pa.string(), "licence"),
        _col("license_kind", pa.string(), "open, semi_open or proprietary"),
        _col("params_b", pa.float64(), "total parameters", "billion parameters"),
        _col("active_params_b", pa.float64(), "parameters used per token", "billion parameters"),
        _col("architecture", pa.string(), "architecture"),
        _col("release_date", pa.date32(), "release date"),
        _col("hf_id", pa.string(), "Hugging Face id"),
        _col("enabled", pa.bool_(), "offered in battles at export time"),
        _col("description_fr", pa.string(), "description (French)"),
        _col("description_en", pa.string(), "description (English)"),
    ),
)

TABLES: tuple[Table, ...] = (CONVERSATIONS, VOTES, REACTIONS, ENERGY, ARENA_BATTLES, MODELS)
TABLES_BY_NAME = {t.name: t for t in TABLES}
FORMATS = ("parquet", "jsonl")
