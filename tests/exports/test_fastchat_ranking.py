"""FastChat's own Bradley-Terry fit, run unchanged on an exported `arena_battles` table, ranks the
models as the arena's leaderboard does on the same battles."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.core.management import call_command

from arena.models import Battle, Visitor, Vote
from leaderboard.snapshots import compute_leaderboard

from .conftest import export
from .fastchat import compute_bt

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Unknown solver options:scipy.optimize.OptimizeWarning"),  # FastChat's
]

PLANTED = "mesange=900,rouge-gorge=960,pivert=1000,heron=1040,albatros=1150"


def test_it_ranks_the_exported_battles_as_our_leaderboard_does(catalogue, tmp_path):
    call_command("synthetic_battles", "1000", "--ratings", PLANTED, "--seed", "3", stdout=io.StringIO())
    Battle.objects.update(publish_consent=True)
    Visitor.objects.update(publish_consent=True)
    # Some ties were "both bad", and some battles had an answer name its model: FastChat keeps only
    # anonymous battles (anony), as our leaderboard leaves flagged ones out.
    ties = list(Vote.objects.filter(choice="tie").values_list("pk", flat=True))
    Vote.objects.filter(pk__in=ties[::2]).update(choice="both_bad")
    Battle.objects.filter(pk__in=list(Battle.objects.values_list("pk", flat=True)[:60])).update(leak_flagged=True)
    # ... and battles played in workshop rooms stay out of the public leaderboard.
    Battle.objects.filter(pk__in=list(Battle.objects.values_list("pk", flat=True)[60:100])).update(
        workshop_code="ROOM42"
    )
    out = tmp_path / "release"

    export(out, "--formats", "parquet")

    battles = pd.read_parquet(out / "arena_battles" / "arena_battles.parquet")
    assert len(battles) == 1000 and (~battles.anony).sum() == 60 and battles.workshop.sum() == 40
    assert set(battles.winner) == {"model_a", "model_b", "tie", "tie (bothbad)"}
    fastchat = compute_bt(battles[battles["anony"] & ~battles["workshop"]])
    ours = {row["slug"]: row["rating"] for row in compute_leaderboard(bootstrap=10)["rows"]}

    assert list(fastchat.index) == sorted(ours, key=ours.get, reverse=True)
    for slug, rating in fastchat.items():
        assert rating == pytest.approx(ours[slug], abs=0.5), slug
