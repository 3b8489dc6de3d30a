"""Pairing reads votes per pair from counts each vote keeps: one query, however many votes
there are; the counts match an aggregate over the votes; older votes are counted by the
migration."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from arena import battles
from arena.models import PairVotes, Vote

from .conftest import post_json


def _aggregate() -> dict:
    counts: dict = {}
    for a, b, n in Vote.objects.values_list("battle__model_a__slug", "battle__model_b__slug").annotate(n=Count("id")):
        counts[frozenset((a, b))] = counts.get(frozenset((a, b)), 0) + n
    return counts


@pytest.mark.django_db
def test_each_vote_keeps_its_pairs_count_and_pairing_reads_it_in_one_query(owner_client, make_battle, owner):
    pairs = [("heron", "mesange"), ("mesange", "heron"), ("albatros", "pivert"), ("heron", "mesange")]
    for a, b in pairs:
        battle = make_battle(model_a=a, model_b=b, visitor=owner)
        assert post_json(owner_client, f"/api/battles/{battle.id}/vote", {"choice": "a"}).status_code == 200
    assert (
        battles.pair_vote_counts()
        == _aggregate()
        == {
            frozenset(("heron", "mesange")): 3,
            frozenset(("albatros", "pivert")): 1,
        }
    )
    for _ in range(20):  # many more votes: still one query
        battle = make_battle(model_a="albatros", model_b="pivert", visitor=owner)
        post_json(owner_client, f"/api/battles/{battle.id}/vote", {"choice": "b"})
    with CaptureQueriesContext(connection) as queries:
        counts = battles.pair_vote_counts()
    assert len(queries) == 1 and counts[frozenset(("albatros", "pivert"))] == 21
    # The same vote sent again (a retried request) is not counted twice.
    post_json(owner_client, f"/api/battles/{battle.id}/vote", {"choice": "b"})
    assert battles.pair_vote_counts() == _aggregate()


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_votes_cast_before_it(make_battle):
    for a, b in [("heron", "mesange"), ("mesange", "heron"), ("albatros", "pivert")]:
        make_battle(model_a=a, model_b=b, vote="a")  # stored directly: no count kept
    PairVotes.objects.all().delete()
    executor = MigrationExecutor(connection)
    executor.migrate([("arena", "0007_llm_training_footprint")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate([("arena", "0008_pair_votes")])
        assert battles.pair_vote_counts() == _aggregate()
    finally:  # the next tests need the whole schema back
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
