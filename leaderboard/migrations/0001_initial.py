"""Adopt the snapshot table the arena app created (same name, no data copied)."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("arena", "0003_leaderboardsnapshot_moves_to_leaderboard")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LeaderboardSnapshot",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("data", models.JSONField()),
                    ],
                    options={"get_latest_by": "created_at", "db_table": "arena_leaderboardsnapshot"},
                ),
            ]
        ),
    ]
