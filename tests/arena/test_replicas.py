"""Three replicas of one CPU model behind one catalogue entry: 30 concurrent battles spread
over all three (least busy first), one replica killed mid-run. Answers sent to it after
its death (it is then the least busy) are rerouted before their first token, or not sent
to it at all once a try has failed there (it is left alone for a few seconds), and finish
with no error frame; only answers cut mid-stream on the dead replica fail; stopped
answers still get their energy from the replica that served them (the `Attempt` records
which)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid

import pytest
from channels.db import database_sync_to_async

from arena.models import Attempt
from devtools.launcher import start_worker
from tests.arena.test_consumer import communicator
from tests.conftest import MODELS_DIR, TEST_LOGS, ensure_chatty_model, make_battle, make_llm

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BATTLES = 30
LATE = 6  # battles started just after the kill


@pytest.fixture
def replicas():
    model = ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)
    handles = [start_worker(model, name="tri", log_dir=TEST_LOGS) for _ in range(3)]
    try:
        for handle in handles:
            handle.wait_ready()
        yield handles
    finally:
        for handle in handles:
            handle.stop()


async def play(comm, record: dict) -> None:
    """Every frame of one battle until both sides end (done, error or stopped)."""
    ended: set[str] = set()
    while ended != {"a", "b"}:
        frame = await comm.receive_json_from(timeout=180)
        side = frame.get("side")
        record.setdefault(side, []).append(frame["type"])
        if frame["type"] in ("done", "error", "stopped"):
            ended.add(side)


async def test_battles_spread_over_replicas_and_survive_one_being_killed(replicas, arena_llms, settings, caplog):
    settings.ARENA_MAX_TOKENS = 64
    settings.ARENA_PACE_STREAMS = False
    caplog.set_level(logging.WARNING)
    urls = [h.url for h in replicas]
    tri = await database_sync_to_async(make_llm)("tri", ",".join(urls), worker_env="WORKER_URL_TEST_TRI_UNSET")
    battles, comms, records = [], [], []
    for _ in range(BATTLES):
        visitor = str(uuid.uuid4())
        battle = await database_sync_to_async(make_battle)(visitor, tri, arena_llms["tiny-b"])
        battles.append(battle)
        comms.append(communicator(battle, visitor))
        records.append({})
    for comm in comms:
        assert (await comm.connect(timeout=60))[0]
    tasks = [asyncio.create_task(play(c, r)) for c, r in zip(comms, records, strict=True)]

    # Kill the first replica once one of its answers is visibly streaming.
    doomed = replicas[0]
    for _ in range(600):
        on_doomed = await database_sync_to_async(
            lambda: set(
                Attempt.objects.filter(backend=doomed.url, outcome="streaming", message__side="a").values_list(
                    "message__turn__battle_id", flat=True
                )
            )
        )()
        if any(records[i].get("a", []).count("delta") >= 2 for i, b in enumerate(battles) if b.id in on_doomed):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("no answer ever streamed from the first replica")
    os.killpg(doomed.proc.pid, signal.SIGKILL)

    # New battles now: the dead replica has nothing streaming, so it is the least busy.
    for _ in range(LATE):
        visitor = str(uuid.uuid4())
        battle = await database_sync_to_async(make_battle)(visitor, tri, arena_llms["tiny-b"])
        battles.append(battle)
        comms.append(communicator(battle, visitor))
        records.append({})
        assert (await comms[-1].connect(timeout=60))[0]
        tasks.append(asyncio.create_task(play(comms[-1], records[-1])))

    # Stop three answers streaming on the surviving replicas.
    stopped = []
    for _ in range(600):
        live = await database_sync_to_async(
            lambda: set(
                Attempt.objects.filter(outcome="streaming", message__side="a")
                .exclude(backend=doomed.url)
                .values_list("message__turn__battle_id", flat=True)
            )
        )()
        for i, battle in enumerate(battles):
            if i < BATTLES and battle.id in live and i not in stopped and records[i].get("a", []).count("delta") >= 1:
                await comms[i].send_json_to({"type": "stop"})
                stopped.append(i)
        if len(stopped) >= 3:
            break
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
    for comm in comms:
        await comm.disconnect()

    attempts = await database_sync_to_async(
        lambda: {
            a.message.turn.battle_id: a
            for a in Attempt.objects.filter(message__side="a").select_related("message__turn")
        }
    )()
    served = {a.backend for a in attempts.values()}
    assert served == set(urls), served  # spread over all three
    for i, battle in enumerate(battles):
        frames_a, attempt = records[i].get("a", []), attempts[battle.id]
        if "error" in frames_a:  # only an answer cut mid-stream on the dead replica fails
            assert attempt.backend == doomed.url and frames_a.index("error") > frames_a.index("delta"), frames_a
        elif i in stopped and attempt.outcome == "stopped":
            assert attempt.backend != doomed.url
            assert attempt.energy_j is not None and attempt.energy_j > 0  # fetched from its own replica
        else:
            assert frames_a[-1] == "done", frames_a
    late = [records[i].get("a", []) for i in range(BATTLES, BATTLES + LATE)]
    assert all(frames[-1] == "done" and "error" not in frames for frames in late), late
    assert all(attempts[battles[i].id].backend != doomed.url for i in range(BATTLES, BATTLES + LATE))
    cut_there = any("error" in records[i].get("a", []) for i in range(BATTLES))
    # Sent to the dead replica, then elsewhere; or, once an answer failed there, sent elsewhere at once.
    assert f"on {doomed.url}, rerouted to" in caplog.text or cut_there
    assert any(attempts[battles[i].id].outcome == "stopped" for i in stopped)


def test_a_replica_that_just_failed_is_left_alone_for_a_few_seconds(monkeypatch, db):
    from arena import consumers
    from inference.routing import Backend

    clock = [1000.0]
    monkeypatch.setattr(consumers.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(consumers, "_down_until", {})
    urls = ("http://r1", "http://r2")
    backend = Backend(urls[0], "m", replicas=urls)
    consumers.replica_failed("http://r1")
    assert {consumers.least_busy(backend).url for _ in range(20)} == {"http://r2"}
    consumers.replica_failed("http://r2")  # every replica failing: all are candidates again
    assert {consumers.least_busy(backend).url for _ in range(40)} == set(urls)
    clock[0] += consumers.REPLICA_DOWN_S + 0.1
    consumers.replica_failed("http://r2")
    assert {consumers.least_busy(backend).url for _ in range(20)} == {"http://r1"}
