"""The reactions' battle, turn index and side, filled by 0012, are required from now on (a
migration of its own, as 0011 is for the tries)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0012_reaction_place"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reaction",
            name="battle",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="arena.battle"),
        ),
        migrations.AlterField(model_name="reaction", name="turn_index", field=models.PositiveSmallIntegerField()),
        migrations.AlterField(
            model_name="reaction",
            name="side",
            field=models.CharField(choices=[("a", "a"), ("b", "b")], max_length=1),
        ),
    ]
