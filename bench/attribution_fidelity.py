"""Attribution fidelity: when requests overlap, is each one still charged its own share?

Run by hand, not in the test suite:

    .venv/bin/python bench/attribution_fidelity.py [--setup sequential batching ...] [--repeats 3] [--seed 0]
    .venv/bin/python bench/attribution_fidelity.py --url http://127.0.0.1:8100 --model NAME  # any running worker

The same distinct requests (prompts of 1 to 16 sentences, answers of 32 to 256 tokens, the
two uncorrelated) run first each alone on an idle engine, then overlapping: all at once, and
on a seeded random schedule. Alone, a request's energy is its own; its share of the set's
total is the reference. Overlapped, the worker splits shared intervals among the requests
active in them; a right split keeps every request's share close to its share alone.
Printed per setup:

* conservation: energy read from the worker's source = charged + idle (its /metrics), and the
  records' sum = charged; both must hold within 0.1 %;
* per request, its share alone and overlapped; then, per overlapped run, the mean absolute
  error of the shares (percentage points), the worst request, and the rank correlation;
* the energy saved by overlapping: 1 - (sum overlapped) / (sum alone).

By default it launches workers on the untrained tiny model (var/models/test-chatty, whose
answers always run to max_tokens), one setup after the other on the same machine:
`sequential` (transformers serve running one request at a time, the worker queueing the
rest: a queued request is charged nothing), `queue-charged` (the same engine with
--engine-slots 0: requests wait in the engine, counted as in prefill, as before the queue
fix) and `batching` (transformers serve --continuous-batching). Their engines run one torch
thread (OMP_NUM_THREADS=1 unless set). It works against any power source the worker has: the
CPU-time model here, NVML on a GPU (bench/gpu_energy.py uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LOG_DIR = Path(__file__).resolve().parent.parent / "var" / "bench-logs"
SETUPS = {  # name -> (continuous batching?, extra arguments of `python -m inference_workers serve`)
    "sequential": (False, []),
    "queue-charged": (False, ["--engine-slots", "0"]),
    "batching": (True, []),
}
SENTENCE = "Le soleil chauffe la mer, le vent pousse les nuages vers la côte. "
# (sentences in the prompt, tokens in the answer): sizes that do not grow together.
REQUEST_SIZES = [(1, 128), (16, 32), (4, 256), (8, 64), (2, 192), (12, 96), (6, 48), (3, 160)]
CONSERVATION_TOLERANCE = 1e-3


def fidelity_requests(n: int | None = None) -> list[dict]:
    sizes = REQUEST_SIZES if n is None else [REQUEST_SIZES[i % len(REQUEST_SIZES)] for i in range(n)]
    return [
        {"name": f"r{i}", "prompt": f"({i}) " + SENTENCE * sentences, "max_tokens": tokens}
        for i, (sentences, tokens) in enumerate(sizes)
    ]


def parse_metrics(text: str) -> dict[str, float]:
    """The worker's energy totals in its /metrics text: read, charged, idle (joules)."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"^arena_worker_energy_(\w+)_joules ([0-9.e+-]+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


async def read_metrics(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    return parse_metrics((await client.get(url + "/metrics")).text)


async def one_request(client: httpx.AsyncClient, url: str, model: str, request: dict, delay_s: float = 0.0) -> dict:
    """One streamed answer; its energy record, with the request's name."""
    await asyncio.sleep(delay_s)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": request["prompt"]}],
        "stream": True,
        "max_tokens": request["max_tokens"],
    }
    final = None
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    raise RuntimeError(f"{url}: {chunk['error']}")
                final = chunk
    if final is None or not final.get("energy"):
        raise RuntimeError(f"{url}: a stream ended without its energy record")
    return {"name": request["name"], **final["energy"]}


def ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    for rank, i in enumerate(order):
        out[i] = float(rank)
    return out


def compare_shares(alone_j: dict[str, float], run: list[dict]) -> dict:
    """A run's shares against the shares alone: errors in percentage points, rank correlation."""
    names = list(alone_j)
    total_alone = sum(alone_j.values())
    energy = {r["name"]: r["energy_j"] for r in run}
    total = sum(energy.values())
    reference = [alone_j[n] / total_alone for n in names]
    shares = [energy[n] / total for n in names]
    errors = [abs(s - a) for s, a in zip(shares, reference, strict=True)]
    worst = max(range(len(names)), key=errors.__getitem__)
    return {
        "shares": dict(zip(names, shares, strict=True)),
        "mae_pp": statistics.fmean(errors) * 100,
        "worst_pp": errors[worst] * 100,
        "worst_request": names[worst],
        "worst_ratio": shares[worst] / reference[worst],
        "rank_correlation": statistics.correlation(ranks(shares), ranks(reference)),
        "energy_j": total,
        "saved": 1 - total / total_alone,
    }


