"""The embedded default (`make run`: SQLite, no Redis, no Celery beat) keeps its
leaderboard fresh: `refresh_leaderboard --every S`, which run_arena starts beside daphne,
recomputes the snapshot after new votes, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from django.core.management import call_command

from arena.visitors import COOKIE
from leaderboard.models import LeaderboardSnapshot
from leaderboard.snapshots import snapshot_is_stale
from tests import conftest as suite

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_it_is_stale_only_after_a_new_vote(make_battle):
    assert not snapshot_is_stale()  # no vote, nothing to show
    make_battle(vote="a")
    assert snapshot_is_stale()
    call_command("refresh_leaderboard", "--bootstrap", "10")
    assert not snapshot_is_stale()
    make_battle()  # answered, not voted
    assert not snapshot_is_stale()
    make_battle(vote="b")
    assert snapshot_is_stale()


def test_it_lists_the_voted_models_soon_after_three_votes(live_arena, make_battle, owner):
    refresher = subprocess.Popen(
        [sys.executable, "manage.py", "refresh_leaderboard", "--every", "1", "--bootstrap", "50"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": suite.test_database_url()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        cookies = {COOKIE: str(owner.pk)}
        with httpx.Client(base_url=live_arena, cookies=cookies, timeout=30) as http:
            assert http.get("/api/leaderboard").json()["rows"] == []

            def listed():  # three votes: under the display threshold, the models are listed apart
                data = http.get("/api/leaderboard").json()
                return data["rows"] + data.get("provisional", [])

            pairs = [("heron", "mesange"), ("mesange", "rouge-gorge"), ("heron", "rouge-gorge")]
            for model_a, model_b in pairs:
                battle = make_battle(model_a=model_a, model_b=model_b)
                http.get("/")  # the CSRF cookie
                response = http.post(
                    f"/api/battles/{battle.id}/vote",
                    json={"choice": "a"},
                    headers={"X-CSRFToken": http.cookies.get("csrftoken", ""), "Referer": live_arena + "/"},
                )
                assert response.status_code == 200, response.text
            voted_at = time.monotonic()
            rows = []
            while time.monotonic() - voted_at < 20 and len(rows) < 3:
                time.sleep(0.5)
                rows = listed()
            assert {r["slug"] for r in rows} == {"heron", "mesange", "rouge-gorge"}, refresher.stderr
            assert time.monotonic() - voted_at < 20
        assert LeaderboardSnapshot.objects.count() >= 1
    finally:
        refresher.terminate()
        refresher.wait(timeout=10)
    if refresher.returncode not in (0, -15):
        pytest.fail(refresher.stderr.read().decode())
