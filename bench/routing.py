"""Benchmark: routing across replicas in the arena versus nginx `least_conn` in front of them.

Run by hand, not in the test suite (needs nginx: `apt-get install nginx-light`):

    .venv/bin/python bench/routing.py [--battles 24] [--max-tokens 48] [--rounds 2]

Setup (a temp directory and var/ only): three replicas of one CPU model (the untrained
"chatty" tiny model, whose answers run to max_tokens, so that replicas stay busy) and a
fourth worker for the other side of each battle; nginx with an upstream of the three
(`least_conn`, SSE unbuffered, `proxy_next_upstream error timeout http_503 non_idempotent`
so that it, too, passes a refused request to another replica); a throwaway SQLite arena.
The catalogue entry `rep` reads its URL from BENCH_WORKER_URL_REP, so each phase starts a
daphne in which `rep` is either the three replica URLs (routing in the arena: least busy
replica from the database, another one before the first token if one refuses) or the one
nginx URL (routing by nginx).

Phases, each run for both paths, alternating (arena, nginx, nginx, arena, ...), every
battle `rep` against the fourth worker, all battles of a phase started at once:
  steady : time to first token of `rep`'s side (WebSocket open -> first delta, pacing off),
           answer time, failed answers, and how the answers spread over the replicas (each
           replica is asked for each try's request id, `GET /v1/requests/<id>`);
  stop   : each battle stopped once `rep` has streamed 3 deltas: how many stopped answers
           got their energy (the arena asks the URL it sent the try to for the record);
  kill   : one replica killed once answers are streaming, then a second wave of battles:
           error frames on `rep`'s side, split into answers cut mid-stream (lost on either
           path) and answers that had not started (a router may re-send those).
The replica killed is started again on its port before the next phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena_overhead import LOG_DIR, PROMPTS, catalogue_yaml, django_env, make_visitors, pct
from workshop import start_daphne

from devtools.launcher import MODELS_DIR, ensure_chatty_model, ensure_tiny_model, start_worker
from inference_workers.engines import free_port

PATHS = ("arena", "nginx")
PHASES = ("steady", "stop", "kill")


# -- setup ----------------------------------------------------------------------------------
def nginx_conf(tmp: Path, port: int, replicas: list[str]) -> str:
    servers = "\n".join(f"    server {url.removeprefix('http://')} max_fails=1 fail_timeout=5s;" for url in replicas)
    return f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  upstream replicas {{
    least_conn;
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
      proxy_next_upstream error timeout http_503 non_idempotent;
    }}
  }}
}}
"""


def start_nginx(tmp: Path, replicas: list[str]) -> tuple[str, subprocess.Popen]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_conf(tmp, port, replicas))
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"], start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return f"http://127.0.0.1:{port}", proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"nginx did not start (see {tmp}/nginx-error.log)")


# -- one battle ---------------------------------------------------------------------------------
async def battle(base: str, visitor: dict, prompt: str, *, stop_after: int | None, timeline: list) -> dict:
    client: httpx.AsyncClient = visitor["client"]
    resp = await client.post(
        base + "/api/battles", json={"prompt": prompt, "mode": "random"}, headers={"X-CSRFToken": visitor["csrf"]}
    )
    if resp.status_code != 201:
        return {"refused": resp.status_code}
    battle_id = resp.json()["id"]
    record = {"battle": battle_id, "deltas": {"a": 0, "b": 0}, "first": {}, "end": {}, "errors": {}}
    async with ws_connect(
        base.replace("http://", "ws://") + resp.json()["ws"],
        origin=base,
        open_timeout=120,
        additional_headers={"Cookie": f"arena_visitor={visitor['id']}"},
    ) as ws:
        t_open = time.perf_counter()
        ended: set[str] = set()
        stopped = False
        timeline.append(record)
        async for raw in _frames(ws, BATTLE_TIMEOUT_S, record):
            frame = json.loads(raw)
            kind, side = frame.get("type"), frame.get("side")
            now = time.perf_counter() - t_open
            if kind == "delta":
                record["deltas"][side] += 1
                record["first"].setdefault(side, now)
            elif kind in ("done", "stopped"):
                record["end"][side] = now
                ended.add(side)
            elif kind == "error":
                record["errors"][side] = frame.get("code")
                ended.add(side)
            if stop_after and not stopped and max(record["deltas"].values()) >= stop_after:
                stopped = True
                await ws.send(json.dumps({"type": "stop"}))
            if ended >= {"a", "b"}:
                break
    return record


BATTLE_TIMEOUT_S = 180


async def _frames(ws, timeout_s: float, record: dict):
    """The socket's frames; a battle that goes silent for `timeout_s` ends (counted as unfinished)."""
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout_s)
        except TimeoutError:
            print(f"  battle {record['battle']} went silent, frames so far {record}: ended", flush=True)
            return
        yield raw


