"""Answers begun at the POST, before the battle's socket opens.

`POST /api/battles` answers once the battle is stored; the client then opens the battle's
socket, and only then were the two requests sent to the workers: the POST's round trip and
the WebSocket handshake were added to every battle's time to first token. Here the process
that serves the POST sends both requests as soon as it knows the pair (`begin`), and reads
their deltas ahead into a buffer (`Prefetch`). The battle's socket, when it opens on the
same process within `ARENA_EARLY_ANSWER_WAIT_S`, takes them (`claim`): its tries are begun
with these answers' replicas and request ids, and the buffered deltas are relayed at once,
with no new request.

Nothing here is stored, and nothing else depends on it: a socket that opens on another web
process (or later than the wait) begins the answers itself, as it always did, and the
early ones are then cut by the process that began them (the worker stops generating). What
such a cut answer cost is logged with its battle (logger `arena.early`); it belongs to no
try, since nobody saw it. Anonymity is unchanged: the deltas go out through the same socket
relay and pacer as any others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from django.conf import settings

from inference.client import AnswerStream, ModelClient
from inference.routing import Backend

log = logging.getLogger("arena.early")


class Prefetch:
    """An answer read ahead from the moment it is made: iterating it yields what was
    buffered, then the rest as it comes, then raises what the stream raised. Leaving the
    iteration early (a stop, a closed socket) cuts the request, as leaving an
    `AnswerStream` does. The stream's figures (outcome, time to first token, chunks) are
    the stream's own, counted from when it was sent."""

    def __init__(self, answer: AnswerStream, history: list[dict]):
        self.answer = answer
        self.history = history  # the conversation sent: a re-routed try sends it again
        self.backend = answer.backend
        self.request_id = answer.request_id
        self._parts: list[str] = []
        self._error: BaseException | None = None
        self._ended = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.answer:
                self._parts.append(text)
                self._changed.set()
        except asyncio.CancelledError:
            self._error = asyncio.CancelledError()
            raise
        except Exception as exc:  # AnswerFailed, or a bug: raised to whoever iterates
            self._error = exc
        finally:
            self._ended = True
            self._changed.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        sent = 0
        try:
            while True:
                if sent < len(self._parts):
                    sent += 1
                    yield self._parts[sent - 1]
                    continue
                if self._ended:
                    if self._error is not None:
                        raise self._error
                    return
                self._changed.clear()
                await self._changed.wait()
        finally:
            if not self._ended:
                self._task.cancel()

    def cancel(self) -> None:
        self._task.cancel()

    async def ended(self) -> None:
        """Wait until the request is over (ended, failed or cut)."""
        await asyncio.gather(self._task, return_exceptions=True)

    @property
    def outcome(self):
        return self.answer.outcome

    @property
    def ttft_ms(self):
        return self.answer.ttft_ms

    @property
    def chunks(self):
        return self.answer.chunks

    def elapsed_ms(self) -> int:
        return self.answer.elapsed_ms()


@dataclass
class EarlyBattle:
    """A battle's first answers, begun by this process, until its socket takes them."""

    client: ModelClient
    answers: dict[str, Prefetch]  # side -> its answer
    deadline: float = 0.0  # loop time after which nobody may take them any more
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)


# battle id (str) -> its early answers, on this process only.
_waiting: dict[str, EarlyBattle] = {}
# Cuts in progress (kept referenced until they end).
_cutting: set[asyncio.Task] = set()


def enabled() -> bool:
    return settings.ARENA_EARLY_ANSWER_WAIT_S > 0


def begin(battle_id, backends: dict[str, Backend], prompt: str, request_ids: dict[str, str]) -> None:
    """Send both first answers of a new battle now (called on the server's event loop)."""
    client = ModelClient(settings.ARENA_WORKER_TIMEOUT_S)
    history = [{"role": "user", "content": prompt}]
    answers = {
        side: Prefetch(
            client.answer(backend, history, max_tokens=settings.ARENA_MAX_TOKENS, request_id=request_ids[side]),
            history,
        )
        for side, backend in backends.items()
    }
    loop = asyncio.get_running_loop()
    _wait(str(battle_id), EarlyBattle(client, answers, deadline=loop.time() + settings.ARENA_EARLY_ANSWER_WAIT_S))


def _wait(key: str, early: EarlyBattle) -> None:
    _waiting[key] = early
    loop = asyncio.get_running_loop()
    early.expiry = loop.call_at(early.deadline, _expire, key, "unclaimed")


def claim(battle_id) -> EarlyBattle | None:
    """The battle's early answers, now the caller's (its socket's): cancel what it does not use,
    and close the client with its own."""
    early = _waiting.pop(str(battle_id), None)
    if early is not None and early.expiry is not None:
        early.expiry.cancel()
    return early


def put_back(battle_id, early: EarlyBattle) -> None:
    """Give back what `claim` took (a socket refused by its checks: the owner's may still come),
    until the same deadline."""
    _wait(str(battle_id), early)


def drop(battle_id, reason: str) -> None:
    """Cut a battle's early answers now (its battle could not be stored)."""
    _expire(str(battle_id), reason)


def _expire(key: str, reason: str) -> None:
    early = _waiting.pop(key, None)
    if early is None:
        return
    task = asyncio.ensure_future(_cut(key, early, reason))
    _cutting.add(task)
    task.add_done_callback(_cutting.discard)


async def _cut(key: str, early: EarlyBattle, reason: str) -> None:
    """Cut answers nobody took, and log what they cost (their workers' records)."""
    try:
        for answer in early.answers.values():
            answer.cancel()
        for side, answer in early.answers.items():
            await answer.ended()
            finished = await early.client.aborted_energy(answer.backend, answer.request_id)
            energy_j = finished.energy.energy_j if finished and finished.energy else None
            log.info(
                "battle %s side %s: early answer cut (%s), request %s on %s, energy_j=%s",
                key,
                side,
                reason,
                answer.request_id,
                answer.backend.url,
                energy_j,
            )
    finally:
        await early.client.aclose()


def waiting_count() -> int:
    """Battles whose early answers wait for their socket on this process (tests, metrics)."""
    return len(_waiting)
