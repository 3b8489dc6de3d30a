"""Benchmark of the arena's streaming overhead: time to first token through the arena
(HTTP API + WebSocket + consumer) versus straight from the inference workers.

Run by hand, not in the test suite:

    .venv/bin/python bench/arena_overhead.py [--concurrency 1,50] [--max-tokens 16] [--rounds 4]

Setup (nothing outside a temp directory and var/ is touched):
  * two real workers on CPU (`transformers serve`) with the tiny test models
    var/models/test-tiny (seed 11, 1 layer) and var/models/test-tiny-b (seed 13, 1 layer),
    built if absent; served names = the catalogue slugs `tiny-a` and `tiny-b`;
  * a throwaway SQLite database (DATABASE_URL in a temp dir, `manage.py migrate`), a
    generated two-model catalogue pointing at those workers (`manage.py load_catalogue`);
  * daphne serving config.asgi:application on that database, with the embedded in-memory
    channel layer and cache (REDIS_URL is dropped), ARENA_MAX_TOKENS = --max-tokens and
    rate limits raised so that they never refuse a benchmark request.

Measurements, taken side by side in the same run:
  * arena, c concurrent battles (mode "random": the only two models, one per worker, so
    c battles = 2c streams, c per worker). Each battle belongs to its own visitor (cookie
    `arena_visitor`, terms accepted during setup), as c people would. Per battle:
    POST /api/battles, then open the WebSocket /ws/battles/<id>/ with the visitor cookie
    and Origin http://127.0.0.1:PORT, read frames until both sides are done.
      ws->delta   : from the WebSocket open (handshake complete; the consumer starts both
                    streams right after it accepts) to the first `delta` frame of a side;
      post->delta : from sending POST /api/battles to the first `delta` frame of a side
                    (adds battle creation and the WebSocket handshake).
  * direct, 2c concurrent streams (c per worker): httpx streaming POST
    /v1/chat/completions on the worker with the same body the consumer sends (model,
    messages=[user prompt], stream, max_tokens), from sending the request to the first
    chunk with non-empty `delta.content`.
  One TTFT sample per side (arena) or per stream (direct). A run at concurrency c is
  ceil(--min-battles / c) waves of c battles (or 2c direct streams) one after another,
  so that c=1 collects enough samples. Runs alternate ABBA per concurrency (direct,
  arena, arena, direct, ...) so that drift hits both alike; one untimed warm-up of each
  path comes first. The table printed last gives median and p90 of each and the ratios
  arena/direct of the medians and of the p90s.

`transformers serve` answers one request at a time, so at 50 concurrent battles TTFT is
dominated by queueing in the engine on both paths; the ratio is what this measures.
Every child process (workers with their engines, daphne) is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.serve import daphne_command
from devtools.launcher import MODELS_DIR, ensure_tiny_model, start_worker
from inference_workers.engines import REPO, free_port

WORKERS = {"tiny-a": ("test-tiny", 11), "tiny-b": ("test-tiny-b", 13)}  # slug -> (model dir, seed)
PROMPTS = [
    "Comment économiser l'énergie à la maison ?",
    "Explique la photosynthèse simplement.",
    "Quels sont les avantages du vélo en ville ?",
    "Donne trois idées de recettes végétariennes.",
    "Why is the sky blue?",
    "How does a heat pump work?",
]
LOG_DIR = MODELS_DIR.parent / "bench-logs"
TIMEOUT = httpx.Timeout(300.0, connect=30.0)


# -- setup ------------------------------------------------------------------------------------
def catalogue_yaml(urls: dict[str, str]) -> str:
    entries = []
    for slug, url in urls.items():
        entries.append(
            {
                "slug": slug,
                "name": f"Bench {slug}",
                "organization": "Bench",
                "license": "Apache-2.0",
                "license_kind": "open",
                "params_b": 0.0003,
                "architecture": "dense transformer (Llama)",
                "release_date": "2026-01-01",
                "description": {"fr": "Modèle de banc d'essai.", "en": "Bench model."},
                "worker": {"env": f"BENCH_WORKER_URL_{slug.upper().replace('-', '_')}", "default": url},
                "identity_words": [f"Bench {slug}"],
                "enabled": True,
            }
        )
    return json.dumps(entries, ensure_ascii=False, indent=1)  # JSON is YAML


def django_env(database_url: str, catalogue: Path, max_tokens: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "ARENA_CATALOGUE": str(catalogue),
            "DEBUG": "False",
            "ARENA_MAX_TOKENS": str(max_tokens),
            "ARENA_PROMPTS_PER_MINUTE_VISITOR": "100000",
            "ARENA_PROMPTS_PER_MINUTE_IP": "100000",
            "ARENA_MAX_CONCURRENT_BATTLES": "1000",
            "ARENA_WORKER_TIMEOUT_S": "300",
            "ARENA_LOG_LEVEL": "WARNING",
        }
    )
    return env


def wait_port(port: int, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with code {proc.returncode} (see {LOG_DIR / 'arena-daphne.log'})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"daphne not listening on {port} after {timeout_s:.0f} s")


# -- the two paths -------------------------------------------------------------------------------
def first_content(line: str) -> bool:
    if not line.startswith("data:"):
        return False
    data = line[5:].strip()
    if data == "[DONE]":
        return False
    chunk = json.loads(data)
    if "error" in chunk:
        raise RuntimeError(f"worker error: {chunk['error']}")
    return any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or [])


async def direct_stream(client: httpx.AsyncClient, url: str, slug: str, prompt: str, max_tokens: int) -> dict:
    body = {"model": slug, "messages": [{"role": "user", "content": prompt}], "stream": True, "max_tokens": max_tokens}
    t0 = time.perf_counter()
    ttft = None
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            await resp.aread()
            raise RuntimeError(f"{url}: HTTP {resp.status_code} {resp.text[:200]}")
        async for line in resp.aiter_lines():
            if ttft is None and first_content(line):
                ttft = time.perf_counter() - t0
    return {"direct": ttft}


async def arena_battle(base: str, origin: str, visitor: dict, prompt: str) -> list[dict]:
    client: httpx.AsyncClient = visitor["client"]
    t_post = time.perf_counter()
    resp = await client.post(
        base + "/api/battles", json={"prompt": prompt, "mode": "random"}, headers={"X-CSRFToken": visitor["csrf"]}
    )
    if resp.status_code != 201:
        raise RuntimeError(f"POST /api/battles: HTTP {resp.status_code} {resp.text[:200]}")
    ws_url = base.replace("http://", "ws://") + resp.json()["ws"]
    first: dict[str, float] = {}
    done: set[str] = set()
    async with ws_connect(
        ws_url,
        origin=origin,
        open_timeout=120,
        close_timeout=5,
        additional_headers={"Cookie": f"arena_visitor={visitor['id']}"},
    ) as ws:
        t_open = time.perf_counter()
        async for raw in ws:
            frame = json.loads(raw)
            kind, side = frame.get("type"), frame.get("side")
            if kind == "delta" and side not in first:
                first[side] = time.perf_counter()
            elif kind == "done":
                done.add(side)
            elif kind == "error":  # counted as a failed sample of that side
                print(f"  error frame: {frame}", flush=True)
                if side not in ("a", "b"):
                    break
                done.add(side)
            if len(done) == 2:
                break
    return [
        {"ws": first[s] - t_open, "post": first[s] - t_post} if s in first else {"ws": None, "post": None}
        for s in ("a", "b")
    ]


def failed(exc: BaseException, sample: dict) -> dict:
    if not isinstance(exc, Exception):
        raise exc
    print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
    return sample


async def run_direct(workers: dict[str, str], c: int, waves: int, max_tokens: int, counter: list) -> list[dict]:
    samples = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits) as client:
        for _ in range(waves):
            jobs = []
            for i in range(c):
                prompt = PROMPTS[(counter[0] + i) % len(PROMPTS)]
                jobs += [direct_stream(client, url, slug, prompt, max_tokens) for slug, url in workers.items()]
            counter[0] += c
            samples += [
                s if isinstance(s, dict) else failed(s, {"direct": None})
                for s in await asyncio.gather(*jobs, return_exceptions=True)
            ]
    return samples


async def run_arena(base: str, origin: str, visitors: list[dict], c: int, waves: int, counter: list) -> list[dict]:
    samples = []
    for _ in range(waves):
        prompts = [PROMPTS[(counter[0] + i) % len(PROMPTS)] for i in range(c)]
        counter[0] += c
        for pair in await asyncio.gather(
            *(arena_battle(base, origin, visitors[i], prompts[i]) for i in range(c)), return_exceptions=True
        ):
            samples += pair if isinstance(pair, list) else [failed(pair, {"ws": None, "post": None})] * 2
    return samples


async def make_visitors(base: str, n: int) -> list[dict]:
    """n visitors, each with its cookie jar (arena_visitor + csrftoken) and terms accepted."""
    visitors = []
    for _ in range(n):
        client = httpx.AsyncClient(timeout=TIMEOUT)
        resp = await client.get(base + "/")
        resp.raise_for_status()
        visitor = {"client": client, "id": client.cookies["arena_visitor"], "csrf": client.cookies["csrftoken"]}
        resp = await client.post(
            base + "/api/consent", json={"accept_terms": True}, headers={"X-CSRFToken": visitor["csrf"]}
        )
        if resp.status_code != 200:
            raise RuntimeError(f"POST /api/consent: HTTP {resp.status_code} {resp.text[:200]}")
        visitors.append(visitor)
    return visitors


# -- statistics -------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default)."""
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(values: list) -> tuple[float, float, int, int]:
    got = [v for v in values if v is not None]
    return (
        statistics.median(got) * 1000 if got else float("nan"),
        pct(got, 0.9) * 1000 if got else float("nan"),
        len(got),
        len(values) - len(got),
    )


