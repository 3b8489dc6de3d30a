"""The tries' battle, turn index and side, filled by 0010, are required from now on (in a
migration of its own: PostgreSQL refuses to alter a table whose rows the same transaction just
updated under a deferred foreign key)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0010_attempt_place_and_figures"),
    ]

    operations = [
        migrations.AlterField(
            model_name="attempt",
            name="battle",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="arena.battle"),
        ),
        migrations.AlterField(model_name="attempt", name="turn_index", field=models.PositiveSmallIntegerField()),
        migrations.AlterField(
            model_name="attempt",
            name="side",
            field=models.CharField(choices=[("a", "a"), ("b", "b")], max_length=1),
        ),
    ]
