"""The leaderboard app: snapshots of ratings and measured energy, their pages, JSON and CSV."""
