"""The leaderboard's tests use the arena's fixed actors and battle factory."""

from tests.arena.conftest import *  # noqa: F403
from tests.arena.conftest import DEMO_CATALOGUE, energy_record, post_json  # noqa: F401
