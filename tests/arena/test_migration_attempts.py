"""arena.0004_attempts: every stored energy figure survives the move from
`Message.energy` / `Message.earlier_energy` to the `Attempt` table, and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Sum

BEFORE = [("arena", "0003_leaderboardsnapshot_moves_to_leaderboard")]
AFTER = [("arena", "0004_attempts")]


def record(energy_j, *, measured=False, method="cpu-time-model"):
    return {
        "measured": measured,
        "method": method,
        "energy_j": energy_j,
        "gpu_j": energy_j if measured else None,
        "cpu_j": None if measured else energy_j,
        "duration_s": 0.5,
        "devices": ["cpu"],
        "avg_concurrency": 1.0,
        "prompt_tokens": 10,
        "completion_tokens": 16,
    }


# status, current record, earlier records, the old attempts counter
MESSAGES = [
    ("done", record(10.0), [record(3.0), record(2.0)], 3),
    ("stopped", record(4.0, measured=True, method="nvml"), [], 1),
    ("error", None, [record(1.5)], 2),  # the last try died with its worker: no record
    ("pending", None, [record(0.5)], 1),  # reset for a retry
    ("done", {**record(None), "energy_j": None, "cpu_j": None}, [], 1),  # a worker run with --meter off
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def seed(apps) -> dict:
    LLM, Visitor, Battle, Turn, Message = (
        apps.get_model("arena", n) for n in ("LLM", "Visitor", "Battle", "Turn", "Message")
    )
    a = LLM.objects.create(
        slug="a",
        name="A",
        organization="o",
        license="x",
        license_kind="open",
        params_b=1,
        active_params_b=1,
        worker_env="W_A",
    )
    b = LLM.objects.create(
        slug="b",
        name="B",
        organization="o",
        license="x",
        license_kind="open",
        params_b=2,
        active_params_b=2,
        worker_env="W_B",
    )
    visitor = Visitor.objects.create()
    expected = {}
    for i, (status, current, earlier, attempts) in enumerate(MESSAGES):
        battle = Battle.objects.create(visitor=visitor, mode="random", model_a=a, model_b=b)
        turn = Turn.objects.create(battle=battle, index=0, prompt=f"q{i}")
        m = Message.objects.create(
            turn=turn, side="a", status=status, energy=current, earlier_energy=earlier, attempts=attempts
        )
        records = [*earlier, *([current] if current else [])]
        expected[m.pk] = {
            "energy_j": sum(r["energy_j"] or 0.0 for r in records),
            "records": records,
            "tries": max(attempts, len(records)),
        }
    return expected


def test_it_keeps_every_energy_figure(old_apps):
    expected = seed(old_apps)
    new_apps = migrate(AFTER)
    Message, Attempt = new_apps.get_model("arena", "Message"), new_apps.get_model("arena", "Attempt")

    for pk, want in expected.items():
        tries = list(Attempt.objects.filter(message_id=pk).order_by("id"))
        assert len(tries) == want["tries"]
        assert [t.record for t in tries if t.record is not None] == want["records"]
        total = Attempt.objects.filter(message_id=pk).aggregate(j=Sum("energy_j"))["j"] or 0.0
        assert total == pytest.approx(want["energy_j"])
    grand = Attempt.objects.aggregate(j=Sum("energy_j"))["j"]
    assert grand == pytest.approx(sum(w["energy_j"] for w in expected.values()))
    # Figures in columns, as the worker labelled them.
    nvml = Attempt.objects.get(method="nvml")
    assert nvml.measured and nvml.gpu_j == 4.0 and nvml.cpu_j is None and nvml.outcome == "stopped"
    errored = Message.objects.get(status="error")
    assert [t.outcome for t in Attempt.objects.filter(message=errored).order_by("id")] == ["unknown", "error"]
    assert Attempt.objects.filter(energy_j__isnull=True, record__isnull=False).count() == 1  # --meter off


def test_it_migrates_back_without_losing_a_figure(old_apps):
    expected = seed(old_apps)
    migrate(AFTER)
    apps = migrate(BEFORE)
    Message = apps.get_model("arena", "Message")
    for pk, want in expected.items():
        m = Message.objects.get(pk=pk)
        records = [*m.earlier_energy, *([m.energy] if m.energy else [])]
        assert records == want["records"]
        assert m.attempts == want["tries"]
