"""Each try gets its battle, turn index and side (copied from its message), and its energy
record's other figures as columns: a dataset release then reads the tries in their battles'
order joining the battles only (exports/source.py)."""

from django.db import migrations, models
import django.db.models.deletion

# The existing tries, in one statement per database (an ORM loop over millions of rows would
# hold the migration for minutes).
BACKFILL = {
    "postgresql": """
        UPDATE arena_attempt a SET battle_id = t.battle_id, turn_index = t.index, side = m.side,
            duration_s = (a.record ->> 'duration_s')::double precision,
            avg_concurrency = (a.record ->> 'avg_concurrency')::double precision,
            sampling_period_s = (a.record ->> 'sampling_period_s')::double precision,
            devices = CASE WHEN jsonb_typeof(a.record -> 'devices') = 'array'
                THEN a.record -> 'devices' ELSE '[]'::jsonb END
        FROM arena_message m JOIN arena_turn t ON t.id = m.turn_id
        WHERE m.id = a.message_id""",
    "sqlite": """
        UPDATE arena_attempt SET battle_id = t.battle_id, turn_index = t."index", side = m.side,
            duration_s = json_extract(arena_attempt.record, '$.duration_s'),
            avg_concurrency = json_extract(arena_attempt.record, '$.avg_concurrency'),
            sampling_period_s = json_extract(arena_attempt.record, '$.sampling_period_s'),
            devices = CASE WHEN json_type(arena_attempt.record, '$.devices') = 'array'
                THEN json_extract(arena_attempt.record, '$.devices') ELSE '[]' END
        FROM arena_message m JOIN arena_turn t ON t.id = m.turn_id
        WHERE m.id = arena_attempt.message_id""",
}


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL[schema_editor.connection.vendor])


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0009_attempt_streaming_index"),
    ]

    operations = [
        # No constraint nor index yet: checking and indexing each row as the backfill writes it
        # took minutes on 4M tries; 0011 adds both once, after it.
        migrations.AddField(
            model_name="attempt",
            name="battle",
            field=models.ForeignKey(
                null=True,
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="arena.battle",
            ),
        ),
        migrations.AddField(model_name="attempt", name="turn_index", field=models.PositiveSmallIntegerField(null=True)),
        migrations.AddField(
            model_name="attempt",
            name="side",
            field=models.CharField(choices=[("a", "a"), ("b", "b")], max_length=1, null=True),
        ),
        migrations.AddField(model_name="attempt", name="duration_s", field=models.FloatField(blank=True, null=True)),
        migrations.AddField(
            model_name="attempt", name="avg_concurrency", field=models.FloatField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="attempt", name="sampling_period_s", field=models.FloatField(blank=True, null=True)
        ),
        migrations.AddField(model_name="attempt", name="devices", field=models.JSONField(blank=True, default=list)),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
    ]
