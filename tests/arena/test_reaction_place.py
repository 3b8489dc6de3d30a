"""Each reaction knows its battle, turn and side, whether it was saved by the arena or before
these columns existed (arena.0012): a dataset release reads the reactions through them
(exports/source.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from arena.models import Message, Reaction

BEFORE = [("arena", "0011_attempt_place_required")]


def test_a_reaction_takes_its_place_from_its_message(make_battle):
    battle = make_battle(turns=(("done", "done"), ("done", "done")))
    message = Message.objects.get(turn__battle=battle, turn__index=1, side="b")
    # As the reaction endpoint saves it, and with a message loaded without its turn.
    saved, _ = Reaction.objects.update_or_create(message=message, defaults={"liked": True})
    bare = Reaction.objects.create(message=Message.objects.only("id").get(turn__battle=battle, turn__index=0, side="a"))
    assert (saved.battle_id, saved.turn_index, saved.side) == (battle.pk, 1, "b")
    assert Reaction.objects.filter(pk=bare.pk, battle=battle, turn_index=0, side="a").exists()
    # Saved again (a changed mind), it keeps its place.
    saved.liked = False
    saved.save()
    assert Reaction.objects.filter(pk=saved.pk, battle=battle, turn_index=1, side="b", liked=False).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_places_the_reactions_saved_before_it(make_battle):
    battle = make_battle(turns=(("done", "done"), ("done", "done")))
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        OldMessage, OldReaction = apps.get_model("arena", "Message"), apps.get_model("arena", "Reaction")
        expected = {}
        for message in OldMessage.objects.select_related("turn").filter(turn__battle_id=battle.pk):
            reaction = OldReaction.objects.create(message=message, liked=message.side == "a", comment="")
            expected[reaction.pk] = (battle.pk, message.turn.index, message.side)
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    finally:  # the next tests need the whole schema back
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    got = {r.pk: (r.battle_id, r.turn_index, r.side) for r in Reaction.objects.filter(pk__in=expected)}
    assert got == expected and len(got) == 4
