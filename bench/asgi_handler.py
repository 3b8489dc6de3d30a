"""Benchmark: what one HTTP request costs the arena's server with the one-hop handler
(config/handlers.py: middleware and view in one thread hop) against Django's own
ASGIHandler with the same middleware.

Run by hand, not in the test suite:

    .venv/bin/python bench/asgi_handler.py [--blocks 20] [--per-block 20]

Two daphne processes (`config.serve.daphne_command`) on one throwaway SQLite database,
the in-memory channel layer and cache, no worker: one with ARENA_ASGI_ONE_HOP on (as
deployed), one with it off. One client, one request at a time, in alternating blocks so that
drift hits both alike; per block and per server, --per-block rounds of three requests:
  page    : GET / (the home page, rendered from templates);
  api GET : GET /api/models (one query, JSON);
  api POST: POST /api/consent (CSRF checked, one read and one write).
Printed: median and p90 per request and server, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config.serve import daphne_command  # noqa: E402

SERVERS = {"one-hop": "True", "django": "False"}
KINDS = ("page", "api GET", "api POST")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{base}: the server exited ({proc.returncode})")
        try:
            if httpx.get(base + "/livez", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base}: not ready after {timeout_s} s")


def one_round(client: httpx.Client, origin: str, samples: dict[str, list[float]]) -> None:
    for kind, send in (
        ("page", lambda: client.get("/")),
        ("api GET", lambda: client.get("/api/models")),
        (
            "api POST",
            lambda: client.post(
                "/api/consent",
                json={"accept_terms": True},
                headers={"X-CSRFToken": client.cookies.get("csrftoken", ""), "Origin": origin},
            ),
        ),
    ):
        t0 = time.perf_counter()
        resp = send()
        samples[kind].append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{kind}: HTTP {resp.status_code} {resp.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--per-block", type=int, default=20)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="asgi-handler-")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"DATABASE_URL": f"sqlite:///{Path(tmp.name) / 'db.sqlite3'}", "DEBUG": "False"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    procs, clients = [], {}
    try:
        for name, one_hop in SERVERS.items():
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", *daphne_command("127.0.0.1", port)],
                    cwd=REPO,
                    env={**env, "ARENA_ASGI_ONE_HOP": one_hop},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, procs[-1])
            clients[name] = (httpx.Client(base_url=base), base)
        samples = {name: {kind: [] for kind in KINDS} for name in SERVERS}
        for client, base in clients.values():  # warm-up, and the cookies a page gives
            one_round(client, base, {kind: [] for kind in KINDS})
        for _ in range(args.blocks):
            for name, (client, base) in clients.items():
                for _ in range(args.per_block):
                    one_round(client, base, samples[name])
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        tmp.cleanup()

    n = args.blocks * args.per_block
    print(f"one request at a time, {n} per kind and server, daphne + SQLite, alternating blocks of {args.per_block}")
    print(f"{'request':<9} {'server':<8} {'median ms':>10} {'p90 ms':>8} {'x med':>6}")
    for kind in KINDS:
        reference = statistics.median(samples["django"][kind])
        for name in SERVERS:
            values = sorted(samples[name][kind])
            median, p90 = statistics.median(values), values[int(0.9 * (len(values) - 1))]
            print(f"{kind:<9} {name:<8} {median:>10.2f} {p90:>8.2f} {median / reference:>6.2f}")
    print("(x med: the server's median / Django's handler's median)")


if __name__ == "__main__":
    main()
