"""Each try knows its battle, turn and side, and keeps its record's figures as columns, whether it
was stored by the arena or before these columns existed (arena.0010): a dataset release reads the
tries through them (exports/source.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from arena.models import Attempt, Message
from inference_workers.protocol import EnergyRecord

from .conftest import add_attempt, energy_record

BEFORE = [("arena", "0009_attempt_streaming_index")]


def test_a_new_try_takes_its_place_from_its_message(make_battle):
    battle = make_battle(turns=(("done", "done"), ("pending", "pending")))
    message = Message.objects.get(turn__battle=battle, turn__index=1, side="b")
    attempt = message.begin_attempt("http://worker")
    attempt.refresh_from_db()
    assert (attempt.battle_id, attempt.turn_index, attempt.side) == (battle.pk, 1, "b")

    # A message loaded without its turn: the place is read in one query.
    bare = Message.objects.get(pk=message.pk)
    bare.status = Message.Status.PENDING
    bare.save(update_fields=["status"])
    again = Attempt(message=Message.objects.only("id").get(pk=message.pk), backend="x")
    again.save()
    assert (again.battle_id, again.turn_index, again.side) == (battle.pk, 1, "b")


def test_the_record_figures_are_columns(make_battle):
    battle = make_battle(turns=(("done", "done"),))
    message = Message.objects.get(turn__battle=battle, side="a")
    record = {**energy_record(5.0, measured=True, method="nvml"), "sampling_period_s": 0.05}
    record["devices"] = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]
    record["avg_concurrency"] = 3.5
    stored = Attempt.objects.get(pk=add_attempt(message, record).pk)
    assert (stored.duration_s, stored.avg_concurrency, stored.sampling_period_s) == (0.5, 3.5, 0.05)
    assert stored.devices == record["devices"]
    assert stored.energy_record() == EnergyRecord.model_validate(record)
    lost = Attempt.objects.get(pk=add_attempt(message, None, outcome="error").pk)
    assert (lost.duration_s, lost.devices, lost.record) == (None, [], None)


@pytest.mark.django_db(transaction=True)
def test_the_migration_places_the_tries_stored_before_it(make_battle):
    battle = make_battle(turns=(("done", "done"), ("done", "done")))
    record = {**energy_record(2.0, measured=True, method="nvml"), "sampling_period_s": 0.1}
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        OldMessage, OldAttempt = apps.get_model("arena", "Message"), apps.get_model("arena", "Attempt")
        OldAttempt.objects.all().delete()
        expected = {}
        for message in OldMessage.objects.select_related("turn").filter(turn__battle_id=battle.pk):
            with_record = OldAttempt.objects.create(message=message, outcome="done", record=record)
            without = OldAttempt.objects.create(message=message, outcome="error", record=None)
            place = (battle.pk, message.turn.index, message.side)
            expected[with_record.pk] = (*place, 0.5, 1.0, 0.1, ["NVIDIA H100 80GB HBM3"])
            expected[without.pk] = (*place, None, None, None, [])
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    finally:  # the next tests need the whole schema back
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    got = {
        a.pk: (a.battle_id, a.turn_index, a.side, a.duration_s, a.avg_concurrency, a.sampling_period_s, a.devices)
        for a in Attempt.objects.filter(pk__in=expected)
    }
    assert got == expected and len(got) == 8
