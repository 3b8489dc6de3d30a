"""Benchmark of a workshop: N simulated participants join a room, each plays one battle and
votes, while the projector's socket follows the room. Run by hand, not in the test suite:

    .venv/bin/python bench/workshop.py [--participants 60] [--arrival-s 20] [--setups embedded,redis]

Setups, run one after the other in the same run (printed side by side):
  * embedded: one daphne process, SQLite, the in-memory channel layer (what `make run` serves);
  * redis:    two daphne processes on PostgreSQL (a scratch database, dropped at the end) and
              Redis (database 5, flushed first); participants use process 1, the dashboard
              process 2, so every update crosses processes through Redis.
Both use two real CPU workers (`transformers serve`, the tiny test models).

Everything goes through the public HTTP/WebSocket contract (devtools/arena_client.py): the
room is created with POST /api/workshops; each participant arrives at a random time within
--arrival-s, opens /w/<code>/, consents, POST /api/battles with the room's code, reads both
answers on /ws/battles/<id>/ and votes. The dashboard is /ws/workshops/<code>/,
authenticated with its first frame.

Printed per setup: votes acknowledged, votes stored (the room's figures over the API, then
its frozen summary after the close), the dashboard's last count, the wall time from the
first arrival to the last vote, and p50/p95 of POST /api/battles, of the vote request, and
of vote -> dashboard: from the vote's acknowledgement to the first dashboard frame computed
after it (its `computed_at` is later than the acknowledgement, so it counts that vote).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arena_overhead import LOG_DIR, WORKERS, catalogue_yaml, django_env, wait_port

from config.serve import daphne_command
from devtools.arena_client import Dashboard, Visitor, create_room
from devtools.launcher import MODELS_DIR, ensure_tiny_model, start_worker
from inference_workers.engines import REPO, free_port

PROMPTS = [
    "Pourquoi le ciel est-il bleu ?",
    "Donne une idée de repas de saison.",
    "Comment marche une éolienne ?",
    "Explique la photosynthèse à un enfant.",
    "Quel temps fait-il en automne ?",
]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "arena_bench_workshop"
REDIS_BENCH = "redis://127.0.0.1:6379/5"


# -- one participant ---------------------------------------------------------------------------
async def participant(base: str, code: str, arrival_s: float, rng: random.Random) -> dict:
    await asyncio.sleep(arrival_s)
    out = {"arrived": time.time(), "voted": False}
    async with Visitor(base) as person:
        await person.consent(publish=rng.random() < 0.5)
        await person.join(code)
        t0 = time.perf_counter()
        battle = await person.start(rng.choice(PROMPTS), workshop=code)
        out["post_battle_ms"] = (time.perf_counter() - t0) * 1000
        await person.stream(battle)
        tags = {"a": rng.sample(["useful", "clear_formatting", "creative"], 1), "b": []}
        t0 = time.perf_counter()
        await person.vote(battle, rng.choice(["a", "b", "tie"]), tags=tags)
        out["vote_ms"] = (time.perf_counter() - t0) * 1000
        out["acked_at"] = time.time()
        out["voted"] = True
    return out


async def run_room(web_play: str, web_watch: str, n: int, arrival_s: float, seed: int) -> dict:
    rng = random.Random(seed)
    room = await create_room(web_play, "Banc d'essai atelier", max_participants=max(n, 1))
    code = room["code"]
    frames: list[tuple[float, float, int]] = []  # (received wall time, computed_at, votes)
    async with Dashboard(web_watch, code, room["token"]) as dashboard:

        async def watch():
            while True:
                frame = await dashboard.next_stats(timeout_s=3600)
                computed = dt.datetime.fromisoformat(frame["data"]["computed_at"]).timestamp()
                frames.append((time.time(), computed, frame["data"]["votes"]))

        watcher = asyncio.create_task(watch())
        started = time.time()
        results = await asyncio.gather(
            *(participant(web_play, code, rng.uniform(0, arrival_s), random.Random(seed + i)) for i in range(n)),
            return_exceptions=True,
        )
        acked = [r for r in results if isinstance(r, dict) and r["voted"]]
        failures = [r for r in results if isinstance(r, BaseException)]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not frames or frames[-1][2] < len(acked)):
            await asyncio.sleep(0.1)
        watcher.cancel()
    async with httpx.AsyncClient(timeout=60) as client:
        headers = {"Authorization": f"Bearer {room['token']}"}
        stored = (await client.get(f"{web_play}/api/workshops/{code}/stats", headers=headers)).json()["votes"]
        async with Visitor(web_play) as facilitator:
            facilitator.client.headers.update(headers)
            await facilitator.post(f"/api/workshops/{code}/state", {"state": "closed"})
        frozen = (await client.get(f"{web_play}/api/workshops/{code}/summary")).json()["votes"]
    lags = []
    for r in acked:
        after = [received - r["acked_at"] for received, computed, _votes in frames if computed >= r["acked_at"]]
        lags.append(min(after) * 1000 if after else None)
    return {
        "participants": n,
        "acked": len(acked),
        "failures": [repr(f)[:160] for f in failures],
        "stored": stored,
        "frozen": frozen,
        "dashboard_last": frames[-1][2] if frames else None,
        "dashboard_frames": len(frames),
        "unreflected": sum(1 for lag in lags if lag is None),
        "wall_s": max(r["acked_at"] for r in acked) - started if acked else None,
        "post_battle_ms": [r["post_battle_ms"] for r in acked],
        "vote_ms": [r["vote_ms"] for r in acked],
        "vote_to_dashboard_ms": [lag for lag in lags if lag is not None],
    }


# -- setups ------------------------------------------------------------------------------------
def start_daphne(env: dict, name: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    log = open(LOG_DIR / f"workshop-{name}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", *daphne_command("127.0.0.1", port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    wait_port(port, proc)
    return f"http://127.0.0.1:{port}", proc


def prepare_db(env: dict, catalogue: Path) -> None:
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    subprocess.run(
        manage + ["load_catalogue", str(catalogue)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
    )


def pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def bench_env(env: dict) -> dict:
    # A room's battles skip the network's limit (its own rate applies); the visitor's own
    # limits stay as in production.
    return {**env, "ARENA_LOG_LEVEL": "WARNING"}


def run_setup(name: str, args, catalogue: Path, tmp: Path) -> dict:
    procs: list[subprocess.Popen] = []
    try:
        if name == "embedded":
            env = bench_env(django_env(f"sqlite:///{tmp / 'workshop.sqlite3'}", catalogue, args.max_tokens))
            prepare_db(env, catalogue)
            web, proc = start_daphne(env, "embedded")
            procs.append(proc)
            web_play = web_watch = web
        else:
            pg(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            pg(f"CREATE DATABASE {PG_BENCH_DB}")
            import redis

            redis.Redis.from_url(REDIS_BENCH).flushdb()
            env = bench_env(django_env(f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}", catalogue, args.max_tokens))
            env["REDIS_URL"] = REDIS_BENCH
            prepare_db(env, catalogue)
            (web_play, p1), (web_watch, p2) = start_daphne(env, "web1"), start_daphne(env, "web2")
            procs += [p1, p2]
        print(f"[{name}] participants on {web_play}, dashboard on {web_watch}", flush=True)
        return asyncio.run(run_room(web_play, web_watch, args.participants, args.arrival_s, args.seed))
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        if name == "redis":
            pg(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


# -- report -------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(value) -> str:
    return "–" if value is None else f"{value:.0f}" if isinstance(value, float) else str(value)


def report(results: dict[str, dict]) -> None:
    names = list(results)
    rows = [
        ("participants", lambda r: r["participants"]),
        ("votes acknowledged", lambda r: r["acked"]),
        ("votes stored (API)", lambda r: r["stored"]),
        ("votes in frozen summary", lambda r: r["frozen"]),
        ("dashboard's last count", lambda r: r["dashboard_last"]),
        ("votes never on dashboard", lambda r: r["unreflected"]),
        ("dashboard frames", lambda r: r["dashboard_frames"]),
        ("failed participants", lambda r: len(r["failures"])),
        ("wall time (s)", lambda r: r["wall_s"]),
        ("POST /api/battles p50 (ms)", lambda r: pct(r["post_battle_ms"], 0.5)),
        ("POST /api/battles p95 (ms)", lambda r: pct(r["post_battle_ms"], 0.95)),
        ("vote request p50 (ms)", lambda r: pct(r["vote_ms"], 0.5)),
        ("vote request p95 (ms)", lambda r: pct(r["vote_ms"], 0.95)),
        ("vote -> dashboard p50 (ms)", lambda r: pct(r["vote_to_dashboard_ms"], 0.5)),
        ("vote -> dashboard p95 (ms)", lambda r: pct(r["vote_to_dashboard_ms"], 0.95)),
        ("vote -> dashboard max (ms)", lambda r: max(r["vote_to_dashboard_ms"], default=None)),
    ]
    print()
    print(f"{'':<28}" + "".join(f"{n:>14}" for n in names))
    for label, get in rows:
        print(f"{label:<28}" + "".join(f"{fmt(get(results[n])):>14}" for n in names))
    if len(names) == 2:
        a, b = (results[n]["vote_to_dashboard_ms"] for n in names)
        if a and b:
            ratio = statistics.median(b) / statistics.median(a)
            print(f"\nvote -> dashboard median, {names[1]} / {names[0]}: {ratio:.2f}")
    for n in names:
        for failure in results[n]["failures"][:5]:
            print(f"[{n}] failure: {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=60)
    parser.add_argument("--arrival-s", type=float, default=20.0, help="participants arrive within this many seconds")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--setups", default="embedded,redis")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    handles = []
    with tempfile.TemporaryDirectory(prefix="arena-workshop-bench-") as tmp:
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
            results = {}
            for name in args.setups.split(","):
                results[name] = run_setup(name, args, catalogue, Path(tmp))
            report(results)
        finally:
            for handle in handles:
                handle.stop()


if __name__ == "__main__":
    main()
