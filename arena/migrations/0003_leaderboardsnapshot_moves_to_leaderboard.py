"""LeaderboardSnapshot now belongs to the leaderboard app: drop it from this app's state
only; the table stays and leaderboard.0001 adopts it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("arena", "0002_message_earlier_energy")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="LeaderboardSnapshot")]),
    ]