# -- main -------------------------------------------------------------------------------------
async def bench(args, workers: dict[str, str], base: str) -> None:
    origin = base
    levels = args.concurrency
    print(f"creating {max(levels)} visitors (consent)...", flush=True)
    visitors = await make_visitors(base, max(levels))
    counter = [0]
    try:
        print("warm-up (untimed): direct and arena at concurrency 1", flush=True)
        await run_direct(workers, 1, 2, args.max_tokens, counter)
        await run_arena(base, origin, visitors, 1, 2, counter)

        results = {c: {"direct": [], "ws": [], "post": []} for c in levels}
        for rnd in range(args.rounds):
            order = ("direct", "arena") if rnd % 2 == 0 else ("arena", "direct")
            for c in levels:
                waves = max(1, math.ceil(args.min_battles / c))
                for path in order:
                    t0 = time.perf_counter()
                    if path == "direct":
                        got = await run_direct(workers, c, waves, args.max_tokens, counter)
                        results[c]["direct"] += [s["direct"] for s in got]
                        med = summary([s["direct"] for s in got])[0]
                    else:
                        got = await run_arena(base, origin, visitors, c, waves, counter)
                        results[c]["ws"] += [s["ws"] for s in got]
                        results[c]["post"] += [s["post"] for s in got]
                        med = summary([s["ws"] for s in got])[0]
                    print(
                        f"round {rnd + 1}/{args.rounds}  c={c:<3} {path:<6} {waves} wave(s), {len(got)} streams, "
                        f"median TTFT {med:7.1f} ms, wall {time.perf_counter() - t0:6.1f} s",
                        flush=True,
                    )
    finally:
        for v in visitors:
            await v["client"].aclose()

    print()
    print(
        f"TTFT (ms), {args.rounds} rounds alternating direct/arena, max_tokens={args.max_tokens}, "
        f"2 CPU workers (transformers serve), daphne + SQLite + in-memory layer"
    )
    print("  direct      = worker POST /v1/chat/completions sent -> first content chunk")
    print("  arena ws    = WebSocket open -> first delta frame of a side")
    print("  arena post  = POST /api/battles sent -> first delta frame of a side")
    header = f"{'battles':>7} {'streams':>7} {'path':<11} {'n':>5} {'no tok':>6} {'median':>9} {'p90':>9} {'x med':>7} {'x p90':>7}"
    print(header)
    print("-" * len(header))
    for c in levels:
        d_med, d_p90, d_n, d_miss = summary(results[c]["direct"])
        for path, label in (("direct", "direct"), ("ws", "arena ws"), ("post", "arena post")):
            med, p90, n, miss = summary(results[c][path])
            ratio_med = f"{med / d_med:7.2f}" if path != "direct" else f"{'':>7}"
            ratio_p90 = f"{p90 / d_p90:7.2f}" if path != "direct" else f"{'':>7}"
            print(f"{c:>7} {2 * c:>7} {label:<11} {n:>5} {miss:>6} {med:9.1f} {p90:9.1f} {ratio_med} {ratio_p90}")
    print("(x med, x p90: arena / direct; 'no tok': streams with no content (failed or ended empty))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,50", help="comma-separated numbers of concurrent battles")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4, help="runs of each path per concurrency (alternating)")
    parser.add_argument(
        "--min-battles",
        type=int,
        default=20,
        help="battles per run at least: a run is ceil(min_battles / c) waves of c",
    )
    args = parser.parse_args()
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x.strip()]

    # SIGTERM goes through the same clean-up as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    handles = []
    daphne = None
    tmp = tempfile.TemporaryDirectory(prefix="arena-bench-")
    try:
        print("building tiny models if absent, starting two workers...", flush=True)
        for slug, (dirname, seed) in WORKERS.items():
            model = ensure_tiny_model(MODELS_DIR / dirname, seed=seed, layers=1)
            handles.append(start_worker(model, name=slug, log_dir=LOG_DIR))
        for handle in handles:
            handle.wait_ready()
        workers = {h.name: h.url for h in handles}

        catalogue = Path(tmp.name) / "catalogue.yaml"
        catalogue.write_text(catalogue_yaml(workers), encoding="utf-8")
        env = django_env(f"sqlite:///{Path(tmp.name) / 'db.sqlite3'}", catalogue, args.max_tokens)
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
        subprocess.run(
            manage + ["load_catalogue", str(catalogue)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
        )

        port = free_port()
        log = open(LOG_DIR / "arena-daphne.log", "wb")
        daphne = subprocess.Popen(
            [sys.executable, "-m", *daphne_command("127.0.0.1", port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_port(port, daphne)
        print(f"workers: {workers}; arena: http://127.0.0.1:{port}", flush=True)
        asyncio.run(bench(args, workers, f"http://127.0.0.1:{port}"))
    finally:
        if daphne is not None and daphne.poll() is None:
            daphne.terminate()
            try:
                daphne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daphne.kill()
                daphne.wait(timeout=5)
        for handle in handles:
            handle.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
