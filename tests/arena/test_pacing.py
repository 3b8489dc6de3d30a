"""arena.pacing: both answers released at one common pace, `done` frames together, and
the same through the real WebSocket with two real workers."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from channels.db import database_sync_to_async

from arena.pacing import Pacer


class Screen:
    """What the visitor receives, with the time each frame arrived."""

    def __init__(self):
        self.frames: list[tuple[float, dict]] = []
        self.t0 = time.monotonic()

    async def send(self, frame):
        self.frames.append((time.monotonic() - self.t0, frame))

    def shown(self, side):
        return "".join(f["text"] for _t, f in self.frames if f["type"] == "delta" and f["side"] == side)


async def test_it_shows_a_fast_and_a_slow_side_at_the_same_pace():
    screen = Screen()
    pacer = Pacer(screen.send, ("a", "b"), chars_per_s=1000, tick_s=0.01)
    runner = asyncio.create_task(pacer.run())

    async def generate(side, text, delay_s):
        for word in text.split(" "):
            pacer.push(side, word + " ")
            await asyncio.sleep(delay_s)
        pacer.finish(side, {"type": "done", "side": side})

    fast, slow = "vite " * 40, "lent " * 40
    await asyncio.gather(generate("a", fast, 0.001), generate("b", slow, 0.02), runner)

    assert screen.shown("a").strip() == fast.strip()
    assert screen.shown("b").strip() == slow.strip()
    # Lockstep: after every tick both sides have shown the same number of characters.
    shown = {"a": 0, "b": 0}
    for _t, frame in screen.frames:
        if frame["type"] == "delta":
            shown[frame["side"]] += len(frame["text"])
            if frame["side"] == "b":
                assert shown["a"] == shown["b"]
    # Both done frames last, together, numbered after their side's last delta.
    kinds = [f["type"] for _t, f in screen.frames]
    assert kinds[-2:] == ["done", "done"] and "done" not in kinds[:-2]
    assert screen.frames[-1][0] - screen.frames[-2][0] < 0.01


async def test_its_chunks_do_not_follow_the_slower_sides_tokens():
    """Each tick used to show what the slower side had, its tokens since the last tick: its
    chunks began on its token boundaries and the faster side's anywhere, which told which side
    was the slower model. Every chunk is now one fixed step on both sides (the first, one
    character; the last, the rest)."""
    screen = Screen()
    pacer = Pacer(screen.send, ("a", "b"), chars_per_s=1000, tick_s=0.01)  # steps of 10
    runner = asyncio.create_task(pacer.run())
    slow = [" le", " soleil", " brille", " sur", " la", " mer", " calme", " ce", " matin"] * 3

    async def generate(side, tokens, delay_s):
        for token in tokens:
            pacer.push(side, token)
            await asyncio.sleep(delay_s)
        pacer.finish(side, {"type": "done", "side": side})

    await asyncio.gather(generate("a", [" x"] * 200, 0.0005), generate("b", slow, 0.02), runner)
    for side in "ab":
        sizes = [len(f["text"]) for _t, f in screen.frames if f["type"] == "delta" and f["side"] == side]
        # One character first (the first words as soon as both sides have text), then steps.
        assert sizes[0] == 1 and set(sizes[1:-1]) == {10} and 0 < sizes[-1] <= 10, (side, sizes)
    assert screen.shown("b") == "".join(slow)


async def test_it_never_goes_faster_than_its_pace():
    screen = Screen()
    pacer = Pacer(screen.send, ("a", "b"), chars_per_s=200, tick_s=0.05)
    pacer.push("a", "x" * 100)
    pacer.push("b", "y" * 60)
    pacer.finish("a", {"type": "done", "side": "a"})
    pacer.finish("b", {"type": "done", "side": "b"})
    await pacer.run()
    last_delta = max(t for t, f in screen.frames if f["type"] == "delta")
    assert last_delta >= 100 / 200 - 2 * 0.05  # 100 characters at 200/s: about half a second
    assert screen.shown("a") == "x" * 100 and screen.shown("b") == "y" * 60


async def test_it_lets_a_failed_side_go_and_finishes_the_other():
    screen = Screen()
    pacer = Pacer(screen.send, ("a", "b"), chars_per_s=1000, tick_s=0.01)
    runner = asyncio.create_task(pacer.run())
    pacer.push("a", "bonjour")
    await asyncio.sleep(0.05)  # b has nothing: nothing is shown yet
    assert screen.frames == []
    pacer.drop("b")
    pacer.finish("a", {"type": "done", "side": "a"})
    await asyncio.wait_for(runner, 2)
    assert screen.shown("a") == "bonjour" and screen.frames[-1][1]["type"] == "done"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_it_paces_a_real_battle(arena_llms, settings):
    from tests.arena.test_consumer import communicator, frames_until_done, messages_of
    from tests.conftest import make_battle

    settings.ARENA_MAX_TOKENS = 24
    settings.ARENA_PACE_STREAMS = True
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
    comm = communicator(battle, visitor)
    await comm.connect()
    frames = await frames_until_done(comm)
    await comm.disconnect()

    kinds = [f["type"] for f in frames]
    assert kinds[-2:] == ["done", "done"] and "done" not in kinds[:-2]  # held, then together
    assert all(f["duration_ms"] is None for f in frames if f["type"] == "done")
    stored = await messages_of(battle)
    for side in "ab":
        text = "".join(f["text"] for f in frames if f["type"] == "delta" and f["side"] == side)
        assert text == stored[side].content  # every character shown, in order
        done = next(f for f in frames if f["type"] == "done" and f["side"] == side)
        assert done["seq"] == sum(1 for f in frames if f["type"] == "delta" and f["side"] == side) + 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_it_keeps_pacing_one_side_while_the_other_is_retried(arena_llms, settings):
    """Side b's worker is unreachable: b fails at once and is retried (a new pacer for b
    alone) while side a is still being shown by the first one, which must finish it."""
    from inference_workers.engines import free_port
    from tests.arena.test_consumer import communicator, messages_of
    from tests.conftest import make_battle, make_llm

    settings.ARENA_MAX_TOKENS = 200
    settings.ARENA_PACE_STREAMS = True
    gone = await database_sync_to_async(make_llm)("gone", f"http://127.0.0.1:{free_port()}")
    visitor = str(uuid.uuid4())
    battle = await database_sync_to_async(make_battle)(visitor, arena_llms["chatty"], gone)
    comm = communicator(battle, visitor)
    await comm.connect()
    frames = []
    while not any(f["type"] == "error" and f["side"] == "b" for f in frames):
        frames.append(await comm.receive_json_from(timeout=30))
    await comm.send_json_to({"type": "retry", "side": "b"})
    while not any(f["type"] == "done" and f["side"] == "a" for f in frames):
        frames.append(await comm.receive_json_from(timeout=60))
    await comm.disconnect()
    stored = await messages_of(battle)
    shown_a = "".join(f["text"] for f in frames if f["type"] == "delta" and f["side"] == "a")
    assert stored["a"].status == "done" and shown_a == stored["a"].content
    assert sum(1 for f in frames if f["type"] == "error" and f["side"] == "b") == 2  # failed, retried, failed


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_a_stop_after_both_answers_were_generated_keeps_what_was_shown(arena_llms, settings):
    """Both answers generated and stored, their text still held by the pacer. A stop used to
    cancel the pacer and send nothing (the screen waited for ever); then it sent each whole
    answer, which told how far each model had got: its speed. Each side now ends `stopped`
    with the text the visitor saw, stored so; its try keeps the energy of all it generated."""
    from arena.models import Attempt
    from tests.arena.test_consumer import communicator, messages_of
    from tests.conftest import make_battle

    settings.ARENA_MAX_TOKENS = 12
    settings.ARENA_PACE_STREAMS = True
    settings.ARENA_PACE_CHARS_PER_S = 2.0  # the pacer holds nearly everything
    visitor = str(uuid.uuid4())
    # A sampled tiny model now and then ends its answer at once or after a word or two
    # (about one stream in a hundred): such an answer leaves nothing for the pacer to hold, so the battle
    # cannot show the property; another one is begun.
    for _ in range(5):
        battle = await database_sync_to_async(make_battle)(visitor, arena_llms["tiny-a"], arena_llms["tiny-b"])
        comm = communicator(battle, visitor)
        await comm.connect()
        for _ in range(600):
            generated = await messages_of(battle)
            if all(generated[side].status == "done" for side in "ab"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the answers were never stored")
        if all(len(generated[side].content) >= 8 for side in "ab"):
            break
        await comm.disconnect()
    else:
        pytest.fail("five battles in a row had an answer too short to be held back")
    await comm.send_json_to({"type": "stop"})
    shown, ended = {"a": "", "b": ""}, {}
    while len(ended) < 2:
        frame = await comm.receive_json_from(timeout=10)
        if frame["type"] == "delta":
            shown[frame["side"]] += frame["text"]
        if frame["type"] in ("done", "stopped", "error"):
            ended[frame["side"]] = frame
    await comm.disconnect()
    stored = await messages_of(battle)
    for side in "ab":
        assert len(shown[side]) < len(generated[side].content)
        assert ended[side]["type"] == "stopped" and ended[side]["message_id"] == str(stored[side].id)
        assert stored[side].status == "stopped" and stored[side].content == shown[side]
        assert ended[side]["html"] == stored[side].html
        attempt = await database_sync_to_async(Attempt.objects.get)(message_id=stored[side].id)
        assert attempt.energy_j > 0 and attempt.completion_tokens == generated[side].completion_tokens
