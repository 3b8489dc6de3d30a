"""Side channels before the vote: can an attacker tell which model is which?

Run by hand, not in the test suite:

    .venv/bin/python bench/side_channels.py [--battles 40] [--max-tokens 48]

Setup: the five local demo models of fixtures/catalogue/demo.yaml (its remote API left out) (built into var/models/ if
absent, as `make run` does), one CPU worker each, a throwaway SQLite database, and two
daphne processes on it: one with ARENA_PACE_STREAMS off, one with it on (the default).
Everything else is the embedded default.

The attacker plays `--battles` random-mode battles against each server over the public
contract, as a visitor would, and votes on each (so it learns the truth from the reveal).
The first half of the battles is its training set (what the reveal said, beside what it
saw before the vote), the second half is scored. Channels, each measured before the vote:
  * timing: characters per second of each side's stream (first to last delta) and the
    time each side's `done` came; guess: the slower side is the bigger model; the exact
    model is the one whose training speed is nearest (log scale);
  * totals: the home page's "your battles today" read after each `done`; the increase
    per side, per output token, matched against the training Wh per token;
  * leaderboard: answers per model in /api/leaderboard?since=<today> (a fresh filter),
    read before the battle and after both `done`s; a model whose count moved is in the
    battle.
A channel that shows nothing is guessed at random (seeded), which is chance. It prints how
often each channel names the bigger model and the exact model of a side, with pacing off
and on, side by side, and what chance would give.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from arena_overhead import LOG_DIR, django_env, wait_port

from config.serve import daphne_command
from devtools.launcher import MODELS_DIR, ensure_tiny_model, start_worker
from inference_workers.engines import REPO, free_port

CATALOGUE = REPO / "fixtures" / "catalogue" / "demo.yaml"
PROMPTS = [
    "Comment économiser l'énergie à la maison ?",
    "Explique la photosynthèse simplement.",
    "Quels sont les avantages du vélo en ville ?",
    "Donne trois idées de recettes végétariennes.",
    "Pourquoi le ciel est-il bleu ?",
    "Comment marche une pompe à chaleur ?",
]
UNITS_WH = {"mWh": 1e-3, "Wh": 1.0, "kWh": 1e3}
MINE = re.compile(r"Vos duels votés aujourd'hui : ([\d\u00a0\u202f ,]+)\u00a0(mWh|Wh|kWh)")


def read_wh(html: str) -> float:
    match = MINE.search(html)
    if not match:
        return 0.0
    number = float(re.sub(r"[\u00a0\u202f ]", "", match.group(1)).replace(",", "."))
    return number * UNITS_WH[match.group(2)]


class Visitor:
    """One browser: its cookies, its CSRF token, its battles."""

    def __init__(self, base: str):
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(120, connect=30))

    async def start(self):
        await self.http.get("/")
        await self.post("/api/consent", {"accept_terms": True, "publish": False})

    async def post(self, path, body):
        return await self.http.post(
            path, json=body, headers={"X-CSRFToken": self.http.cookies.get("csrftoken", ""), "Referer": self.base + "/"}
        )

    async def home_wh(self) -> float:
        return read_wh((await self.http.get("/")).text)

    async def answers_per_model(self) -> dict[str, int]:
        today = dt.date.today().isoformat()
        rows = (await self.http.get(f"/api/leaderboard?since={today}&min_votes=0")).json().get("rows", [])
        return {r["slug"]: r["answers"] for r in rows}


async def play(visitor: Visitor, prompt: str) -> dict:
    """One battle as the attacker sees it before the vote, then the truth from the reveal."""
    board_before = await visitor.answers_per_model()
    total_before = await visitor.home_wh()
    created = (await visitor.post("/api/battles", {"prompt": prompt, "mode": "random"})).json()
    seen = {side: {"times": [], "chars": 0, "done_t": None, "tokens": None, "wh_after": None} for side in "ab"}
    origin = visitor.base
    cookie = "; ".join(f"{k}={v}" for k, v in visitor.http.cookies.items())
    t0 = time.monotonic()
    async with ws_connect(
        "ws" + visitor.base[4:] + created["ws"], origin=origin, additional_headers={"Cookie": cookie}
    ) as ws:
        while any(s["done_t"] is None for s in seen.values()):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            side = frame.get("side")
            if frame["type"] == "delta":
                seen[side]["times"].append(time.monotonic() - t0)
                seen[side]["chars"] += len(frame["text"])
            elif frame["type"] == "done":
                seen[side]["done_t"] = time.monotonic() - t0
                seen[side]["tokens"] = frame["completion_tokens"]
                seen[side]["wh_after"] = await visitor.home_wh()  # the attacker reads the total at once
            elif frame["type"] == "error":
                raise RuntimeError(f"battle failed: {frame}")
    board_after = await visitor.answers_per_model()
    reveal = (await visitor.post(f"/api/battles/{created['id']}/vote", {"choice": "tie"})).json()["reveal"]
    # Wh seen per side: what the total gained when that side's done came.
    order = sorted("ab", key=lambda s: seen[s]["done_t"])
    gained = {
        order[0]: seen[order[0]]["wh_after"] - total_before,
        order[1]: seen[order[1]]["wh_after"] - seen[order[0]]["wh_after"],
    }
    return {
        "truth": {s: reveal[s]["model"]["slug"] for s in "ab"},
        "params": {s: reveal[s]["model"]["params_b"] for s in "ab"},
        "speed": {
            s: seen[s]["chars"] / max(seen[s]["times"][-1] - seen[s]["times"][0], 1e-3)
            if len(seen[s]["times"]) > 1
            else math.inf
            for s in "ab"
        },
        "wh_per_token": {s: gained[s] / max(seen[s]["tokens"] or 1, 1) for s in "ab"},
        "moved": {
            slug
            for slug in set(board_before) | set(board_after)
            if board_after.get(slug, 0) != board_before.get(slug, 0)
        },
    }


def score(battles: list[dict], rng: random.Random) -> dict:
    """Hit rates of each channel on the second half, trained on the first."""
    half = len(battles) // 2
    train, test = battles[:half], battles[half:]
    models = sorted({m for b in battles for m in b["truth"].values()})

    def profile(feature):
        values: dict[str, list[float]] = {}
        for b in train:
            for s in "ab":
                v = b[feature][s]
                if v > 0 and math.isfinite(v):
                    values.setdefault(b["truth"][s], []).append(math.log(v))
        return {m: sum(v) / len(v) for m, v in values.items()}

    def nearest(prof, value):
        if not prof or not (value > 0 and math.isfinite(value)):
            return rng.choice(models)
        return min(prof, key=lambda m: abs(prof[m] - math.log(value)))

    def bigger_guess(b, feature, bigger_is_larger):
        x, y = b[feature]["a"], b[feature]["b"]
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x - y) <= 0.01 * max(abs(x), abs(y), 1e-12):
            return rng.choice("ab")  # the channel says nothing here
        return ("a" if x > y else "b") if bigger_is_larger else ("a" if x < y else "b")

    out = {}
    unequal = [b for b in test if b["params"]["a"] != b["params"]["b"]]
    for channel, feature, bigger_is_larger in (("timing", "speed", False), ("totals", "wh_per_token", True)):
        prof = profile(feature)
        bigger = sum(
            bigger_guess(b, feature, bigger_is_larger) == max("ab", key=lambda s: b["params"][s]) for b in unequal
        )
        exact = sum(nearest(prof, b[feature][s]) == b["truth"][s] for b in test for s in "ab")
        out[channel] = (bigger, len(unequal), exact, 2 * len(test))
    named = sum(b["moved"] == set(b["truth"].values()) for b in test)
    out["leaderboard"] = (named, len(test))
    out["speed"] = {m: math.exp(v) for m, v in profile("speed").items()}
    out["chance_exact"] = 1 / len(models)
    return out


async def attack(base: str, battles: int, seed: int) -> list[dict]:
    visitor = Visitor(base)
    await visitor.start()
    rng = random.Random(seed)
    played = []
    for i in range(battles):
        played.append(await play(visitor, rng.choice(PROMPTS)))
        print(f"  {base}: battle {i + 1}/{battles}", end="\r", flush=True)
    print()
    await visitor.http.aclose()
    return played


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=40, help="battles per server (half training, half scored)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pace", type=float, help="ARENA_PACE_CHARS_PER_S for the paced server (default: the setting's)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # The demo's local models only: its remote API entry (Martinet) is Pivert's worker under
    # another name, at a fixed address this bench does not serve.
    entries = [e for e in yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")) if "worker" in e]
    handles, servers = [], []
    tmp = tempfile.TemporaryDirectory(prefix="arena-side-channels-")
    catalogue = Path(tmp.name) / "catalogue.yaml"
    catalogue.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    try:
        print("building the demo models if absent, starting their workers...", flush=True)
        for entry in entries:
            recipe = entry["recipe"]
            model = ensure_tiny_model(
                MODELS_DIR / entry["slug"],
                seed=recipe["seed"],
                layers=recipe["layers"],
                hidden_size=recipe["hidden_size"],
            )
            handles.append((entry["worker"]["env"], start_worker(model, name=entry["slug"], log_dir=LOG_DIR)))
        for _env, handle in handles:
            handle.wait_ready()
        env = django_env(f"sqlite:///{Path(tmp.name) / 'db.sqlite3'}", catalogue, args.max_tokens)
        env.update({name: handle.url for name, handle in handles})
        env.update({"LEADERBOARD_COMPUTES_PER_MINUTE_IP": "100000"})  # an attacker has many addresses
        if args.pace:
            env["ARENA_PACE_CHARS_PER_S"] = str(args.pace)
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
        subprocess.run(manage + ["load_catalogue"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        bases = {}
        for paced in ("False", "True"):
            port = free_port()
            log = open(LOG_DIR / f"side-channels-daphne-{paced}.log", "wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", *daphne_command("127.0.0.1", port)],
                cwd=REPO,
                env={**env, "ARENA_PACE_STREAMS": paced},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            servers.append(proc)
            wait_port(port, proc)
            bases[paced] = f"http://127.0.0.1:{port}"
        results = {}
        for paced, base in bases.items():
            print(f"pacing {'on' if paced == 'True' else 'off'}: {args.battles} battles", flush=True)
            results[paced] = score(asyncio.run(attack(base, args.battles, args.seed)), random.Random(args.seed))
        report(results, args)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=10)
        for _env, handle in handles:
            handle.stop()
        tmp.cleanup()


def report(results: dict, args) -> None:
    off, on = results["False"], results["True"]
    print(f"\nScored on the second half of {args.battles} battles per server (max_tokens {args.max_tokens}).")
    print(f"{'channel':<12} {'names':<14} {'pacing off':>14} {'pacing on':>14} {'chance':>8}")
    for channel in ("timing", "totals"):
        for label, (hit, n) in (("bigger model", (0, 1)), ("exact model", (2, 3))):
            a, b = off[channel], on[channel]
            print(
                f"{channel:<12} {label:<14} {a[hit]:>6}/{a[n]:<3} {a[hit] / max(a[n], 1):4.0%} "
                f"{b[hit]:>6}/{b[n]:<3} {b[hit] / max(b[n], 1):4.0%} "
                f"{(0.5 if label == 'bigger model' else off['chance_exact']):>8.0%}"
            )
    print(
        "characters per second seen per model (training half): "
        + ", ".join(
            f"{m} {off['speed'].get(m, 0):.0f} off / {on['speed'].get(m, 0):.0f} on" for m in sorted(off["speed"])
        )
    )
    a, b = off["leaderboard"], on["leaderboard"]
    print(
        f"{'leaderboard':<12} {'both models':<14} {a[0]:>6}/{a[1]:<3} {a[0] / max(a[1], 1):4.0%} "
        f"{b[0]:>6}/{b[1]:<3} {b[0] / max(b[1], 1):4.0%} {'~0%':>8}"
    )


if __name__ == "__main__":
    main()
