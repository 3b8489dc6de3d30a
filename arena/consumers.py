"""The battle's WebSocket: framing only.

One asyncio task per side, started outside `receive` so the socket stays responsive;
each relays the model client's deltas with a per-side sequence number, lets the
message settle (text, tokens, the try's energy) and only then sends `done`. Closing the
socket or pressing stop cancels both tasks, and with them the upstream requests (the
worker aborts the engine's generation); a cut answer keeps the energy its worker
charged it. A socket that opens is told where each answer of the last turn stands: the
last frame of one that ended (the socket that streamed it may have closed before sending
it), or, for one streamed elsewhere (another window, or a web process that died), that
frame once the database says it ended. The rules are in `battles.py` and `Message`; the
model boundary in `inference/`.

Nothing sent here names a model: frames carry a side, text and counts only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inference.client import AnswerFailed, AnswerStream, ModelClient
from inference.routing import Backend, backend_for

from . import battles
from . import early as early_answers
from .early import Prefetch
from .errors import ArenaError
from .impacts import estimated_record
from .limits import check_prompt_rate, close_socket_slots, open_socket_slots
from .models import SIDES, STREAM_HEARTBEAT_S, Attempt, Battle, Message
from .pacing import Pacer
from .visitors import ip_hash, visitor_id_from_scope

log = logging.getLogger("arena.stream")

FAILURE_MESSAGES = {
    "worker_unreachable": gettext_lazy(
        "This answer could not be started: the model's server is unreachable. You can retry."
    ),
    "engine_down": gettext_lazy("The model's server stopped while answering. You can retry."),
    "worker_error": gettext_lazy("The model's server returned an error. You can retry."),
    "cut_off": gettext_lazy("The answer was cut off before its end. You can retry."),
    "engine_timeout": gettext_lazy("The model's server is too busy to answer now. You can retry in a moment."),
    "interrupted": gettext_lazy("This answer was cut off: the server that produced it restarted. You can retry."),
}


# Failures that happen before a replica starts an answer: another replica may take it.
REROUTABLE = ("worker_unreachable", "engine_down")
# An answer not ended yet: being streamed, or about to be (by this socket or another).
UNFINISHED = battles.UNFINISHED


@dataclass
class _Job:
    """One try at one side's answer, stored before anything of it is streamed (an answer
    sent at the POST too: its try is stored in the socket's checks, before `accept`)."""

    message_id: object
    attempt: Attempt
    backend: Backend
    history: list[dict]
    turn: int


