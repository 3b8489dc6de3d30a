"""One row per try at an answer (`Attempt`) replaces `Message.energy`,
`Message.earlier_energy` and the `Message.attempts` counter.

Every stored energy record becomes an attempt with its figures in columns, so totals
are database aggregates. Tries the old counter knew of but whose record was lost (a
worker that died) become attempts without figures: nothing is invented. Earlier tries'
outcomes were not recorded: they say "unknown". Reversible.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


FINAL_OUTCOMES = {"done": "done", "stopped": "stopped", "error": "error", "streaming": "streaming"}


def _columns(record: dict) -> dict:
    return {
        "record": record,
        "energy_j": record.get("energy_j"),
        "gpu_j": record.get("gpu_j"),
        "cpu_j": record.get("cpu_j"),
        "measured": bool(record.get("measured")),
        "method": str(record.get("method") or "")[:40],
        "prompt_tokens": record.get("prompt_tokens"),
        "completion_tokens": record.get("completion_tokens"),
    }


def messages_to_attempts(apps, schema_editor):
    Message = apps.get_model("arena", "Message")
    Attempt = apps.get_model("arena", "Attempt")
    rows = []
    for m in Message.objects.all().iterator(chunk_size=2000):
        earlier = [r for r in (m.earlier_energy or []) if isinstance(r, dict)]
        current = m.energy if isinstance(m.energy, dict) else None
        known = len(earlier) + (1 if current else 0)
        lost = max(m.attempts_count - known, 0)
        tries = [{"outcome": "unknown"} for _ in range(lost)]
        tries += [{"outcome": "unknown", **_columns(r)} for r in earlier]
        if current:
            tries.append(
                {"outcome": FINAL_OUTCOMES.get(m.status, "unknown"), "finished_at": m.finished_at, **_columns(current)}
            )
        elif tries and m.status in FINAL_OUTCOMES:
            tries[-1]["outcome"] = FINAL_OUTCOMES[m.status]  # the last try, whose record was lost
        for t in tries:
            rows.append(Attempt(message_id=m.pk, started_at=m.created_at, **t))
        if len(rows) >= 2000:
            Attempt.objects.bulk_create(rows)
            rows = []
    Attempt.objects.bulk_create(rows)


def attempts_to_messages(apps, schema_editor):
    Message = apps.get_model("arena", "Message")
    Attempt = apps.get_model("arena", "Attempt")
    for m in Message.objects.all().iterator(chunk_size=2000):
        tries = list(Attempt.objects.filter(message_id=m.pk).order_by("started_at", "id"))
        records = [t.record for t in tries if t.record is not None]
        last_is_current = bool(tries) and tries[-1].record is not None and tries[-1].outcome != "unknown"
        m.energy = records[-1] if last_is_current else None
        m.earlier_energy = records[:-1] if last_is_current else records
        m.attempts_count = len(tries)
        m.save(update_fields=["energy", "earlier_energy", "attempts_count"])


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0003_leaderboardsnapshot_moves_to_leaderboard"),
    ]

    operations = [
        # Out of the way of the new reverse accessor `message.attempts`.
        migrations.RenameField(model_name="message", old_name="attempts", new_name="attempts_count"),
        migrations.CreateModel(
            name="Attempt",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "request_id",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        help_text="X-Request-ID sent to the worker: matches its logs and /v1/requests/<id>",
                        max_length=64,
                    ),
                ),
                (
                    "backend",
                    models.CharField(blank=True, help_text="which backend (worker URL) served it", max_length=200),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("streaming", "Streaming"),
                            ("done", "Done"),
                            ("stopped", "Stopped"),
                            ("error", "Error"),
                            ("unknown", "Unknown"),
                        ],
                        default="streaming",
                        max_length=12,
                    ),
                ),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("prompt_tokens", models.PositiveIntegerField(blank=True, null=True)),
                ("completion_tokens", models.PositiveIntegerField(blank=True, null=True)),
                ("energy_j", models.FloatField(blank=True, null=True)),
                ("gpu_j", models.FloatField(blank=True, null=True)),
                ("cpu_j", models.FloatField(blank=True, null=True)),
                ("measured", models.BooleanField(default=False)),
                ("method", models.CharField(blank=True, max_length=40)),
                ("record", models.JSONField(blank=True, help_text="the worker's energy record, whole", null=True)),
                (
                    "message",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="attempts", to="arena.message"
                    ),
                ),
            ],
            options={
                "ordering": ["started_at", "id"],
            },
        ),
        migrations.RunPython(messages_to_attempts, attempts_to_messages),
        migrations.RemoveField(
            model_name="message",
            name="attempts_count",
        ),
        migrations.RemoveField(
            model_name="message",
            name="earlier_energy",
        ),
        migrations.RemoveField(
            model_name="message",
            name="energy",
        ),
    ]
