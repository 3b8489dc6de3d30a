"""Benchmark of the energy meter's cost: tokens/s through a worker with metering on and off.

Run by hand, not in the test suite:

    .venv/bin/python bench/meter_overhead.py [--rounds 40] [--concurrency 8] [--max-tokens 64]

One `transformers serve` engine (the tiny model var/models/test-tiny) is started once;
two workers attach to it with --upstream, one metering (--meter auto by default), one
not (--meter off). Rounds alternate between them in ABBA order (ON OFF, OFF ON, ...)
so that a slow drift of the machine's load hits both alike. A round is N concurrent
streaming requests with fixed prompts, greedy decoding and the end token forbidden, so
every request generates exactly --max-tokens tokens; its throughput is the generated
tokens (the engine's usage) over the round's wall time. The overhead is estimated from
the ratio ON/OFF of each adjacent pair of rounds (median, with a bootstrap interval).

With --pin (the default where there are 2+ CPUs) the engine runs on CPU 0 and the
workers and this client on the others, so that they do not trade places on a core
between rounds; with --nice -10 (as root) other load on a shared machine disturbs the
rounds less. `--baseline-meter auto` makes an A/A control run: its "overhead" is the
noise floor. Quieter estimates follow: the workers' CPU while idle (the sampler thread),
the workers' CPU per token during the rounds, and the CPU time the meter itself
spends per request (its source reads and ledger events, timed in this process), as a
share of the measured time per request.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.launcher import MODELS_DIR, ensure_tiny_model, start_worker
from inference_workers.engines import EngineProcess, EngineSpec, free_port
from inference_workers.meter import Meter
from inference_workers.power import CpuTimeSource, NullSource, default_sampling_period_s, open_power_source
from inference_workers.protocol import EnergyRecord

PROMPTS = [
    "Comment économiser l'énergie à la maison ?",
    "What is the capital of France?",
    "Explique la photosynthèse simplement.",
    "Write a short poem about the sea.",
    "Quels sont les avantages du vélo en ville ?",
    "Why is the sky blue?",
    "Donne trois idées de recettes végétariennes.",
    "How does a heat pump work?",
]
LOG_DIR = MODELS_DIR.parent / "bench-logs"


async def one_request(client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int, bias: dict) -> dict:
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 0,
        "logit_bias": bias,
    }
    final = None
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            chunk = json.loads(line[5:])
            if "error" in chunk:
                raise RuntimeError(f"{url}: {chunk['error']}")
            if chunk.get("usage"):
                final = chunk
    if final is None:
        raise RuntimeError(f"{url}: a stream ended without usage")
    return final


async def one_round(client: httpx.AsyncClient, url: str, concurrency: int, max_tokens: int, bias: dict):
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(concurrency)]
    t0 = time.perf_counter()
    finals = await asyncio.gather(*(one_request(client, url, p, max_tokens, bias) for p in prompts))
    wall = time.perf_counter() - t0
    tokens = sum(f["usage"]["completion_tokens"] for f in finals)
    return tokens / wall, tokens, wall, finals


def read_cost_us(source, reads: int = 300) -> float:
    t0 = time.process_time()
    for _ in range(reads):
        source.read_energy_j()
    return (time.process_time() - t0) / reads * 1e6


def meter_cost_per_request_us(source, max_tokens: int, concurrency: int, repeats: int = 50) -> float:
    """CPU time of the meter's work for one request: begin, first token, a token count per
    chunk, finish, record, in batches of `concurrency` requests (the sampler thread is not
    started here; its reads are accounted for separately)."""
    meter = Meter(source)
    t0 = time.process_time()
    for r in range(repeats):
        rids = [f"{r}-{i}" for i in range(concurrency)]
        for rid in rids:
            meter.begin(rid, 20.0)
        for rid in rids:
            meter.first_token(rid)
        for _ in range(max_tokens):
            for rid in rids:
                meter.add_tokens(rid, 1)
        for rid in rids:
            usage = meter.finish(rid, prompt_tokens=20, completion_tokens=max_tokens)
            meter.record(usage, prompt_tokens=20, completion_tokens=max_tokens)
    return (time.process_time() - t0) / (repeats * concurrency) * 1e6


def bootstrap_median_ci(values: list[float], n: int = 5000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    arr = np.asarray(values)
    medians = np.median(rng.choice(arr, size=(n, len(arr)), replace=True), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def describe(values: list[float]) -> str:
    q1, q3 = np.percentile(values, [25, 75])
    cv = statistics.stdev(values) / statistics.mean(values) * 100 if len(values) > 1 else 0.0
    return f"{statistics.median(values):9.1f} {q1:9.1f} {q3:9.1f} {min(values):9.1f} {max(values):9.1f} {cv:6.1f}%"


async def bench(args, on_url: str, off_url: str, bias: dict, cpu: dict) -> dict:
    """`cpu`: name -> CpuTimeSource at 1 W per core, i.e. a CPU-seconds counter, of the
    ON worker, the OFF worker and the engine."""
    results = {
        "on": [],
        "off": [],
        "cpu_on": [],
        "cpu_off": [],
        "engine_busy": [],
        "cpu_s": {"on": 0.0, "off": 0.0},
        "tokens": {"on": 0, "off": 0},
    }
    pairs = []
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(120.0), limits=httpx.Limits(max_connections=4 * args.concurrency)
    ) as client:
        for _ in range(args.warmup):  # both workers and the engine warm, connections open
            for url in (on_url, off_url):
                await one_round(client, url, args.concurrency, args.max_tokens, bias)
        for r in range(args.rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")  # ABBA: linear drift cancels
            pair = {}
            for side in order:
                before = {k: c.read_energy_j() for k, c in cpu.items()}
                tps, tokens, wall, finals = await one_round(
                    client, on_url if side == "on" else off_url, args.concurrency, args.max_tokens, bias
                )
                used = {k: c.read_energy_j() - before[k] for k, c in cpu.items()}
                results[f"cpu_{side}"].append(used[side] / tokens * 1e6)  # worker CPU us per token
                results["cpu_s"][side] += used[side]  # /proc counts 10 ms ticks: totals are finer
                results["tokens"][side] += tokens
                results["engine_busy"].append(used["engine"] / wall * 100)
                if tokens != args.concurrency * args.max_tokens:
                    print(f"  note: round {r} {side}: {tokens} tokens, not {args.concurrency * args.max_tokens}")
                energy = EnergyRecord.model_validate(finals[-1]["energy"])
                meter = args.meter if side == "on" else args.baseline_meter
                assert (energy.method == "off") == (meter == "off"), energy
                assert energy.has_figures == (meter != "off"), energy
                results[side].append(tps)
                pair[side] = tps
            pairs.append(pair["on"] / pair["off"])
            if args.verbose:
                print(
                    f"  round {r:2d} {order[0]:>3}/{order[1]:<3} on {pair['on']:8.1f} tok/s  "
                    f"off {pair['off']:8.1f} tok/s  ratio {pairs[-1]:.4f}  worker CPU us/token "
                    f"on {results['cpu_on'][-1]:6.1f} off {results['cpu_off'][-1]:6.1f}  "
                    f"engine busy {results['engine_busy'][-2]:3.0f}% {results['engine_busy'][-1]:3.0f}%"
                )
        final = await one_request(client, on_url, PROMPTS[0], args.max_tokens, bias)
    results["pairs"] = pairs
    results["on_method"] = EnergyRecord.model_validate(final["energy"]).method
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="pairs of rounds (one ON, one OFF each)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent streaming requests per round")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens generated by each request")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds per worker first")
    parser.add_argument("--meter", default="auto", help="--meter of the metering worker (auto, cpu, rapl, nvml)")
    parser.add_argument(
        "--baseline-meter",
        default="off",
        help="--meter of the baseline worker: off; the same as --meter for an A/A control run",
    )
    parser.add_argument(
        "--sampling-period",
        type=float,
        default=default_sampling_period_s(),
        help="--sampling-period of both workers (default: %(default)s, from fixtures/meter.yaml)",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="engine on CPU 0, workers and client on the others",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness for the engine, workers and client (negative, as root: less disturbed "
        "by other load on a shared machine; the ON/OFF comparison is unchanged)",
    )
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle CPU measurement of both workers")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every round")
    args = parser.parse_args()

    model = ensure_tiny_model(MODELS_DIR / "test-tiny", seed=11, layers=1)
    eos = json.loads((model / "generation_config.json").read_text())["eos_token_id"]
    bias = {str(eos): -100.0}  # every answer runs to max_tokens: same work in every round
    LOG_DIR.mkdir(parents=True, exist_ok=True)

    if args.nice:
        os.nice(args.nice)  # inherited by the engine and the workers
    all_cpus = sorted(os.sched_getaffinity(0))
    pinned = args.pin and len(all_cpus) >= 2
    if pinned:
        os.sched_setaffinity(0, {all_cpus[0]})  # inherited by the engine at fork
    engine = EngineProcess(EngineSpec("transformers", str(model), port=free_port()), log_path=LOG_DIR / "engine.log")
    workers = []
    try:
        engine.start()
        if pinned:
            os.sched_setaffinity(0, set(all_cpus[1:]))  # inherited by the workers
        engine.wait_ready(180)
        common = ["--upstream", engine.spec.base_url, "--sampling-period", str(args.sampling_period)]
        # batching=False: the engine above runs one request at a time, and takes logit_bias.
        on = start_worker(model, name="tiny", extra=[*common, "--meter", args.meter], log_dir=LOG_DIR, batching=False)
        workers.append(on)
        off = start_worker(
            model, name="tiny", extra=[*common, "--meter", args.baseline_meter], log_dir=LOG_DIR, batching=False
        )
        workers.append(off)
        on.wait_ready()
        off.wait_ready()

        cpu = {
            "on": CpuTimeSource(pid=on.proc.pid, watts_per_core=1.0, threads_per_core=1.0),
            "off": CpuTimeSource(pid=off.proc.pid, watts_per_core=1.0, threads_per_core=1.0),
            "engine": CpuTimeSource(pid=engine.pid, watts_per_core=1.0, threads_per_core=1.0),
        }
        # Idle first: the workers' CPU with no request is the sampler thread's cost (and the
        # engine health probe, the same in both).
        time.sleep(1.0)
        idle0 = {k: c.read_energy_j() for k, c in cpu.items()}
        time.sleep(args.idle_seconds)
        idle = {k: (cpu[k].read_energy_j() - idle0[k]) / args.idle_seconds * 100 for k in ("on", "off")}
        t0 = time.monotonic()
        res = asyncio.run(bench(args, on.url, off.url, bias, cpu))
        elapsed = time.monotonic() - t0

        # The meter's own CPU cost, timed here without the noise of the engine.
        engine_tree = CpuTimeSource(pid=engine.pid)
        machine = CpuTimeSource(pid=None)
        on_source = open_power_source(args.meter, engine_pid=None)  # what the attached worker opened
        costs = {
            f"read: {on_source.method} ({'whole machine' if isinstance(on_source, CpuTimeSource) else 'attached'})": read_cost_us(
                on_source
            ),
            "read: cpu-time-model, engine process tree (launched engine)": read_cost_us(engine_tree),
            "read: cpu-time-model, whole machine": read_cost_us(machine),
            "read: off": read_cost_us(NullSource()),
        }
        per_request_us = meter_cost_per_request_us(on_source, args.max_tokens, args.concurrency)
        off_per_request_us = meter_cost_per_request_us(NullSource(), args.max_tokens, args.concurrency)
    finally:
        for w in workers:
            w.stop()
        engine.stop()

    on_tps, off_tps, ratios = res["on"], res["off"], res["pairs"]
    med_on, med_off = statistics.median(on_tps), statistics.median(off_tps)
    med_ratio = statistics.median(ratios)
    lo, hi = bootstrap_median_ci(ratios)
    print(
        f"meter overhead: 1 transformers serve engine ({model.name}, CPU), 2 workers attached "
        f"(ON: --meter {args.meter} -> {res['on_method']}, OFF: --meter {args.baseline_meter})"
    )
    print(
        f"{args.rounds} ON/OFF pairs in ABBA order after {args.warmup} warm-up rounds each; "
        f"{args.concurrency} concurrent streams x {args.max_tokens} tokens per round; "
        f"sampling period {args.sampling_period} s; pinning "
        f"{f'engine on CPU {all_cpus[0]}, workers+client on CPU ' + ','.join(map(str, all_cpus[1:])) if pinned else 'off'}; "
        f"niceness {os.nice(0)}; "
        f"{elapsed:.0f} s"
    )
    print()
    print(f"{'tokens/s':<10} {'median':>9} {'q1':>9} {'q3':>9} {'min':>9} {'max':>9} {'cv':>7}")
    print(f"{'meter ON':<10} {describe(on_tps)}")
    print(f"{'meter OFF':<10} {describe(off_tps)}")
    print()
    print(f"ratio of medians ON/OFF       {med_on / med_off:.4f}  (overhead {(1 - med_on / med_off) * 100:+.2f}%)")
    print(
        f"median of paired ratios       {med_ratio:.4f}  (overhead {(1 - med_ratio) * 100:+.2f}%, "
        f"95% bootstrap CI {(1 - hi) * 100:+.2f}% .. {(1 - lo) * 100:+.2f}%)"
    )
    q1, q3 = np.percentile(ratios, [25, 75])
    print(f"paired ratios: q1 {q1:.4f}  q3 {q3:.4f}  min {min(ratios):.4f}  max {max(ratios):.4f}")
    best_on, best_off = np.percentile(on_tps, 90), np.percentile(off_tps, 90)
    print(
        f"90th percentile ON/OFF        {best_on / best_off:.4f}  (overhead {(1 - best_on / best_off) * 100:+.2f}%; "
        f"outside load only slows rounds down, so the fast rounds are the least disturbed)"
    )
    print()
    cpu_on, cpu_off = (res["cpu_s"][k] / res["tokens"][k] * 1e6 for k in ("on", "off"))
    print(
        f"worker CPU while idle ({args.idle_seconds:g} s, /proc ticks of 10 ms): ON {idle['on']:.2f}% of a core, "
        f"OFF {idle['off']:.2f}% (the sampler thread: {idle['on'] - idle['off']:+.2f}% of a core)"
    )
    print(
        f"worker CPU time per token (all rounds): ON {cpu_on:.1f} us, OFF {cpu_off:.1f} us "
        f"(+{(cpu_on / cpu_off - 1) * 100:.1f}% CPU in the metering worker); "
        f"engine busy {statistics.median(res['engine_busy']):.0f}% of a core during rounds (median)"
    )
    print()
    print("the meter's own CPU time (timed in this process):")
    for name, us in costs.items():
        print(f"  {name:<62} {us:9.1f} us per read")
    extra_us = per_request_us - off_per_request_us
    sampler_share = costs[next(iter(costs))] / (args.sampling_period * 1e6) * 100
    round_us = 1e6 * args.concurrency * args.max_tokens / med_off  # wall time of one round, OFF
    print(
        f"  events of one request (begin, first token, {args.max_tokens} token counts, finish, record): "
        f"{extra_us:.1f} us ON vs {off_per_request_us:.1f} us OFF"
    )
    print(
        f"  sampler thread, its reads alone: one per {args.sampling_period} s = {sampler_share:.3f}% of one core "
        f"(the whole tick, thread wake-up included, is the idle figure above)"
    )
    print(
        f"  => events: {extra_us * args.concurrency / round_us * 100:.3f}% of one core at the OFF median throughput "
        f"(per-request events x {args.concurrency} requests / round time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
