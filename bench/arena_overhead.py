"""Benchmark of the arena's streaming overhead: time to first token through the arena
(HTTP API + WebSocket + consumer) versus straight from the inference workers.

Run by hand, not in the test suite:

    .venv/bin/python bench/arena_overhead.py [--concurrency 1,50] [--max-tokens 16] [--rounds 4] [--split-cores]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

--split-cores puts the workers (and their CPU engines) on the last core and daphne and this
client on the others, as when the workers run on GPU nodes: on two shared cores the engines'
prefill competes with the web for CPU.

Setup (nothing outside a temp directory and var/ is touched):
  * two real workers on CPU (`transformers serve`) with the tiny test models
    var/models/test-tiny (seed 11, 1 layer) and var/models/test-tiny-b (seed 13, 1 layer),
    built if absent; served names = the catalogue slugs `tiny-a` and `tiny-b`;
  * a throwaway SQLite database (DATABASE_URL in a temp dir, `manage.py migrate`), or with
    --database-url a throwaway database created on that PostgreSQL server (dropped at the
    end), a generated two-model catalogue pointing at those workers (`manage.py load_catalogue`);
  * daphne serving config.asgi:application on that database, with the embedded in-memory
    channel layer and cache (REDIS_URL is dropped), ARENA_MAX_TOKENS = --max-tokens and
    rate limits raised so that they never refuse a benchmark request.

Measurements, taken side by side in the same run:
  * five arenas on that database (`ARENAS`): one as deployed (`paced`: ARENA_PACE_STREAMS
    on: both answers shown at one common pace, the first delta of a battle held until both
    sides have text, so that speed gives no model away), one with pacing off (`unpaced`: each
    side's deltas relayed as they come: the web's own cost alone), `late`, unpaced with
    the answers sent when the socket opens rather than at the POST (arena/early.py off), and
    `uvicorn`, unpaced and served by uvicorn (`config.serve.uvicorn_command`) instead of
    daphne, and `django`, unpaced with Django's own ASGIHandler instead of the one-hop one
    (ARENA_ASGI_ONE_HOP=0, config/handlers.py); on PostgreSQL a sixth, `unpooled`, unpaced without the connection pool
    (ARENA_DB_POOL_MAX=0: a connection opened per request and per socket hop, as before);
  * with bench/floor.patch applied (by hand, measurement only), a last arena, `floor`, sends
    the requests before the view's checks and reads: the floor of this stack from the POST;
  * in each, c concurrent battles (mode "random": the only two models, one per worker, so
    c battles = 2c streams, c per worker). Each battle belongs to its own visitor (cookie
    `arena_visitor`, terms accepted during setup), as c people would. Per battle:
    POST /api/battles, then open the WebSocket /ws/battles/<id>/ with the visitor cookie
    and Origin http://127.0.0.1:PORT, read frames until both sides are done.
      ws->delta   : from the WebSocket open (handshake complete; the consumer starts both
                    streams right after it accepts) to the first `delta` frame of a side;
      post->delta : from sending POST /api/battles to the first `delta` frame of a side
                    (adds battle creation and the WebSocket handshake);
  * direct, 2c concurrent streams (c per worker, in pairs: one to each worker, as a battle
    sends them): httpx streaming POST /v1/chat/completions on the worker with the same body
    the consumer sends (model, messages=[user prompt], stream, max_tokens), from sending
    the request to the first chunk with non-empty `delta.content`.
      direct      : each stream's own time to first token: what the unpaced arena adds to;
      direct pair : the later of a pair's two: the soonest a paced arena can show a battle's
                    first delta, since it waits for both sides.
  One TTFT sample per side (arena) or per stream (direct). A run at concurrency c is
  ceil(--min-battles / c) waves of c battles (or 2c direct streams) one after another,
  so that c=1 collects enough samples. Runs rotate per round (direct, unpaced, paced;
  then unpaced, paced, direct; ...) so that drift hits all alike; one untimed warm-up of
  each path comes first. The table printed last gives median and p90 of each path, the
  overhead of the arena's median over its reference's (ms) and the ratios of the medians
  and of the p90s; below it, the medians of the POST round trip and of the WebSocket
  handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.serve import daphne_command, uvicorn_command
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


@contextlib.contextmanager
def throwaway_postgres(server_url: str):
    """A new database on that server, for this run only: its URL."""
    import psycopg

    parts = urlsplit(server_url)
    name = f"arena_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_port(port: int, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with code {proc.returncode} (see {LOG_DIR}/arena-daphne-*.log)")
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
    t_created = time.perf_counter()
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
    steps = {"post_rtt": t_created - t_post, "handshake": t_open - t_created}
    return [
        {"ws": first[s] - t_open, "post": first[s] - t_post, **steps}
        if s in first
        else {"ws": None, "post": None, **steps}
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
            got = [
                s if isinstance(s, dict) else failed(s, {"direct": None})
                for s in await asyncio.gather(*jobs, return_exceptions=True)
            ]
            for first, second in zip(got[0::2], got[1::2], strict=True):  # a battle's two streams
                both = None if None in (first["direct"], second["direct"]) else max(first["direct"], second["direct"])
                first["pair"] = second["pair"] = both
            samples += got
    return samples


async def run_arena(base: str, origin: str, visitors: list[dict], c: int, waves: int, counter: list) -> list[dict]:
    samples = []
    for _ in range(waves):
        prompts = [PROMPTS[(counter[0] + i) % len(PROMPTS)] for i in range(c)]
        counter[0] += c
        for pair in await asyncio.gather(
            *(arena_battle(base, origin, visitors[i], prompts[i]) for i in range(c)), return_exceptions=True
        ):
            if not isinstance(pair, list):
                pair = [failed(pair, {"ws": None, "post": None, "post_rtt": None, "handshake": None})] * 2
            samples += pair
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
# Each arena: its own daphne on the same database, with these settings.
ARENAS = {
    "unpaced": {"ARENA_PACE_STREAMS": "False"},
    "paced": {"ARENA_PACE_STREAMS": "True"},
    # Answers sent by the socket, as before arena/early.py: what beginning them at the POST gains.
    "late": {"ARENA_PACE_STREAMS": "False", "ARENA_EARLY_ANSWER_WAIT_S": "0"},
    # unpaced, served by uvicorn instead of daphne: what the ASGI server itself costs.
    "uvicorn": {"ARENA_PACE_STREAMS": "False"},
    # unpaced, with Django's own ASGI handler: what running each request in one thread hop gains.
    "django": {"ARENA_PACE_STREAMS": "False", "ARENA_ASGI_ONE_HOP": "False"},
}
# On PostgreSQL only: unpaced, a connection opened per request and per socket hop (no pool).
UNPOOLED = {"unpooled": {"ARENA_PACE_STREAMS": "False", "ARENA_DB_POOL_MAX": "0"}}
SERVERS = {"uvicorn": uvicorn_command}  # each other arena: daphne
ROWS = (  # (sample key, label, reference key)
    ("direct", "direct", None),
    ("unpaced ws", "unpaced ws", "direct"),
    ("unpaced post", "unpaced post", "direct"),
    ("late ws", "late ws", "direct"),
    ("late post", "late post", "direct"),
    ("uvicorn ws", "uvicorn ws", "direct"),
    ("uvicorn post", "uvicorn post", "direct"),
    ("django ws", "django ws", "direct"),
    ("django post", "django post", "direct"),
    ("unpooled ws", "unpooled ws", "direct"),
    ("unpooled post", "unpooled post", "direct"),
    ("pair", "direct pair", None),
    ("paced ws", "paced ws", "pair"),
    ("paced post", "paced post", "pair"),
)


async def bench(args, workers: dict[str, str], bases: dict[str, str]) -> None:
    levels = args.concurrency
    print(f"creating {max(levels)} visitors (consent)...", flush=True)
    visitors = await make_visitors(bases["paced"], max(levels))
    arenas = list(bases)
    counter = [0]
    paths = ("direct", *arenas)
    try:
        print("warm-up (untimed): direct and each arena at concurrency 1", flush=True)
        await run_direct(workers, 1, 2, args.max_tokens, counter)
        for arena in arenas:
            await run_arena(bases[arena], bases[arena], visitors, 1, 2, counter)

        steps = {f"{arena} {step}": [] for arena in arenas for step in ("post_rtt", "handshake")}
        results = {c: {key: [] for key, _label, _ref in ROWS} | {k: [] for k in steps} for c in levels}
        for rnd in range(args.rounds):
            order = paths[rnd % len(paths) :] + paths[: rnd % len(paths)]
            for c in levels:
                waves = max(1, math.ceil(args.min_battles / c))
                for path in order:
                    t0 = time.perf_counter()
                    if path == "direct":
                        got = await run_direct(workers, c, waves, args.max_tokens, counter)
                        results[c]["direct"] += [s["direct"] for s in got]
                        results[c]["pair"] += [s.get("pair") for s in got]
                        med = summary([s["direct"] for s in got])[0]
                    else:
                        got = await run_arena(bases[path], bases[path], visitors, c, waves, counter)
                        results[c][f"{path} ws"] += [s["ws"] for s in got]
                        results[c][f"{path} post"] += [s["post"] for s in got]
                        results[c][f"{path} post_rtt"] += [s["post_rtt"] for s in got[0::2]]
                        results[c][f"{path} handshake"] += [s["handshake"] for s in got[0::2]]
                        med = summary([s["ws"] for s in got])[0]
                    print(
                        f"round {rnd + 1}/{args.rounds}  c={c:<3} {path:<8} {waves} wave(s), {len(got)} streams, "
                        f"median TTFT {med:7.1f} ms, wall {time.perf_counter() - t0:6.1f} s",
                        flush=True,
                    )
    finally:
        for v in visitors:
            await v["client"].aclose()

    print()
    print(
        f"TTFT (ms), {args.rounds} rounds rotating direct/{'/'.join(arenas)}, max_tokens={args.max_tokens}, "
        f"2 CPU workers (transformers serve), daphne (uvicorn: uvicorn) + {args.database} + in-memory layer"
    )
    print("  direct       = worker POST /v1/chat/completions sent -> first content chunk, each stream")
    print("  direct pair  = the later of a battle's two direct streams (what pacing waits for)")
    print("  ... ws       = WebSocket open -> first delta frame of a side")
    print("  ... post     = POST /api/battles sent -> first delta frame of a side")
    print("  unpaced: ARENA_PACE_STREAMS off (against direct); paced: as deployed (against direct pair)")
    print("  late: unpaced, answers sent when the socket opens (ARENA_EARLY_ANSWER_WAIT_S=0), as before")
    print("  uvicorn: unpaced, served by uvicorn instead of daphne")
    print("  django: unpaced, Django's own ASGIHandler instead of the one-hop handler (ARENA_ASGI_ONE_HOP=0)")
    if "unpooled" in arenas:
        print("  unpooled: unpaced, a PostgreSQL connection opened per request and per socket hop (no pool)")
    header = (
        f"{'battles':>7} {'streams':>7} {'path':<13} {'n':>5} {'no tok':>6} {'median':>9} {'p90':>9} "
        f"{'+ms med':>8} {'x med':>7} {'x p90':>7}"
    )
    print(header)
    print("-" * len(header))
    for c in levels:
        for key, label, ref in ROWS:
            if key not in ("direct", "pair") and key.split()[0] not in arenas:
                continue
            med, p90, n, miss = summary(results[c][key])
            if ref is None:
                extra = f"{'':>8} {'':>7} {'':>7}"
            else:
                r_med, r_p90, _n, _miss = summary(results[c][ref])
                extra = f"{med - r_med:+8.1f} {med / r_med:7.2f} {p90 / r_p90:7.2f}"
            print(f"{c:>7} {2 * c:>7} {label:<13} {n:>5} {miss:>6} {med:9.1f} {p90:9.1f} {extra}")
        for arena in arenas:
            post_rtt = summary(results[c][f"{arena} post_rtt"])[0]
            handshake = summary(results[c][f"{arena} handshake"])[0]
            print(
                f"{'':>7} {'':>7} {arena}: median POST /api/battles round trip {post_rtt:.1f} ms, "
                f"WebSocket handshake {handshake:.1f} ms"
            )
    print("(+ms med: arena median - reference median; x med, x p90: arena / reference; 'no tok': streams with no")
    print(" content (failed or ended empty))")


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
    parser.add_argument(
        "--split-cores",
        action="store_true",
        help="workers (and their engines) on the last core, daphne and this client on the others: the web "
        "no longer competes with the engines for CPU, as when workers run on GPU nodes",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgres://user@host:port/db): the arenas run on a throwaway database "
        "created there, and a sixth arena runs without the connection pool; default: a throwaway SQLite file",
    )
    args = parser.parse_args()
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x.strip()]

    # SIGTERM goes through the same clean-up as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    handles = []
    daphnes: list[subprocess.Popen] = []
    tmp = tempfile.TemporaryDirectory(prefix="arena-bench-")
    stack = contextlib.ExitStack()
    try:
        print("building tiny models if absent, starting two workers...", flush=True)
        cores = sorted(os.sched_getaffinity(0))
        if args.split_cores:  # children inherit the affinity they are started with
            if len(cores) < 2:
                raise SystemExit("--split-cores needs two cores at least")
            os.sched_setaffinity(0, {cores[-1]})
        for slug, (dirname, seed) in WORKERS.items():
            model = ensure_tiny_model(MODELS_DIR / dirname, seed=seed, layers=1)
            handles.append(start_worker(model, name=slug, log_dir=LOG_DIR))
        for handle in handles:
            handle.wait_ready()
        workers = {h.name: h.url for h in handles}
        if args.split_cores:
            os.sched_setaffinity(0, set(cores[:-1]))
            print(f"cores: workers on {cores[-1]}, daphne and client on {cores[:-1]}", flush=True)

        catalogue = Path(tmp.name) / "catalogue.yaml"
        catalogue.write_text(catalogue_yaml(workers), encoding="utf-8")
        arenas = dict(ARENAS)
        if args.database_url:
            database_url = stack.enter_context(throwaway_postgres(args.database_url))
            arenas |= UNPOOLED
            args.database = "PostgreSQL"
        else:
            database_url = f"sqlite:///{Path(tmp.name) / 'db.sqlite3'}"
            args.database = "SQLite"
        env = django_env(database_url, catalogue, args.max_tokens)
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
        subprocess.run(
            manage + ["load_catalogue", str(catalogue)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
        )

        bases = {}
        for arena in arenas:
            port = free_port()
            log = open(LOG_DIR / f"arena-daphne-{arena}.log", "wb")
            daphnes.append(
                subprocess.Popen(
                    [sys.executable, "-m", *SERVERS.get(arena, daphne_command)("127.0.0.1", port)],
                    cwd=REPO,
                    env={**env, **arenas[arena]},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()
            wait_port(port, daphnes[-1])
            bases[arena] = f"http://127.0.0.1:{port}"
        print(f"workers: {workers}; arenas: {bases}", flush=True)
        asyncio.run(bench(args, workers, bases))
    finally:
        for daphne in daphnes:
            if daphne.poll() is None:
                daphne.terminate()
                try:
                    daphne.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    daphne.kill()
                    daphne.wait(timeout=5)
        for handle in handles:
            handle.stop()
        stack.close()  # the throwaway PostgreSQL database, once no server holds it
        tmp.cleanup()


if __name__ == "__main__":
    main()
