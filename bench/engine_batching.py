"""Tokens/s of `transformers serve` on CPU with and without --continuous-batching, side by side.

Run by hand, not in the test suite:

    .venv/bin/python bench/engine_batching.py [--streams 1 8 32] [--rounds 3] [--max-tokens 32]

Two engines serve the same untrained tiny model (var/models/test-chatty, whose answers
never stop before max_tokens, so every round does the same work): one as the worker
launches it by default before continuous batching, one with --continuous-batching (and
the KV cache bounds the worker adds on CPU, inference_workers/engines.py). For each number of concurrent streams,
rounds alternate between the two (ABBA order, so a drift of the machine's load hits both
alike); a round's throughput is the completion tokens the engine reports over the
round's wall time. Printed: median tokens/s of each, and the median of the paired ratios.
The engines talk to this client directly (no worker): it measures the engine feature.
"""

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.launcher import MODELS_DIR, ensure_chatty_model
from inference_workers.engines import EngineProcess, EngineSpec, free_port
from inference_workers.sse import sse_json

LOG_DIR = MODELS_DIR.parent / "bench-logs"
PROMPTS = ["Bonjour, parle-moi du soleil.", "Why is the sky blue?", "Explique la photosynthèse.", "A poem, please."]


async def one_stream(client: httpx.AsyncClient, engine: EngineProcess, prompt: str, max_tokens: int) -> int:
    body = {
        "model": engine.spec.upstream_model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "max_tokens": max_tokens,
    }
    async with client.stream("POST", engine.spec.base_url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        usage = None
        async for chunk in sse_json(resp):
            if "error" in chunk:
                raise RuntimeError(chunk["error"])
            usage = chunk.get("usage") or usage
    return usage["completion_tokens"]


async def one_round(client, engine, streams: int, max_tokens: int) -> float:
    t0 = time.perf_counter()
    tokens = await asyncio.gather(
        *(one_stream(client, engine, PROMPTS[i % len(PROMPTS)], max_tokens) for i in range(streams))
    )
    return sum(tokens) / (time.perf_counter() - t0)


async def bench(args, engines: dict[str, EngineProcess]) -> dict:
    results = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=httpx.Limits(max_connections=None)) as client:
        for engine in engines.values():  # warm-up: the batching engine sets up its cache on its first request
            await one_round(client, engine, 2, 4)
        for streams in args.streams:
            rows = {"sequential": [], "batching": []}
            for r in range(args.rounds):
                order = ("sequential", "batching") if r % 2 == 0 else ("batching", "sequential")
                for name in order:
                    rows[name].append(await one_round(client, engines[name], streams, args.max_tokens))
            results[streams] = rows
            ratios = [b / s for b, s in zip(rows["batching"], rows["sequential"], strict=True)]
            print(
                f"{streams:3d} streams  sequential {statistics.median(rows['sequential']):8.1f} tok/s  "
                f"batching {statistics.median(rows['batching']):8.1f} tok/s  "
                f"ratio {statistics.median(ratios):5.2f}  (rounds: "
                + ", ".join(f"{s:.0f}/{b:.0f}" for s, b in zip(rows["sequential"], rows["batching"], strict=True))
                + ")",
                flush=True,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per engine and stream count")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    model = ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    engines = {
        "sequential": EngineProcess(
            EngineSpec("transformers", str(model), port=free_port()), log_path=LOG_DIR / "sequential-engine.log"
        ),
        "batching": EngineProcess(
            EngineSpec("transformers", str(model), port=free_port(), continuous_batching=True),
            log_path=LOG_DIR / "batching-engine.log",
        ),
    }
    try:
        for engine in engines.values():
            engine.start()
        for engine in engines.values():
            engine.wait_ready(300)
        print(
            f"transformers serve on CPU, {model.name}, {args.max_tokens} tokens per stream, {args.rounds} rounds each"
        )
        asyncio.run(bench(args, engines))
    finally:
        for engine in engines.values():
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
