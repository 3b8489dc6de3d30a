"""The dataset card: README.md with Hugging Face's YAML metadata, then what a researcher needs to
use the release: tables and files, every column with its unit, how energy was measured and
estimated (from the methodology data the arena itself applies), the consent and scrubbing rules
with their counts, and the known limits. Written in English, the language of the Hub.
"""

from __future__ import annotations

import yaml
from django.conf import settings
from django.utils import translation

import footprint

from .schema import TABLES, Table

# Hugging Face's size categories, by number of conversations.
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
COUNT_LABELS = {
    "voted": "battles voted in the window",
    "without_consent": "left out: no publication consent (battle or visitor)",
    "unusable_answers": "left out: a failed or empty answer (battles)",
    "unusable_answer_count": "failed or empty answers in those battles",
    "personal_data": "left out: personal data in a prompt or comment (battles)",
    **{
        f"personal_data_{kind}": f"... of which holding {label}"
        for kind, label in (
            ("email", "an e-mail address"),
            ("phone", "a phone number"),
            ("iban", "an IBAN"),
            ("card", "a payment card number"),
            ("nir", "a French NIR"),
            ("ip", "an IP address"),
        )
    },
    "published": "published (conversations rows)",
    "leak_flagged": "published with leak_flagged (an answer named its model)",
    "unvoted": "battles never voted, not published",
}


def size_category(rows: int) -> str:
    for limit, label in SIZE_CATEGORIES:
        if rows < limit:
            return label
    return "1M<n<10M" if rows < 10_000_000 else "10M<n<100M"


def metadata(manifest: dict) -> dict:
    """The YAML header: one config per table, pointing at its Parquet file (JSONL without Parquet)."""
    data_format = "parquet" if "parquet" in manifest["formats"] else "jsonl"
    configs = []
    for table in TABLES:
        path = next(f["path"] for f in manifest["tables"][table.name]["files"] if f["format"] == data_format)
        config = {"config_name": table.name, "data_files": [{"split": "train", "path": path}]}
        if table.name == "conversations":
            config["default"] = True
        configs.append(config)
    return {
        "license": manifest["license"],
        "language": manifest["languages"],
        "pretty_name": "Energy arena: votes, conversations and measured energy",
        "size_categories": [size_category(manifest["counts"]["published"])],
        "task_categories": ["text-generation"],
        "tags": ["human-feedback", "preference", "chatbot-arena", "energy", "llm-evaluation"],
        "configs": configs,
    }


def render_card(manifest: dict) -> str:
    with translation.override("en"):
        header = yaml.safe_dump(metadata(manifest), sort_keys=False, allow_unicode=True)
        parts = [f"---\n{header}---\n", _summary(manifest), _tables(manifest), _loading(manifest)]
        parts += [_schema(table) for table in TABLES]
        parts += [_energy(), _consent(manifest), _limits(), _licence(manifest)]
    return "\n".join(parts)


def _summary(manifest: dict) -> str:
    window = manifest["window"]
    since = window["since"] or "the first vote"
    until = f"{window['until']} included" if window["until"] else f"the release ({manifest['created_at']})"
    return (
        "# Energy arena: votes, conversations and measured energy\n\n"
        "Blind battles between two language models: a person prompts both, may continue for several "
        "turns and react to single answers, then votes; only then are the models revealed, with what "
        "each answer cost in energy, **measured on the GPU** by the inference worker that served it "
        "(NVML), or estimated and labelled so where it could not be measured. This release holds the "
        "battles whose person agreed to publication, scrubbed of personal data, with the energy record "
        "of every request next to the EcoLogits estimate for the same tokens.\n\n"
        f"- Release: `{manifest['name']}`, created {manifest['created_at']}\n"
        f"- Votes from {since} to {until} (days in {settings.TIME_ZONE})\n"
        f"- Conversations: {manifest['counts']['published']:,}\n"
        f"- Licence: {manifest['license']}\n"
    )


