"""The arena: Django project and app (battles, votes, reveal, leaderboards)."""
