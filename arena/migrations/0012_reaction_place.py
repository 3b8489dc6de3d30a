"""Each reaction gets its battle, turn index and side (copied from its message), as tries did in
0010: a dataset release then reads the reactions in their battles' order joining the battles only
(exports/source.py)."""

import django.db.models.deletion
from django.db import migrations, models

# The existing reactions, in one statement per database.
BACKFILL = {
    "postgresql": """
        UPDATE arena_reaction r SET battle_id = t.battle_id, turn_index = t.index, side = m.side
        FROM arena_message m JOIN arena_turn t ON t.id = m.turn_id
        WHERE m.id = r.message_id""",
    "sqlite": """
        UPDATE arena_reaction SET battle_id = t.battle_id, turn_index = t."index", side = m.side
        FROM arena_message m JOIN arena_turn t ON t.id = m.turn_id
        WHERE m.id = arena_reaction.message_id""",
}


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL[schema_editor.connection.vendor])


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0011_attempt_place_required"),
    ]

    operations = [
        # No constraint nor index until the rows are filled (0013), as in 0010.
        migrations.AddField(
            model_name="reaction",
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
        migrations.AddField(
            model_name="reaction", name="turn_index", field=models.PositiveSmallIntegerField(null=True)
        ),
        migrations.AddField(
            model_name="reaction",
            name="side",
            field=models.CharField(choices=[("a", "a"), ("b", "b")], max_length=1, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
    ]