def _tables(manifest: dict) -> str:
    lines = ["## Tables\n", "| table | rows | files | what |", "|---|---:|---|---|"]
    for table in TABLES:
        entry = manifest["tables"][table.name]
        files = ", ".join(f"`{f['path']}` ({_size(f['bytes'])})" for f in entry["files"])
        lines.append(f"| `{table.name}` | {entry['rows']:,} | {files} | {table.summary} |")
    if manifest.get("samples"):
        lines.append(
            f"\n`samples/` holds the rows of {manifest['sample_battles']:,} battles drawn at random, in every "
            "battle table, as JSON Lines: a quick look without downloading everything."
        )
    lines.append("\n`SHA256SUMS` lists every file's SHA-256 (`sha256sum -c SHA256SUMS`).")
    return "\n".join(lines) + "\n"


def _loading(manifest: dict) -> str:
    parquet = "parquet" in manifest["formats"]
    path = "votes/votes.parquet" if parquet else "votes/votes.jsonl"
    reader = "read_parquet" if parquet else "read_json"
    pandas = "pd.read_parquet(" if parquet else "pd.read_json(lines=True, path_or_buf="
    return (
        "## Loading\n\n"
        "```python\n"
        "from datasets import load_dataset\n"
        'votes = load_dataset("path/to/this/folder", "votes")["train"]\n\n'
        "import pandas as pd\n"
        f'votes = {pandas}"{path}")\n\n'
        "import duckdb\n"
        f"duckdb.sql(\"SELECT model_a_name, count(*) FROM {reader}('{path}') GROUP BY 1\")\n"
        "```\n\n"
        "`arena_battles` has Chatbot Arena's columns: FastChat's `compute_bt` "
        "(`fastchat/serve/monitor/rating_systems.py`) runs on it as it is; on the rows where `anony` is true "
        "and `workshop` false it ranks the models as the arena's public leaderboard does.\n"
    )


def _schema(table: Table) -> str:
    lines = [f"### `{table.name}`\n", str(table.summary), "", "| column | type | unit | meaning |", "|---|---|---|---|"]
    for column in table.columns:
        cells = (str(column.type), column.unit, column.description)
        type_text, unit, description = (cell.replace("|", "\\|") for cell in cells)
        lines.append(f"| `{column.name}` | `{type_text}` | {unit} | {description} |")
    heading = "## Schema\n\n" if table is TABLES[0] else ""
    return heading + "\n".join(lines) + "\n"


def _energy() -> str:
    m = footprint.methodology("en")
    formulas = "\n".join(f"- `{f['formula']}` ({f['unit'] or 'no unit'}): {f['label']}" for f in m["formulas"])
    profile = ", ".join(f"{k} = {v}" for k, v in m["default_profile"].items())
    limits = "\n".join(f"- {limit['text']}" for limit in m["limits"])
    return (
        "## How energy was measured and estimated\n\n"
        "Each model runs behind an inference worker that samples the cumulative energy counter of the GPUs "
        "its engine uses (NVML `nvmlDeviceGetTotalEnergyConsumption`; power polling on GPUs without the "
        "counter) every `sampling_period_s`, and splits each interval's energy among the requests active in "
        "it, in proportion to the tokens each processed (prompt tokens during prefill, generated tokens during "
        "decode). Energy of intervals with no request is idle energy: reported by the worker, charged to no "
        "request. Where no GPU counter exists the worker reads RAPL (`measured` true) or, as a last resort, "
        "multiplies the engine's CPU time by a power per core (`cpu-time-model`, `measured` false). "
        "`energy_j` is therefore energy at the device, before PUE.\n\n"
        "Every try at an answer is a row of `energy`: a stopped or failed try that was retried used energy "
        "too, and the conversation totals (`energy_j_a`, `energy_j_b`) add up every try.\n\n"
        f"Estimates come from {m['estimates']['source']} ({m['estimates']['url']}). "
        "`ecologits_wh_a`/`_b` in `conversations` are the estimates the reveal showed (latency included); "
        "`ecologits_energy_wh` in `energy` is computed for the release from the model's parameter counts "
        "and the try's completion tokens alone, so that estimators can be checked against measurements. "
        "EcoLogits figures are at the wall (PUE included): divide by the PUE to compare with `energy_j`.\n\n"
        f"Deployment profile: {profile}.\n\nFormulas the arena applies to turn energy into impacts:\n\n"
        f"{formulas}\n\nLimits of the measurement:\n\n{limits}\n"
    )