# -- the database's view: which side is `rep`, which try went where --------------------------------
def rep_tries(db: Path, battle_ids: list[str]) -> list[dict]:
    """Every try of `rep`'s answers in these battles: side, backend, request id, energy, status."""
    con = sqlite3.connect(db)
    marks = ",".join("?" * len(battle_ids))
    rows = con.execute(
        f"""
        SELECT b.id, m.side, m.status, a.backend, a.request_id, a.energy_j, a.outcome
        FROM arena_attempt a JOIN arena_message m ON a.message_id = m.id
        JOIN arena_turn t ON m.turn_id = t.id JOIN arena_battle b ON t.battle_id = b.id
        JOIN arena_llm l ON l.id = CASE m.side WHEN 'a' THEN b.model_a_id ELSE b.model_b_id END
        WHERE l.slug = 'rep' AND b.id IN ({marks})
        """,
        [i.replace("-", "") for i in battle_ids],
    ).fetchall()
    con.close()
    keys = ("battle", "side", "status", "backend", "request_id", "energy_j", "outcome")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def served_by(replicas: list[str], request_ids: list[str]) -> dict[str, str]:
    """request id -> the replica that holds its record (asked of each replica in turn)."""
    found = {}
    with httpx.Client(timeout=5) as client:
        for rid in request_ids:
            for url in replicas:
                try:
                    if client.get(f"{url}/v1/requests/{rid}").status_code == 200:
                        found[rid] = url
                        break
                except httpx.HTTPError:
                    continue
    return found


# -- a phase ---------------------------------------------------------------------------------------
async def run_phase(phase: str, base: str, visitors: list[dict], args, replicas: list) -> list[dict]:
    timeline: list[dict] = []
    stop_after = 3 if phase == "stop" else None
    n = args.battles
    jobs = [
        battle(base, visitors[i], PROMPTS[i % len(PROMPTS)], stop_after=stop_after, timeline=timeline) for i in range(n)
    ]
    if phase != "kill":
        return [r for r in await asyncio.gather(*jobs, return_exceptions=True) if isinstance(r, dict)]
    first = [asyncio.create_task(job) for job in jobs]
    for _ in range(600):  # until answers are streaming
        if sum(1 for r in timeline if r["first"]) >= n // 3:
            break
        await asyncio.sleep(0.05)
    os.killpg(replicas[0].proc.pid, signal.SIGKILL)
    second = [
        asyncio.create_task(battle(base, visitors[n + i], PROMPTS[i % len(PROMPTS)], stop_after=None, timeline=[]))
        for i in range(n)
    ]
    got = await asyncio.gather(*first, *second, return_exceptions=True)
    return [r for r in got if isinstance(r, dict)]


def summarise(phase: str, records: list[dict], tries: list[dict], replicas: list[str]) -> dict:
    rep_side = {t["battle"]: t["side"] for t in tries}
    ttft, other_ttft, total, errors, cut, unstarted = [], [], [], 0, 0, 0
    for r in records:
        side = rep_side.get(r.get("battle", "").replace("-", ""))
        if side is None:
            continue
        if side in r["first"]:
            ttft.append(r["first"][side] * 1000)
        other = "b" if side == "a" else "a"
        if other in r["first"]:
            other_ttft.append(r["first"][other] * 1000)
        if side in r["end"] and side not in r["errors"]:
            total.append(r["end"][side])
        if side in r["errors"]:
            errors += 1
            if side in r["first"]:
                cut += 1
            else:
                unstarted += 1
    by_replica = served_by(replicas, [t["request_id"] for t in tries])
    spread = [sum(1 for url in by_replica.values() if url == rep) for rep in replicas]
    stopped = [t for t in tries if t["status"] == "stopped"]
    return {
        "battles": len(records),
        "ttft_p50": statistics.median(ttft) if ttft else float("nan"),
        "ttft_p95": pct([x / 1000 for x in ttft], 0.95) * 1000 if ttft else float("nan"),
        "answer_p50": statistics.median(total) if total else float("nan"),
        "other_ttft_p50": statistics.median(other_ttft) if other_ttft else float("nan"),
        "errors": errors,
        "cut": cut,
        "unstarted": unstarted,
        "spread": spread,
        "stopped": len(stopped),
        "stopped_with_energy": sum(1 for t in stopped if t["energy_j"] is not None),
    }


