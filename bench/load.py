"""Load and faults: N simulated voters, each a whole battle and a vote, against two web
processes on PostgreSQL + Redis with CPU workers. Run by hand, not in the test suite:

    .venv/bin/python bench/load.py [--voters 200] [--arrival-s 60] [--phases steady,redis-restart,web-kill]

It restarts this machine's Redis server in the `redis-restart` phase (the same command as
.ci/run): do not run it while something else relies on that Redis.

Setup: two real CPU workers (`transformers serve`, the tiny test models), a scratch
PostgreSQL database (created, migrated, dropped at the end), Redis database 5, two daphne
processes. Each voter picks one process at random (as a load balancer would), then: GET /
(cookies), POST /api/consent, POST /api/battles, the battle's WebSocket until both answers
are done, POST /api/battles/<id>/vote. Phases, one after the other in the same run, printed
side by side:
  * steady:        nothing breaks;
  * redis-restart: Redis is restarted when half the voters have arrived;
  * web-kill:      web process 1 is killed (SIGKILL) when half the voters have arrived.
What a voter does when something fails is what a client of the public contract can do: a
refused request (5xx, connection refused) is sent again to the other process; a socket that
closes before both answers is reopened on the other process (which reports each answer's
state), and an answer reported failed (an `error` frame; one the dead process was streaming
fails as `interrupted` once its 15 s lease ends) is retried with `{"type": "retry"}`. Each
voter gives up after 3 minutes.

Printed per phase: voters, votes acknowledged, votes stored (counted in the database:
acknowledged = stored, or the difference is printed as lost), HTTP 5xx seen, errors the
clients acted on (by kind), voters who gave up, p50/p95 of POST /api/battles, of the first
token (from the POST) and of the vote request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arena_overhead import LOG_DIR, WORKERS, catalogue_yaml, django_env
from workshop import PG_ADMIN, REDIS_BENCH, bench_env, pct, prepare_db, start_daphne

from devtools.launcher import MODELS_DIR, ensure_tiny_model, start_worker

PG_DB = "arena_bench_load"
PROMPTS = ["Pourquoi le ciel est-il bleu ?", "Une idée de dîner ?", "Comment marche le vent ?", "Why do cats purr?"]
GIVE_UP_S = 180


class Voter:
    def __init__(self, webs: list[str], rng: random.Random, stats: Counter):
        self.webs, self.rng, self.stats = webs, rng, stats
        self.web = rng.choice(webs)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))

    def other(self) -> str:
        return next(w for w in self.webs if w != self.web)

    async def request(self, method: str, path: str, body: dict | None = None, expected: int = 200) -> dict:
        """One request; on a 5xx or a dead process, the same request to the other process."""
        for attempt in range(6):
            try:
                headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}
                resp = await self.client.request(method, self.web + path, json=body, headers=headers)
            except httpx.TransportError:
                self.stats["acted: connection failed, switched process"] += 1
                self.web = self.other()
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if resp.status_code >= 500:
                self.stats["http 5xx"] += 1
                self.web = self.other()
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if resp.status_code != expected:
                self.stats[f"refused {resp.status_code}"] += 1
                raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
            return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        raise RuntimeError(f"{method} {path}: no process answered")

    async def answers(self, battle: dict, t_post: float) -> float | None:
        """Both answers done (reconnecting and retrying as needed); the first token's delay."""
        first = None
        done: set[str] = set()
        while done != {"a", "b"}:
            url = self.web.replace("http://", "ws://") + battle["ws"]
            try:
                async with ws_connect(
                    url,
                    origin=self.web,
                    open_timeout=30,
                    additional_headers={"Cookie": f"arena_visitor={self.client.cookies['arena_visitor']}"},
                ) as ws:
                    async for raw in ws:
                        frame = json.loads(raw)
                        kind, side = frame.get("type"), frame.get("side")
                        if kind == "delta" and first is None:
                            first = time.perf_counter() - t_post
                        elif kind == "done":
                            done.add(side)
                        elif kind == "error" and side in ("a", "b"):
                            self.stats[f"acted: retried a failed answer ({frame.get('code')})"] += 1
                            await asyncio.sleep(0.5)
                            await ws.send(json.dumps({"type": "retry", "side": side}))
                        elif kind == "error" and frame.get("code") == "nothing_to_retry":
                            pass
                        if done == {"a", "b"}:
                            break
            except (OSError, TimeoutError, Exception) as exc:  # a closed or refused socket
                if done == {"a", "b"}:
                    break
                self.stats[f"acted: socket lost ({type(exc).__name__}), reopened"] += 1
                self.web = self.other()
                await asyncio.sleep(1.0)
        return first

    async def play(self, arrival_s: float) -> dict:
        await asyncio.sleep(arrival_s)
        out: dict = {"voted": False}
        try:
            async with asyncio.timeout(GIVE_UP_S):
                await self.request("GET", "/", expected=200)
                await self.request("POST", "/api/consent", {"accept_terms": True})
                t0 = time.perf_counter()
                battle = await self.request("POST", "/api/battles", {"prompt": self.rng.choice(PROMPTS)}, expected=201)
                out["post_ms"] = (time.perf_counter() - t0) * 1000
                out["battle"] = battle["id"]
                first = await self.answers(battle, t0)
                out["first_token_ms"] = first * 1000 if first is not None else None
                t1 = time.perf_counter()
                await self.request("POST", f"/api/battles/{battle['id']}/vote", {"choice": self.rng.choice("ab")})
                out["vote_ms"] = (time.perf_counter() - t1) * 1000
                out["voted"] = True
        except Exception as exc:
            out["gave_up"] = repr(exc)[:200]
        finally:
            await self.client.aclose()
        return out