def _consent(manifest: dict) -> str:
    counts = manifest["counts"]
    rows = "\n".join(f"| {label} | {counts.get(key, 0):,} |" for key, label in COUNT_LABELS.items())
    return (
        "## Consent and scrubbing\n\n"
        "- Only battles whose visitor agreed to publication are published: the battle's consent (given "
        "when it was played) and the visitor's current one (a withdrawal counts). Only voted battles: "
        "before the vote the models are hidden from the person, and a release would name them.\n"
        "- Never published: IP addresses (the arena stores none), cookie ids, workshop codes (only "
        "whether a battle was played in a workshop), worker URLs.\n"
        "- Conversation and visitor ids (`id`, `conversation_pair_id`, `visitor_id`, `judge`, `question_id`) "
        "are keyed BLAKE2b hashes under a key drawn for this release and thrown away; reaction and request "
        "ids are built from the conversation's. They link the tables of this release and nothing else: two "
        "releases cannot be joined on them, and the workers' request ids are not published.\n"
        "- A battle played in a workshop room has a `visitor_id` (and `judge`) scoped to that room: a keyed hash "
        "of the visitor's id together with the room. The same person in a workshop room and outside it has two "
        "different `visitor_id` values (and one per room), so a room's facilitator, who can tell the room's "
        "battles from the room's own figures, cannot follow its participants to the battles they played "
        "elsewhere. Counts of distinct visitors therefore count a person once per room and once outside.\n"
        "- A conversation is left out whole, with its vote and reactions, when a prompt or comment holds "
        "an e-mail address (email-validator), a phone number (phonenumbers; numbers written in France, the "
        "United Kingdom or the United States, or in international form), an IBAN, a payment card number "
        "(Luhn) or a French NIR (python-stdnum), or an IP address (other than loopback). Answers are not "
        "scanned.\n"
        "- A conversation with a failed or empty answer is left out whole (no placeholder answers).\n"
        "- Battles flagged for an identity leak (an answer named its own model) are kept, with "
        "`leak_flagged` true (`anony` false in `arena_battles`).\n\n"
        f"| battles | count |\n|---|---:|\n{rows}\n"
    )


def _limits() -> str:
    return (
        "## Known limits\n\n"
        "- The scrub finds well-formed data only: a number spelt out in words, an address written "
        '"name at domain", or a name and street address are not detected. Report a leak and it will be '
        "removed from the next release.\n"
        "- Rows keep their text: the same conversation can be recognised across releases by its "
        "content, even though its ids differ.\n"
        "- `conv_metadata.sum_user_tokens` is null: the workers count prompt tokens with the chat "
        "template and the earlier turns (`context_a_tokens`), not the user's words alone.\n"
        "- Energy is per request at the accelerator; idle energy, the host and the network are not in "
        "`energy_j` (see the limits above). Tries whose worker died have no figure (`energy_j` null), "
        "never a made-up one.\n"
        "- Visitors are self-selected; the interface is French first, and `language` is the interface's "
        "language, not a detected language of the prompt.\n"
    )


def _licence(manifest: dict) -> str:
    return (
        "## Licence\n\n"
        f"{manifest['license']}. The answers were generated by the models of the `models` table, under "
        "their own licences.\n"
    )


def _size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GB"