def report(results: dict) -> None:
    print()
    print("Routing over 3 CPU replicas of one model: in the arena (least busy, re-route before the first token)")
    print("vs nginx least_conn in front of them (proxy_next_upstream error timeout http_503 non_idempotent)")
    header = (
        f"{'phase':<7} {'path':<6} {'battles':>7} {'TTFT p50':>9} {'TTFT p95':>9} {'other p50':>9} {'answer p50':>10} "
        f"{'errors':>6} {'cut':>4} {'unstarted':>9} {'spread':>14} {'stopped: energy found':>22}"
    )
    print(header)
    print("-" * len(header))
    for phase in PHASES:
        for path in PATHS:
            runs = results.get((phase, path), [])
            if not runs:
                continue
            agg = {
                "battles": sum(r["battles"] for r in runs),
                "ttft_p50": statistics.median(r["ttft_p50"] for r in runs),
                "ttft_p95": statistics.median(r["ttft_p95"] for r in runs),
                "answer_p50": statistics.median(r["answer_p50"] for r in runs),
                "other": statistics.median(r["other_ttft_p50"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "cut": sum(r["cut"] for r in runs),
                "unstarted": sum(r["unstarted"] for r in runs),
                "spread": [sum(r["spread"][i] for r in runs) for i in range(3)],
                "stopped": sum(r["stopped"] for r in runs),
                "found": sum(r["stopped_with_energy"] for r in runs),
            }
            stop = f"{agg['found']}/{agg['stopped']}" if agg["stopped"] else "-"
            print(
                f"{phase:<7} {path:<6} {agg['battles']:>7} {agg['ttft_p50']:>7.1f}ms {agg['ttft_p95']:>7.1f}ms "
                f"{agg['other']:>7.1f}ms "
                f"{agg['answer_p50']:>9.2f}s {agg['errors']:>6} {agg['cut']:>4} {agg['unstarted']:>9} "
                f"{'/'.join(map(str, agg['spread'])):>14} {stop:>22}"
            )
    print("(TTFT: WebSocket open -> first delta of rep's side, pacing off; other: the same for the other side, the")
    print(" fourth worker, routed alike on both paths: a control for the machine's load; medians over the runs;")
    print(" spread: tries per replica, found by asking each replica for each request id; cut: errors after a")
    print(" first delta; unstarted: errors before it)")


# -- main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=24, help="battles started at once per phase")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each phase and path")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated, among " + ", ".join(PHASES))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    replicas, handles, nginx = [], [], None
    tmp = Path(tempfile.mkdtemp(prefix="arena-routing-bench-"))
    try:
        print("building models if absent, starting 3 replicas and a fourth worker...", flush=True)
        chatty = ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)
        replicas = [start_worker(chatty, name="rep", log_dir=LOG_DIR) for _ in range(3)]
        other = start_worker(ensure_tiny_model(MODELS_DIR / "test-tiny-b", seed=13, layers=1), name="tiny-b")
        handles = [*replicas, other]
        for handle in handles:
            handle.wait_ready()
        urls = [h.url for h in replicas]
        nginx_url, nginx = start_nginx(tmp, urls)
        catalogue = tmp / "catalogue.yaml"
        catalogue.write_text(catalogue_yaml({"rep": urls[0], "tiny-b": other.url}), encoding="utf-8")
        db = tmp / "db.sqlite3"
        env = django_env(f"sqlite:///{db}", catalogue, args.max_tokens)
        env |= {"ARENA_PACE_STREAMS": "False", "ARENA_MAX_CONCURRENT_BATTLES": "100000"}
        manage = [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py")]
        subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], env=env, check=True)
        subprocess.run(manage + ["load_catalogue", str(catalogue)], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"replicas {urls}; nginx {nginx_url}", flush=True)

        results: dict = {}
        for rnd in range(args.rounds):
            for phase in [p for p in PHASES if p in args.phases.split(",")]:
                order = PATHS if (rnd + PHASES.index(phase)) % 2 == 0 else PATHS[::-1]
                for path in order:
                    rep_url = ",".join(urls) if path == "arena" else nginx_url
                    base, daphne = start_daphne(
                        {**env, "BENCH_WORKER_URL_REP": rep_url}, f"routing-{rnd + 1}-{phase}-{path}"
                    )
                    try:
                        records = asyncio.run(phase_with_visitors(phase, base, args, replicas))
                    finally:
                        daphne.terminate()
                        daphne.wait(timeout=15)
                    ids = [r["battle"] for r in records if "battle" in r]
                    tries = rep_tries(db, ids)
                    summary = summarise(phase, records, tries, urls)
                    results.setdefault((phase, path), []).append(summary)
                    print(f"round {rnd + 1} {phase:<6} {path:<5} {summary}", flush=True)
                    if phase == "kill":  # the killed replica comes back on its port
                        replicas[0].stop(grace_s=1)
                        replicas[0] = start_worker(chatty, name="rep", port=replicas[0].port, log_dir=LOG_DIR)
                        replicas[0].wait_ready()
                        time.sleep(6)  # nginx's fail_timeout: it tries the replica again
        report(results)
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.terminate()
            nginx.wait(timeout=10)
        for handle in [*replicas, *handles[len(replicas) :]]:  # the restarted replica, not the killed one
            handle.stop()


async def phase_with_visitors(phase: str, base: str, args, replicas: list) -> list[dict]:
    visitors = await make_visitors(base, 2 * args.battles)
    try:
        return await run_phase(phase, base, visitors, args, replicas)
    finally:
        for v in visitors:
            await v["client"].aclose()


if __name__ == "__main__":
    main()
