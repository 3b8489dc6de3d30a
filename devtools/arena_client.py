"""A client of the arena's public HTTP/WebSocket contract (docs/architecture.md), as a
person's own program would drive it: used by the workshop tests and benches, never by the
arena itself.

    async with Visitor(base) as person:
        await person.consent()
        battle = await person.start("Bonjour", workshop="AC3DEF")
        await person.stream(battle)          # until both answers are done
        await person.vote(battle, "a")

    room = await create_room(base, "Café IA")   # {"code", "join_url", "token", ...}
    async with Dashboard(base, room["code"], room["token"]) as dashboard:
        stats = await dashboard.next_stats()
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from websockets.asyncio.client import connect as ws_connect

TIMEOUT = httpx.Timeout(120.0, connect=10.0)


class ArenaRefused(RuntimeError):
    """The arena answered with an error: its status, code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _ws_base(base: str) -> str:
    return base.replace("http://", "ws://").replace("https://", "wss://")


def _check(response: httpx.Response, expected: int) -> dict:
    if response.status_code != expected:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "http_error", "message": response.text[:200]}
        raise ArenaRefused(response.status_code, error["code"], error["message"])
    return response.json()


class Visitor:
    """One browser's worth of state: its cookie jar (visitor id, CSRF token)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.client = httpx.AsyncClient(timeout=TIMEOUT)

    async def __aenter__(self) -> Visitor:
        (await self.client.get(self.base + "/")).raise_for_status()  # sets the visitor and CSRF cookies
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()

    @property
    def id(self) -> str:
        return self.client.cookies["arena_visitor"]

    async def post(self, path: str, body: dict, expected: int = 200) -> dict:
        response = await self.client.post(
            self.base + path, json=body, headers={"X-CSRFToken": self.client.cookies["csrftoken"]}
        )
        return _check(response, expected)

    async def join(self, code: str) -> int:
        """Open the room's page, then take a seat as the page does once the terms are accepted
        (`consent` first: loading the page alone takes none); the seat's HTTP status."""
        page = await self.client.get(f"{self.base}/w/{code}/", follow_redirects=True)
        if page.status_code != 200:
            return page.status_code
        response = await self.client.post(
            f"{self.base}/api/workshops/{code}/join", json={}, headers={"X-CSRFToken": self.client.cookies["csrftoken"]}
        )
        return response.status_code

    async def consent(self, publish: bool = False) -> dict:
        return await self.post("/api/consent", {"accept_terms": True, "publish": publish})

    async def start(self, prompt: str, *, workshop: str | None = None, mode: str = "random") -> dict:
        body = {"prompt": prompt, "mode": mode, **({"workshop": workshop} if workshop else {})}
        return await self.post("/api/battles", body, expected=201)

    async def stream(self, battle: dict, timeout_s: float = 180.0) -> dict[str, str]:
        """Both answers, read from the battle's socket until each side is done (an error
        frame raises)."""
        texts = {"a": "", "b": ""}
        done: set[str] = set()
        async with ws_connect(
            _ws_base(self.base) + battle["ws"],
            origin=self.base,
            open_timeout=60,
            additional_headers={"Cookie": f"arena_visitor={self.id}"},
        ) as ws:
            async with asyncio.timeout(timeout_s):
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame["type"] == "delta":
                        texts[frame["side"]] += frame["text"]
                    elif frame["type"] == "done":
                        done.add(frame["side"])
                    elif frame["type"] == "error":
                        raise ArenaRefused(0, frame.get("code", "error"), frame.get("message", ""))
                    if done == {"a", "b"}:
                        break
        return texts

    async def vote(self, battle: dict, choice: str = "a", **extra) -> dict:
        return await self.post(f"/api/battles/{battle['id']}/vote", {"choice": choice, **extra})


async def create_room(base: str, title: str, **options) -> dict:
    """A new room through the public API: its answer, plus the facilitator `token`."""
    async with Visitor(base) as facilitator:
        room = await facilitator.post("/api/workshops", {"title": title, **options}, expected=201)
    room["token"] = room["facilitator_key"]
    return room


class Dashboard:
    """The projector's socket, authenticated with a first frame as an API client does."""

    def __init__(self, base: str, code: str, token: str):
        self.url = f"{_ws_base(base.rstrip('/'))}/ws/workshops/{code}/"
        self.origin, self.token = base.rstrip("/"), token
        self.frames: asyncio.Queue = asyncio.Queue()

    async def __aenter__(self) -> Dashboard:
        self._cm = ws_connect(self.url, origin=self.origin, open_timeout=60)
        self.ws = await self._cm.__aenter__()
        await self.ws.send(json.dumps({"type": "auth", "token": self.token}))
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        await self._cm.__aexit__(*exc)

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            frame["received_at"] = time.perf_counter()
            await self.frames.put(frame)

    async def next_stats(self, timeout_s: float = 10.0) -> dict:
        async with asyncio.timeout(timeout_s):
            while True:
                frame = await self.frames.get()
                if frame["type"] == "stats":
                    return frame
                if frame["type"] == "error":
                    raise ArenaRefused(0, frame["code"], frame["message"])

    async def until(self, predicate, timeout_s: float = 10.0) -> dict:
        """The first stats frame whose data satisfies `predicate`."""
        async with asyncio.timeout(timeout_s):
            while True:
                frame = await self.next_stats(timeout_s)
                if predicate(frame["data"]):
                    return frame
