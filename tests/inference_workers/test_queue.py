"""The worker's queue in front of an engine that runs one request at a time: a request
that only waits is charged nothing for the wait. The engine is a stand-in whose every
chunk the test releases, and the counter and clock move only when the test says, so
the queue's order and each interval's energy are exact."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from inference_workers.meter import Meter
from inference_workers.metrics import WorkerMetrics
from inference_workers.power import PowerSource
from inference_workers.protocol import ChatCompletionRequest, EnergyRecord
from inference_workers.serving import ChatServing, Limits


class Counter(PowerSource):
    kind, measured, method = "gpu", True, "nvml"

    def __init__(self):
        self.devices = ["GPU 0: stand-in"]
        self.energy_j = 0.0
        self.t = 0.0

    def read_energy_j(self) -> float:
        return self.energy_j

    def step(self, seconds: float, joules: float) -> None:
        self.t += seconds
        self.energy_j += joules


class OneAtATimeEngine:
    """An engine that takes each request's chunks from the test, one request after the other."""

    def __init__(self):
        self.arrived: list[asyncio.Queue] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        chunks: asyncio.Queue = asyncio.Queue()
        self.arrived.append(chunks)

        async def body():
            while (chunk := await chunks.get()) is not None:
                yield f"data: {json.dumps(chunk)}\n\n".encode()

        return httpx.Response(200, content=body())

    def token(self, n: int, text: str = "x") -> None:
        self.arrived[n].put_nowait({"id": f"c{n}", "created": 1, "choices": [{"index": 0, "delta": {"content": text}}]})

    def end(self, n: int, completion_tokens: int) -> None:
        usage = {"prompt_tokens": 5, "completion_tokens": completion_tokens, "total_tokens": 5 + completion_tokens}
        self.arrived[n].put_nowait({"id": f"c{n}", "created": 1, "choices": [], "usage": usage})
        self.arrived[n].put_nowait(None)


async def until(condition, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


async def answer(serving: ChatServing, rid: str, seen: list[dict]) -> EnergyRecord:
    req = ChatCompletionRequest(model="tiny", messages=[{"role": "user", "content": "Bonjour"}], stream=True)
    async for event in serving.stream(req, rid):
        if event.startswith(b"data: {"):
            seen.append(json.loads(event[6:]))
    return EnergyRecord.model_validate(seen[-1]["energy"])


@pytest.fixture
def engine_and_serving():
    counter, engine = Counter(), OneAtATimeEngine()
    meter = Meter(counter, period_s=1.0, clock=lambda: counter.t)  # no sampler: events only

    def build(engine_slots: int) -> ChatServing:
        serving = ChatServing(
            upstream_url="http://engine",
            upstream_model="tiny",
            served_names={"tiny"},
            public_name="tiny",
            meter=meter,
            metrics=WorkerMetrics(meter),
            limits=Limits(),
            engine_alive=lambda: True,
            engine_slots=engine_slots,
        )
        serving.client = httpx.AsyncClient(transport=httpx.MockTransport(engine.handle))
        return serving

    return counter, engine, meter, build


async def a_waits_for_b(counter, engine, serving) -> tuple[EnergyRecord, EnergyRecord, list[int]]:
    """A runs (2 J of prefill, 4 tokens, 40 J of decode); B arrives after A's first token
    and waits; then B runs alone (4 J). Returns both records and how many requests the
    engine had received at each of A's decode steps."""
    seen_a, seen_b = [], []
    task_a = asyncio.create_task(answer(serving, "a", seen_a))
    await until(lambda: len(engine.arrived) == 1)
    counter.step(1.0, 2.0)
    engine.token(0)
    await until(lambda: len(seen_a) == 1)
    task_b = asyncio.create_task(answer(serving, "b", seen_b))
    await until(lambda: serving.queued == 1 or len(engine.arrived) == 2)
    reached_engine = []
    for i in range(2, 5):
        counter.step(1.0, 10.0)
        engine.token(0)
        await until(lambda i=i: len(seen_a) == i)
        reached_engine.append(len(engine.arrived))
    counter.step(1.0, 10.0)
    engine.end(0, completion_tokens=4)
    a = await task_a
    await until(lambda: len(engine.arrived) == 2)
    counter.step(1.0, 4.0)
    engine.token(1)
    await until(lambda: len(seen_b) == 1)
    engine.end(1, completion_tokens=1)
    return a, await task_b, reached_engine


async def test_it_charges_a_request_nothing_while_it_waits_for_the_engine(engine_and_serving):
    counter, engine, meter, build = engine_and_serving
    serving = build(engine_slots=1)
    a, b, reached_engine = await a_waits_for_b(counter, engine, serving)
    assert reached_engine == [1, 1, 1]  # B waited in the worker, not in the engine
    assert a.energy_j == pytest.approx(2.0 + 40.0)  # all of A's time was A's
    assert b.energy_j == pytest.approx(4.0)  # only what B itself used
    assert b.queued_s > 0 and a.queued_s < b.queued_s
    assert b.avg_concurrency == a.avg_concurrency == 1.0  # never two on the engine at once
    assert meter.charged_j + meter.idle_j == pytest.approx(46.0) and meter.active == 0
    assert serving.queued == 0


async def test_without_the_queue_a_waiting_request_takes_a_share_of_the_running_ones(engine_and_serving):
    counter, engine, meter, build = engine_and_serving
    serving = build(engine_slots=0)  # the behaviour before the worker queued: B waits in the engine
    a, b, reached_engine = await a_waits_for_b(counter, engine, serving)
    assert reached_engine == [2, 2, 2]
    assert b.energy_j > 4.0 + 10.0  # counted as in prefill for all of A's decode
    assert a.energy_j + b.energy_j == pytest.approx(46.0)


async def test_a_request_that_leaves_the_queue_costs_nothing_and_frees_no_slot(engine_and_serving):
    counter, engine, meter, build = engine_and_serving
    serving = build(engine_slots=1)
    seen_a = []
    task_a = asyncio.create_task(answer(serving, "a", seen_a))
    await until(lambda: len(engine.arrived) == 1)
    task_b = asyncio.create_task(answer(serving, "b", []))
    await until(lambda: serving.queued == 1)
    counter.step(1.0, 5.0)
    task_b.cancel()  # the client left while it waited
    await until(lambda: "b" in serving.finished)
    left = serving.finished["b"]
    assert left.outcome == "aborted" and left.energy.energy_j == 0.0 and left.energy.queued_s > 0
    assert serving.queued == 0 and len(engine.arrived) == 1  # B never reached the engine
    engine.token(0)
    engine.end(0, completion_tokens=1)
    assert (await task_a).energy_j == pytest.approx(5.0)