async def measure_fidelity(url: str, model: str, *, repeats: int = 3, seed: int = 0, n: int | None = None) -> dict:
    """Alone, all at once, then on random schedules, against one worker; conservation over it all."""
    requests = fidelity_requests(n)
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=httpx.Limits(max_connections=None)) as client:
        await one_request(client, url, model, {"name": "warm-up", "prompt": "Bonjour", "max_tokens": 8})
        await asyncio.sleep(0.5)
        before = await read_metrics(client, url)
        alone: dict[str, list[dict]] = {r["name"]: [] for r in requests}
        t0 = time.monotonic()
        for _ in range(repeats):
            for request in rng.sample(requests, len(requests)):
                alone[request["name"]].append(await one_request(client, url, model, request))
                await asyncio.sleep(0.2)  # the engine idle between two requests
        alone_s = (time.monotonic() - t0) / repeats
        alone_j = {name: statistics.median(r["energy_j"] for r in runs) for name, runs in alone.items()}
        runs = {}
        for r in range(repeats):
            runs[f"at_once_{r}"] = await asyncio.gather(*(one_request(client, url, model, q) for q in requests))
            await asyncio.sleep(0.5)
        for r in range(repeats):
            # Start times spread over half the time the requests take alone: they overlap in part.
            schedule = random.Random(seed + 1 + r)
            delays = [schedule.uniform(0, alone_s / 2) for _ in requests]
            runs[f"random_{r}"] = await asyncio.gather(
                *(one_request(client, url, model, q, d) for q, d in zip(requests, delays, strict=True))
            )
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # a few idle samples: every interval settled
        after = await read_metrics(client, url)
    records = [rec for recs in alone.values() for rec in recs] + [rec for run in runs.values() for rec in run]
    delta = {k: after[k] - before[k] for k in ("read", "charged", "idle")}
    return {
        "requests": [{k: q[k] for k in ("name", "max_tokens")} | {"prompt_chars": len(q["prompt"])} for q in requests],
        "alone_j": alone_j,
        "alone_runs": alone,
        "runs": {name: {"records": run, **compare_shares(alone_j, run)} for name, run in runs.items()},
        "conservation": {
            **{f"{k}_j": v for k, v in delta.items()},
            "records_j": sum(rec["energy_j"] for rec in records),
            "read_vs_charged_plus_idle": abs(delta["read"] - delta["charged"] - delta["idle"]) / delta["read"],
            "records_vs_charged": abs(sum(rec["energy_j"] for rec in records) - delta["charged"]) / delta["charged"],
        },
        "method": records[0]["method"],
        "measured": records[0]["measured"],
    }


def print_fidelity(name: str, result: dict) -> bool:
    """The figures of one setup; whether conservation held within 0.1 %."""
    c = result["conservation"]
    held = max(c["read_vs_charged_plus_idle"], c["records_vs_charged"]) <= CONSERVATION_TOLERANCE
    print(f"\n== {name}: method {result['method']} (measured: {result['measured']})")
    print(
        f"conservation: read {c['read_j']:.3f} J = charged {c['charged_j']:.3f} + idle {c['idle_j']:.3f} "
        f"(off by {c['read_vs_charged_plus_idle'] * 100:.4f} %); records {c['records_j']:.3f} J vs charged "
        f"(off by {c['records_vs_charged'] * 100:.4f} %): {'holds' if held else 'BROKEN'} within 0.1 %"
    )
    runs = result["runs"]
    total_alone = sum(result["alone_j"].values())
    header = " ".join(f"{run:>10}" for run in runs)
    print(f"{'request':<8} {'prompt':>6} {'answer':>6} {'alone J':>8} {'alone %':>8} {header}   (shares, %)")
    for q in result["requests"]:
        shares = " ".join(f"{runs[run]['shares'][q['name']] * 100:10.2f}" for run in runs)
        alone = result["alone_j"][q["name"]]
        print(
            f"{q['name']:<8} {q['prompt_chars']:6d} {q['max_tokens']:6d} {alone:8.3f} "
            f"{alone / total_alone * 100:8.2f} {shares}"
        )
    for label, key, fmt in (
        ("MAE (pp)", "mae_pp", "{:10.2f}"),
        ("worst (pp)", "worst_pp", "{:10.2f}"),
        ("worst x", "worst_ratio", "{:10.2f}"),
        ("rank corr", "rank_correlation", "{:10.3f}"),
        ("saved", "saved", "{:10.1%}"),
    ):
        print(f"{label:<39} " + " ".join(fmt.format(runs[run][key]) for run in runs))
    for kind in ("at_once", "random"):
        chosen = [r for name, r in runs.items() if name.startswith(kind)]
        print(
            f"{kind:>8}: MAE {statistics.fmean(r['mae_pp'] for r in chosen):.2f} pp, worst "
            f"{max(r['worst_pp'] for r in chosen):.2f} pp, rank correlation "
            f"{statistics.fmean(r['rank_correlation'] for r in chosen):.3f}, energy saved by overlapping "
            f"{statistics.fmean(r['saved'] for r in chosen):.1%}"
        )
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--url", help="a running worker to measure instead of launching workers")
    parser.add_argument("--model", help="with --url: the model name the worker serves")
    parser.add_argument("--repeats", type=int, default=3, help="runs alone, all at once and on random schedules")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()

    results, held = {}, True
    if args.url:
        results["worker"] = asyncio.run(measure_fidelity(args.url, args.model, repeats=args.repeats, seed=args.seed))
        held = print_fidelity(args.url, results["worker"])
    else:
        from devtools.launcher import MODELS_DIR, ensure_chatty_model, start_worker

        model = ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)
        # One torch thread in the engines: threads that wait for a preempted sibling spin, and
        # on a shared machine that spinning, counted by the CPU-time model, was most of the noise.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        for name in args.setup:
            batching, extra = SETUPS[name]
            handle = start_worker(model, name="chatty", extra=extra, log_dir=LOG_DIR, batching=batching)
            try:
                handle.wait_ready()
                t0 = time.monotonic()
                results[name] = asyncio.run(
                    measure_fidelity(handle.url, "chatty", repeats=args.repeats, seed=args.seed)
                )
                print(f"\n({name}: {time.monotonic() - t0:.0f} s; batching {batching}, worker args {extra or 'none'})")
            finally:
                handle.stop()
            held = print_fidelity(name, results[name]) and held
            if args.json:
                args.json.write_text(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
