"""Fixtures for the dataset exports: the arena's catalogue and helpers, a factory of finished,
voted battles (consent, prompts, comments, reactions, energy records as the workers write them),
and a helper that runs `export_dataset` and reads every table back."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.utils import timezone

from arena.models import Battle, Message, Reaction, Turn, Visitor, Vote
from exports.schema import TABLES
from tests.arena.conftest import *  # noqa: F403
from tests.arena.conftest import add_attempt, energy_record


@pytest.fixture
def played(catalogue):
    """Build a voted battle directly in the database.

    `prompts`: one per turn; `statuses`: per turn (a, b) answer statuses; `consent`: the battle's
    and its visitor's; `reactions`: {(turn, side): (liked, tags, comment)}."""

    def play(
        *,
        prompts=("Explique la photosynthèse simplement.",),
        model_a="heron",
        model_b="mesange",
        choice="a",
        tags=None,
        comments=None,
        worth=None,
        consent=True,
        visitor_consent=None,
        visitor=None,
        statuses=None,
        reactions=None,
        leak_flagged=False,
        workshop_code=None,
        language="fr",
        voted_at=None,
        measured=True,
        retried=False,
    ) -> Battle:
        if visitor is None:
            visitor = Visitor.objects.create(
                id=uuid.uuid4(),
                terms_accepted_at=timezone.now(),
                publish_consent=consent if visitor_consent is None else visitor_consent,
            )
        battle = Battle.objects.create(
            visitor=visitor,
            mode="random",
            model_a=catalogue[model_a],
            model_b=catalogue[model_b],
            language=language,
            publish_consent=consent,
            leak_flagged=leak_flagged,
            leak_detail="side a" if leak_flagged else "",
            workshop_code=workshop_code,
        )
        for index, prompt in enumerate(prompts):
            turn = Turn.objects.create(battle=battle, index=index, prompt=prompt)
            turn_statuses = statuses[index] if statuses else ("done", "done")
            for side, status in zip("ab", turn_statuses, strict=True):
                content = "" if status == "empty" else f"## Réponse {index}{side}\n\n- **un** point\n- deux\n"
                status = "stopped" if status == "empty" else status
                message = Message.objects.create(
                    turn=turn,
                    side=side,
                    status=status,
                    content=content if status != "error" else "",
                    prompt_tokens=12 + 20 * index,
                    completion_tokens=16 if status != "error" else None,
                    duration_ms=500,
                    finished_at=timezone.now(),
                    estimate={"energy_wh": 0.002, "source": "EcoLogits test"} if status == "done" else None,
                )
                if retried and index == 0 and side == "a":
                    add_attempt(message, energy_record(1.0, measured=measured, method="nvml"), outcome="error")
                method = "nvml" if measured else "cpu-time-model"
                add_attempt(message, energy_record(3.6, measured=measured, method=method), outcome=status)
                if reactions and (index, side) in reactions:
                    liked, rtags, comment = reactions[(index, side)]
                    Reaction.objects.create(message=message, liked=liked, tags=rtags, comment=comment)
        Vote.objects.create(
            battle=battle,
            choice=choice,
            tags=tags or {"a": [], "b": []},
            comments=comments or {"a": "", "b": ""},
            worth_extra_energy=worth,
        )
        battle.voted_at = voted_at or timezone.now()
        battle.save(update_fields=["voted_at"])
        return battle

    return play


def export(out_dir: Path, *args) -> tuple[str, str]:
    """Run `export_dataset OUT_DIR *args`: (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("export_dataset", str(out_dir), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def read_tables(out_dir: Path) -> dict[str, pd.DataFrame]:
    return {t.name: pd.read_parquet(out_dir / t.name / f"{t.name}.parquet") for t in TABLES}


def every_file_text(out_dir: Path) -> str:
    """Every file of a release as text (Parquet pages are zstd-compressed: read them through pandas)."""
    parts = []
    for path in sorted(Path(out_dir).rglob("*")):
        if path.suffix == ".parquet":
            parts.append(pd.read_parquet(path).to_json(force_ascii=False, date_format="iso"))
        elif path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)