def restart_redis() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False, capture_output=True)
    time.sleep(1.0)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/bench.log",
        ],
        check=True,
    )


async def run_phase(phase: str, webs: list[str], procs: list[subprocess.Popen], args) -> dict:
    rng = random.Random(args.seed)
    stats: Counter = Counter()
    voters = [Voter(webs, random.Random(args.seed + i), stats) for i in range(args.voters)]
    arrivals = sorted(rng.uniform(0, args.arrival_s) for _ in voters)
    tasks = [asyncio.create_task(v.play(a)) for v, a in zip(voters, arrivals, strict=True)]
    if phase != "steady":
        await asyncio.sleep(arrivals[len(arrivals) // 2])
        if phase == "redis-restart":
            await asyncio.to_thread(restart_redis)
        elif phase == "web-kill":
            os.killpg(procs[0].pid, signal.SIGKILL)
        print(f"[{phase}] fault injected at {arrivals[len(arrivals) // 2]:.0f} s", flush=True)
    results = await asyncio.gather(*tasks)
    return {"results": results, "stats": stats}


def stored_votes(battle_ids: list[str]) -> int:
    import psycopg

    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{PG_DB}") as conn:
        return conn.execute(
            "SELECT count(*) FROM arena_vote WHERE battle_id = ANY(%s::uuid[])", (battle_ids,)
        ).fetchone()[0]


def pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def report(phases: dict[str, dict]) -> None:
    names = list(phases)

    def col(get):
        return "".join(f"{get(phases[n]):>16}" for n in names)

    def fmt(v):
        return "–" if v is None else f"{v:.0f}"

    ok = {n: [r for r in phases[n]["results"] if r["voted"]] for n in names}
    print()
    print(f"{'':<34}" + "".join(f"{n:>16}" for n in names))
    print(f"{'voters':<34}" + col(lambda p: len(p["results"])))
    print(f"{'votes acknowledged':<34}" + col(lambda p: sum(r["voted"] for r in p["results"])))
    print(f"{'votes stored (database)':<34}" + col(lambda p: p["stored"]))
    print(f"{'acknowledged but not stored':<34}" + col(lambda p: sum(r["voted"] for r in p["results"]) - p["stored"]))
    print(f"{'HTTP 5xx seen':<34}" + col(lambda p: p["stats"].get("http 5xx", 0)))
    print(f"{'voters who gave up':<34}" + col(lambda p: sum("gave_up" in r for r in p["results"])))
    for label, key in (
        ("POST /api/battles", "post_ms"),
        ("first token (from POST)", "first_token_ms"),
        ("vote", "vote_ms"),
    ):
        for q in (0.5, 0.95):
            print(
                f"{label + f' p{int(q * 100)} (ms)':<34}"
                + "".join(f"{fmt(pct([r[key] for r in ok[n] if r.get(key) is not None], q)):>16}" for n in names)
            )
    for n in names:
        for what, count in sorted(phases[n]["stats"].items()):
            print(f"[{n}] {what}: {count}")
        for r in [r for r in phases[n]["results"] if "gave_up" in r][:5]:
            print(f"[{n}] gave up: {r['gave_up']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--arrival-s", type=float, default=60.0)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--phases", default="steady,redis-restart,web-kill")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    handles, phases = [], {}
    with tempfile.TemporaryDirectory(prefix="arena-load-bench-") as tmp:
        try:
            print("building tiny models if absent, starting two CPU workers...", flush=True)
            for slug, (dirname, seed) in WORKERS.items():
                handles.append(
                    start_worker(
                        ensure_tiny_model(MODELS_DIR / dirname, seed=seed, layers=1), name=slug, log_dir=LOG_DIR
                    )
                )
            for handle in handles:
                handle.wait_ready()
            catalogue = Path(tmp) / "catalogue.yaml"
            catalogue.write_text(catalogue_yaml({h.name: h.url for h in handles}), encoding="utf-8")
            pg(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            pg(f"CREATE DATABASE {PG_DB}")
            env = bench_env(django_env(f"postgres://postgres@127.0.0.1:5432/{PG_DB}", catalogue, args.max_tokens))
            env["REDIS_URL"] = REDIS_BENCH
            prepare_db(env, catalogue)
            for phase in args.phases.split(","):
                servers = [start_daphne(env, f"load-{phase}-{n}") for n in (1, 2)]
                webs, procs = [u for u, _p in servers], [p for _u, p in servers]
                try:
                    print(f"[{phase}] {args.voters} voters on {webs}", flush=True)
                    outcome = asyncio.run(run_phase(phase, webs, procs, args))
                finally:
                    for proc in procs:
                        if proc.poll() is None:
                            os.killpg(proc.pid, signal.SIGTERM)
                            proc.wait(timeout=15)
                ids = [r["battle"] for r in outcome["results"] if r.get("voted")]
                outcome["stored"] = stored_votes(ids)
                phases[phase] = outcome
            report(phases)
        finally:
            for handle in handles:
                handle.stop()
            pg(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