class BattleConsumer(AsyncJsonWebsocketConsumer):
    # A battle's socket talks to its workers and to the database, never through the channel
    # layer: without one (an alias that names no layer), a Redis restart cannot drop it.
    channel_layer_alias = None

    async def connect(self):
        self.battle_id = self.scope["url_route"]["kwargs"]["battle_id"]
        self.visitor_id = visitor_id_from_scope(self.scope)
        # Per side, what this socket runs for the current answer: its stream, or the watch of
        # an answer streamed elsewhere (`_watch`).
        self.tasks: dict[str, asyncio.Task] = {}
        self.watched: set[str] = set()  # sides whose task is a watch
        self.closed = False
        # One pacer per batch of answers started together (a turn, or a retried side).
        self.pacers: list[tuple[Pacer, dict]] = []  # each with its sides' message ids
        self.pacer_tasks: set[asyncio.Task] = set()
        self.ended: set[str] = set()  # sides of the current answers that got their last frame
        self.held: list[Message] = []  # answers ended elsewhere, reported once the watched end
        client = self.scope.get("client") or ("", 0)
        # The answers this process began at the POST (arena/early.py), taken with their client.
        # One thread hop for the checks and, once they pass, these answers' tries stored: each
        # hop (and each connection it opens) is paid before the first delta.
        early = early_answers.claim(self.battle_id)
        try:
            refused, battle, self.network, self.socket_slots, begun = await database_sync_to_async(_admit)(
                self.battle_id, self.visitor_id, client[0], early.answers if early else None
            )
        except BaseException:
            if early:
                early_answers.put_back(self.battle_id, early)
            raise
        if refused:
            if early:  # not this socket's to take: the owner's may still come
                early_answers.put_back(self.battle_id, early)
            await self.close(code=refused)
            return
        self.language = battle.language
        self.in_room = bool(battle.workshop_code)
        self.models = early.client if early else ModelClient(settings.ARENA_WORKER_TIMEOUT_S)
        await self.accept()
        if early:
            ended = self._start_early(early.answers, begun)
        else:
            ended = await self._start_pending()
        # A socket that closed may have missed these answers' last frames: a reconnecting
        # client learns them here. While another side is still streamed elsewhere they wait
        # for it, as the pacer would have held them: the gap would tell the models' speeds.
        watched = [task for side, task in self.tasks.items() if side in self.watched and not task.done()]
        if ended and watched:
            self.held = ended
            task = asyncio.create_task(self._report_after(watched))
            self.pacer_tasks.add(task)
            task.add_done_callback(self.pacer_tasks.discard)
        else:
            await self._report(ended)

    async def disconnect(self, code):
        self.closed = True
        for task in getattr(self, "pacer_tasks", ()):
            task.cancel()
        for task in list(getattr(self, "tasks", {}).values()):
            task.cancel()
        if self.tasks:
            _log_failures(await asyncio.gather(*self.tasks.values(), return_exceptions=True), self.battle_id)
            try:
                await self._keep_what_was_shown()
            except Exception:  # the rest of the clean-up must run
                log.exception("battle %s: the answers shown could not be kept", self.battle_id)
        if hasattr(self, "models"):
            await self.models.aclose()
        if getattr(self, "socket_slots", None):
            await database_sync_to_async(close_socket_slots)(self.socket_slots)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        with translation.override(self.language):
            try:
                if kind == "prompt":
                    await self._next_turn(content.get("text"))
                elif kind == "stop":
                    await self._stop()
                elif kind == "retry":
                    await self._retry(content.get("side"))
                else:
                    raise ArenaError(400, "unknown_type", _("Unknown message type."))
            except ArenaError as exc:
                await self._error(None, exc.code, exc.message)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if not text_data:  # a binary or empty frame (Channels would raise on ""): answered, not a crash
            with translation.override(self.language):
                await self._error(None, "unknown_type", _("Unknown message type."))
            return
        await super().receive(text_data=text_data, **kwargs)

    async def decode_json(self, text_data):
        try:
            data = json.loads(text_data)
            json.dumps(data, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
            return data
        except (ValueError, RecursionError, UnicodeError):  # bad JSON, huge integers, deep nesting
            return None

    # -- client commands -------------------------------------------------------------
    async def _next_turn(self, text):
        if any(not t.done() for t in [*self.tasks.values(), *self.pacer_tasks]):
            raise ArenaError(409, "answers_pending", _("Wait until both answers are finished."))
        await database_sync_to_async(check_prompt_rate)(self.visitor_id, self.network, in_room=self.in_room)
        await database_sync_to_async(lambda: battles.add_turn(Battle.objects.get(pk=self.battle_id), text))()
        await self._start_pending()

    async def _stop(self):
        """Cut both answers; each keeps its text so far, shown at once (`stopped` frames). A side
        whose generation ended before the stop but whose `done` had not gone out yet (held by
        the pacer, or its task cut while storing it) gets its `done` now: every side of the
        turn ends with a frame, whatever the timing. A watched side is not this socket's to
        cut: its watch ends, with the frame of where the answer stands (`answer_streaming`
        while another window still streams it)."""
        for task in self.pacer_tasks:
            task.cancel()
        for task in self.tasks.values():
            if not task.done():
                task.cancel()
        _log_failures(
            await asyncio.gather(*self.tasks.values(), *self.pacer_tasks, return_exceptions=True), self.battle_id
        )
        await self._keep_what_was_shown()
        elsewhere = {side for side in self.watched if side not in self.ended} | {m.side for m in self.held}
        waiting = [side for side in SIDES if side in self.tasks and side not in self.ended or side in elsewhere]
        self.held = []
        if not waiting:
            return
        messages = await database_sync_to_async(_answers_now)(self.battle_id, waiting)
        # While a side still streams elsewhere, a side that ended there is not shown either:
        # the other window's pacer may hold its text, and its end alone would tell which model
        # finished first.
        in_progress = any(m.status in UNFINISHED for m in messages)
        for message in messages:
            if message.status in UNFINISHED or (in_progress and message.side in elsewhere):
                await self._error(
                    message.side,
                    "answer_streaming",
                    _("This answer is already streaming in another window."),
                    ends_side=False,
                )
            else:
                await self._send(_last_frame(message))

    async def _keep_what_was_shown(self) -> None:
        """Once this socket's answers are cut (a stop, a closed socket): each paced side keeps
        the text the visitor saw, not what its model had generated beyond it. A side that had
        finished but was held for the other is cut there too (stopped). Runs after the sides'
        own writes, in the same database thread."""
        shown = {messages[side]: text for pacer, messages in self.pacers for side, text in pacer.unshown().items()}
        self.pacers = []  # applied once: a later turn or retry has pacers of its own
        if shown:
            await database_sync_to_async(_keep_shown)(self.battle_id, shown)

    async def _retry(self, side):
        if side not in SIDES:
            raise ArenaError(400, "invalid_side", _("side must be a or b."))
        # Until this socket sent the side's last frame, whatever its stored state: a side stored
        # while the pacer holds it would answer `nothing_to_retry` here and `answer_streaming`
        # beside it, which would tell which model finished first.
        if self._busy(side) or side not in self.ended:
            await self._error(side, "answer_streaming", _("This answer is still streaming."), ends_side=False)
            return
        # A retry asks a model for a new answer: it counts like a prompt.
        await database_sync_to_async(check_prompt_rate)(self.visitor_id, self.network, in_room=self.in_room)
        try:
            await database_sync_to_async(lambda: battles.retry_answer(Battle.objects.get(pk=self.battle_id), side))()
        except ArenaError as exc:
            await self._error(side, exc.code, exc.message, ends_side=False)
            return
        await self._start_pending()

    # -- streaming ------------------------------------------------------------------------
    async def _start_pending(self) -> list[Message]:
        """Stream the last turn's pending answers, and watch those streamed elsewhere that this
        socket is not already following. The answers that ended are returned, for `connect`
        to report."""
        # One trip to the database for every side: which answers wait, which replica takes
        # each, their tries begun. Each trip costs a thread hop, and the time to first token.
        jobs, others = await database_sync_to_async(_begin_pending)(self.battle_id)
        self._launch(jobs)
        return self._watch_others(others)

    def _start_early(self, early: dict[str, Prefetch], begun) -> list[Message]:
        """A new battle's answers, sent at its POST, their tries stored (`_admit`): relayed at
        once (their first deltas may be waiting already). A side another socket began first
        (a second window, on another process) is cut here, unstored, and watched instead."""
        jobs, others = begun
        taken = dict(jobs)
        for side, answer in early.items():
            if side not in taken:
                answer.cancel()
        self._launch(jobs, early)
        return self._watch_others(others)

    def _launch(self, jobs: list[tuple[str, _Job]], early: dict[str, Prefetch] | None = None) -> Pacer | None:
        """A task per side streaming its answer, with one pacer for them all."""
        self.ended -= {side for side, _job in jobs}
        pacer = None
        if jobs and settings.ARENA_PACE_STREAMS:
            pacer = Pacer(self._send, tuple(side for side, _job in jobs), settings.ARENA_PACE_CHARS_PER_S)
            messages = {side: job.message_id for side, job in jobs}
            self.pacers = [(p, m) for p, m in self.pacers if p.unshown()] + [(pacer, messages)]
            task = asyncio.create_task(pacer.run())
            self.pacer_tasks.add(task)
            task.add_done_callback(self.pacer_tasks.discard)
        for side, job in jobs:
            self.watched.discard(side)
            self.tasks[side] = asyncio.create_task(self._stream_side(job, side, pacer, (early or {}).get(side)))
        return pacer

    def _watch_others(self, others: list[Message]) -> list[Message]:
        """Watch the answers streamed elsewhere; those that ended are returned."""
        for message in others:
            if message.status in UNFINISHED and not self._busy(message.side):
                self.ended.discard(message.side)
                self.watched.add(message.side)
                self.tasks[message.side] = asyncio.create_task(self._watch(message.pk))
        return [m for m in others if m.status not in UNFINISHED]

    async def _report(self, ended: list[Message]) -> None:
        with translation.override(self.language):
            for message in ended:
                await self._send(_last_frame(message))

    async def _report_after(self, watched: list[asyncio.Task]) -> None:
        """Report the answers that ended elsewhere (`held`) once the watched sides end (on a
        stop, `_stop` reports them)."""
        await asyncio.wait(watched)
        held, self.held = self.held, []
        await self._report(held)

    def _busy(self, side) -> bool:
        """Whether this socket streams or watches the side's current answer."""
        return side in self.tasks and not self.tasks[side].done()

    async def _watch(self, message_id):
        """Wait for an answer streamed elsewhere (another window, or a web process that died)
        to end, then send its last frame. One trip to the database per heartbeat, which also
        fails the answer once its try's lease has lapsed (`interrupted`, to be retried). The
        frame waits until no answer of the turn is under way: the other window's pacer may
        hold this one, and its end alone would tell which model finished first."""
        while True:
            await asyncio.sleep(STREAM_HEARTBEAT_S)
            message, turn_under_way = await database_sync_to_async(_answer_now)(self.battle_id, message_id)
            if message is None:  # the battle was deleted
                return
            if not turn_under_way:
                break
        with translation.override(self.language):
            await self._send(_last_frame(message))

    async def _stream_side(self, job: _Job, side, pacer: Pacer | None, early: Prefetch | None = None):
        heartbeat = asyncio.create_task(_keep_alive(job))
        try:
            await self._relay(job, side, pacer, early)
        finally:
            heartbeat.cancel()
            if early is not None:
                early.cancel()  # never read (cancelled before the relay began): cut it

    async def _relay(self, job: _Job, side: str, pacer: Pacer | None, early: Prefetch | None = None):
        await self.send_json({"type": "start", "side": side, "turn": job.turn})
        parts: list[str] = []
        tried: tuple[str, ...] = ()
        try:
            while True:
                # The first request may have been sent at the POST (its deltas wait, read ahead).
                answer = early or self.models.answer(
                    job.backend, job.history, max_tokens=settings.ARENA_MAX_TOKENS, request_id=job.attempt.request_id
                )
                early = None
                try:
                    async for text in answer:
                        parts.append(text)
                        if pacer:
                            pacer.push(side, text)
                        else:
                            await self.send_json({"type": "delta", "side": side, "seq": len(parts), "text": text})
                    break
                except AnswerFailed as exc:
                    # Before the first token a refused or unreachable replica is no loss: the
                    # same try goes to another replica, and the Attempt records which.
                    tried += (job.backend.url,)
                    other = None
                    if exc.code in REROUTABLE:
                        replica_failed(job.backend.url)
                    if not parts and exc.code in REROUTABLE:
                        other = await database_sync_to_async(_reroute)(job, tried)
                    if other is None:
                        raise
                    log.warning(
                        "battle %s side %s: %s on %s, rerouted to %s",
                        self.battle_id,
                        side,
                        exc.code,
                        tried[-1],
                        other.url,
                    )
                    job.backend = other
        except asyncio.CancelledError:
            # Stopped or left: the answer so far (as shown, where paced) is kept, with the
            # energy the worker charged it.
            await asyncio.shield(self._settle_cut(job, answer, _seen(parts, pacer, side), Message.Status.STOPPED))
            raise
        except AnswerFailed as exc:
            log.warning("battle %s side %s failed: %s", self.battle_id, side, exc.code)
            seen = _seen(parts, pacer, side)
            if pacer:
                pacer.drop(side)
            # A code the contract does not list (a remote API's own) would name its provider.
            code = exc.code if exc.code in FAILURE_MESSAGES else "worker_error"
            await self._settle_cut(job, answer, seen, Message.Status.ERROR, code)
            with translation.override(self.language):
                await self._error(side, code, FAILURE_MESSAGES[code])
            return
        except Exception:  # a bug or a closed socket: the answer must not stay "streaming"
            log.exception("battle %s side %s: relay failed", self.battle_id, side)
            seen = _seen(parts, pacer, side)
            if pacer:
                pacer.drop(side)
            await asyncio.shield(self._settle_cut(job, answer, seen, Message.Status.ERROR, "worker_error"))
            return
        outcome = answer.outcome
        try:
            message = await _store(
                job,
                Message.Status.DONE,
                "".join(parts),
                answer,
                outcome.energy,
                outcome.prompt_tokens,
                outcome.completion_tokens,
            )
        except Exception:  # not stored: the side must still end (its lease then fails it, for a retry)
            log.exception("battle %s side %s: the answer could not be stored", self.battle_id, side)
            if pacer:
                pacer.drop(side)
            with translation.override(self.language):
                await self._error(side, "worker_error", FAILURE_MESSAGES["worker_error"])
            return
        done = {
            "type": "done",
            "side": side,
            "seq": len(parts) + 1,
            "message_id": str(message.id),
            "html": message.html,
            "completion_tokens": message.completion_tokens,
            "duration_ms": message.duration_ms,
        }
        if pacer:
            # A duration would give the speed away; a token count, the tokenizer (its ratio to
            # the text's length differs between model families). The reveal has both.
            pacer.finish(side, {**done, "duration_ms": None, "completion_tokens": None})
        else:
            await self._send(done)

    async def _settle_cut(self, job: _Job, answer: AnswerStream, text: str, status, error_code=""):
        """A cut answer never gets its final chunk: ask its worker what it cost."""
        finished = await self.models.aborted_energy(job.backend, job.attempt.request_id)
        usage = finished.usage if finished else None
        prompt_tokens, completion_tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (None, None)
        if not job.backend.metered:  # a remote API: the content chunks received stand for its tokens
            completion_tokens = answer.chunks
        await _store(
            job,
            status,
            text,
            answer,
            finished.energy if finished else None,
            prompt_tokens,
            completion_tokens,
            error_code,
        )

    async def _error(self, side, code, message, *, ends_side: bool = True):
        """A side's failure (it ends the side), or with `ends_side=False` a command refused
        about a side (a retry of an answer still streaming): the side goes on as it was."""
        await self._send({"type": "error", "side": side, "code": code, "message": str(message)}, ends_side=ends_side)

    async def _send(self, frame: dict, *, ends_side: bool = True) -> None:
        if ends_side and frame["type"] in ("done", "stopped", "error") and frame.get("side"):
            self.ended.add(frame["side"])
        await self.send_json(frame)


def _last_frame(message: Message) -> dict:
    """The frame that ends a side, read from its stored answer (done, stopped or failed):
    for a side whose own frame did not go out, or that another socket streamed. A `done`
    from here has no `seq` and no duration (which would give the model's speed away); an
    error's message is in the active language."""
    if message.status == Message.Status.DONE:
        return {
            "type": "done",
            "side": message.side,
            "seq": None,
            "message_id": str(message.id),
            "html": message.html,
            "completion_tokens": None if settings.ARENA_PACE_STREAMS else message.completion_tokens,
            "duration_ms": None,
        }
    if message.status == Message.Status.STOPPED:
        return {"type": "stopped", "side": message.side, "message_id": str(message.id), "html": message.html}
    code = message.error_code if message.error_code in FAILURE_MESSAGES else "worker_error"
    text = FAILURE_MESSAGES[code]
    return {"type": "error", "side": message.side, "code": code, "message": str(text)}


def _seen(parts: list[str], pacer: Pacer | None, side: str) -> str:
    """What the visitor saw of a side: what its pacer released, or all of it unpaced."""
    shown = pacer.shown_text(side) if pacer else None
    return "".join(parts) if shown is None else shown


def _store(*args) -> asyncio.Future:
    """`_finish` in the database thread, whatever happens to the task that asked for it. A stop
    (or a closed socket) cancels the side's task; asgiref then drops a database call still
    waiting for the thread, and an answer already whole would stay "streaming", with no frame
    for it (`_stop` sends the frame of what was stored)."""
    return asyncio.shield(database_sync_to_async(_finish)(*args))


def _log_failures(results: list, battle_id) -> None:
    """What the side tasks raised besides being cancelled: a bug, never to pass unseen."""
    for result in results:
        if isinstance(result, Exception):
            log.error("battle %s: a side task failed", battle_id, exc_info=result)


async def _keep_alive(job: _Job) -> None:
    """Renew the try's lease while its task runs (see `Message.end_abandoned_streams`)."""
    attempt_pk = job.attempt.pk
    renew = database_sync_to_async(lambda: Attempt.objects.filter(pk=attempt_pk).update(alive_at=timezone.now()))
    while True:
        await asyncio.sleep(STREAM_HEARTBEAT_S)
        await renew()


# -- database (sync, run in a thread) -------------------------------------------------------
# Replicas that just refused or could not be reached, until when (time.monotonic()): new tries
# go elsewhere meanwhile, as nginx's max_fails/fail_timeout does, rather than each meeting the
# dead replica first (it streams nothing, so it is the least busy) and being re-routed. This
# process's own memory: another process learns it from its own first failed try.
REPLICA_DOWN_S = 5.0
_down_until: dict[str, float] = {}


def replica_failed(url: str) -> None:
    _down_until[url] = time.monotonic() + REPLICA_DOWN_S


def least_busy(backend: Backend, avoid: tuple[str, ...] = ()) -> Backend | None:
    """The replica with the fewest answers streaming from it, as the database sees them (so
    every web process sees the same counts), among those not seen failing in the last few
    seconds (unless every one was); None when every replica was tried."""
    candidates = [u for u in backend.urls if u not in avoid]
    now = time.monotonic()
    up = [u for u in candidates if _down_until.get(u, 0.0) <= now]
    candidates = up or candidates
    if len(candidates) <= 1:
        return backend.on(candidates[0]) if candidates else None
    busy = dict(
        Attempt.objects.filter(outcome=Attempt.Outcome.STREAMING, backend__in=candidates)
        .values_list("backend")
        .annotate(n=Count("id"))
        .order_by()
    )
    least = min(busy.get(u, 0) for u in candidates)
    return backend.on(random.choice([u for u in candidates if busy.get(u, 0) == least]))


def _reroute(job: _Job, tried: tuple[str, ...]) -> Backend | None:
    other = least_busy(job.backend, avoid=tried)
    if other is not None:
        Attempt.objects.filter(pk=job.attempt.pk).update(backend=other.label)
        job.attempt.backend = other.label
    return other


def _admit(battle_id, visitor_id, client_ip: str, early: dict | None = None) -> tuple:
    """A socket's checks: the battle is the visitor's (else close code 4403), and one more
    socket fits under the visitor's and the network's caps (else 4429; a workshop room's own
    limits stand in for its network's: a class shares one address). Where answers were sent
    at the POST (`early`), their tries are then stored, on the same connection (`_begin_pending`).
    (refused, battle, network, socket slots, (jobs, others) or None)."""
    try:
        battle = battles.battle_for_visitor(battle_id, visitor_id, with_models=early is None)
    except ArenaError:
        return 4403, None, None, None, None
    network = ip_hash(client_ip) if client_ip else None
    slots = open_socket_slots(visitor_id, None if battle.workshop_code else network)
    if slots is None:
        return 4429, battle, network, None, None
    try:
        begun = _begin_pending(battle_id, early, battle=battle) if early else None
    except BaseException:
        close_socket_slots(slots)
        raise
    return None, battle, network, slots, begun


def _begin_pending(
    battle_id, early: dict | None = None, battle: Battle | None = None
) -> tuple[list[tuple[str, _Job]], list[Message]]:
    """The last turn's answers: each one waiting to be streamed, with its try begun, and the
    others as they stand (one that another window began first is among them, still
    `pending` here). Its queries stand between the socket opening and the first token: the
    battle comes with its models (or is the one the caller read so), and a first turn's history
    is its prompt."""
    if battle is None:
        battle = Battle.objects.select_related("model_a", "model_b").get(pk=battle_id)
    jobs, others = [], []
    for message in battles.last_turn_answers(battle):
        job = None
        if message.status == Message.Status.PENDING:
            message.turn.battle = battle
            job = _begin(message, (early or {}).get(message.side) if message.turn.index == 0 else None)
        if job is None:
            others.append(message)
        else:
            jobs.append((message.side, job))
    return jobs, others


def _answer_now(battle_id, message_id) -> tuple[Message | None, bool]:
    """An answer as it stands, failed first if its try's lease lapsed (None once deleted),
    and whether an answer of its turn is still under way."""
    Message.end_abandoned_streams(turn__battle_id=battle_id)
    message = Message.objects.filter(pk=message_id).first()
    return message, message is not None and battles.turn_in_progress(message.turn_id)


def _keep_shown(battle_id, shown: dict) -> None:
    """Cut these stored answers (by message id) to the text shown (`_keep_what_was_shown`):
    only an answer that ended and holds more than that text, and never once the battle is
    voted (what was voted on stays as it was)."""
    with transaction.atomic():
        voted_at = Battle.objects.select_for_update().filter(pk=battle_id).values_list("voted_at", flat=True).first()
        if voted_at is not None:
            return
        for message in Message.objects.filter(pk__in=shown, turn__battle_id=battle_id):
            text = shown[message.pk]
            if (
                message.status not in UNFINISHED
                and len(message.content) > len(text)
                and message.content.startswith(text)
            ):
                message.cut_to(text)


def _answers_now(battle_id, sides) -> list[Message]:
    """The last turn's answers of these sides as they stand, those whose task is gone failed."""
    battle = Battle.objects.get(pk=battle_id)
    Message.end_abandoned_streams(turn__battle=battle)
    return list(battles.last_turn_messages(battle).filter(side__in=sides))


def _begin(message: Message, early: Prefetch | None = None) -> _Job | None:
    """A try at the answer: on the replica and with the request id of the request sent at the
    POST where there is one (`early`), else on the least busy replica."""
    if early is not None:
        backend = early.backend
        attempt = message.begin_attempt(backend.label, request_id=early.request_id)
    else:
        backend = least_busy(backend_for(message.turn.battle.model(message.side)))
        attempt = message.begin_attempt(backend.label)
    if attempt is None:
        return None
    turn = message.turn
    chat = [{"role": "user", "content": turn.prompt}] if turn.index == 0 else battles.history(message)
    return _Job(message.id, attempt, backend, chat, turn.index)


def _finish(
    job: _Job, status, content, answer: AnswerStream, energy, prompt_tokens, completion_tokens, error_code=""
) -> Message:
    message = Message.objects.select_related("turn__battle__model_a", "turn__battle__model_b").get(pk=job.message_id)
    if not job.backend.metered:  # a remote API meters nothing: its answer gets EcoLogits' estimate
        energy = estimated_record(
            message.turn.battle.model(message.side), prompt_tokens, completion_tokens, answer.elapsed_ms()
        )
    message.finish(
        job.attempt,
        status,
        content,
        energy=energy,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        ttft_ms=answer.ttft_ms,
        duration_ms=answer.elapsed_ms(),
        error_code=error_code,
    )
    return message
