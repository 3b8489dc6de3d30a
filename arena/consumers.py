"""The battle's WebSocket: both answers streamed side by side from the inference workers.

One asyncio task per side, started outside `receive` so the socket stays responsive;
each relays the worker's deltas with a per-side sequence number, persists the finished
answer and only then sends `done`. Closing the socket or pressing stop cancels both
tasks, and with them the upstream requests (the worker aborts the engine's generation).

Nothing sent here names a model: frames carry a side, text and counts only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import httpx
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from inference_workers.protocol import sse_json

from . import battles
from .limits import LimitExceeded, check_prompt_rate
from .models import SIDES, Battle, Message
from .rendering import render_answer
from .visitors import ip_hash, visitor_id_from_scope

log = logging.getLogger("arena.stream")


class WorkerFailed(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


ERROR_MESSAGES = {
    "worker_unreachable": "This answer could not be started: the model's server is unreachable. You can retry.",
    "engine_down": "The model's server stopped while answering. You can retry.",
    "worker_error": "The model's server returned an error. You can retry.",
    "cut_off": "The answer was cut off before its end. You can retry.",
    "engine_timeout": "The model's server is too busy to answer now. You can retry in a moment.",
}


class BattleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.battle_id = self.scope["url_route"]["kwargs"]["battle_id"]
        self.visitor_id = visitor_id_from_scope(self.scope)
        self.tasks: dict[str, asyncio.Task] = {}
        battle = await self._battle()
        if battle is None or str(battle.visitor_id) != self.visitor_id:
            await self.close(code=4403)
            return
        self.language = battle.language
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(settings.ARENA_WORKER_TIMEOUT_S, connect=5.0))
        await self.accept()
        await self._start_pending()

    async def disconnect(self, code):
        for task in list(getattr(self, "tasks", {}).values()):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        if hasattr(self, "client"):
            await self.client.aclose()

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        with translation.override(self.language):
            if kind == "prompt":
                await self._next_turn(content.get("text"))
            elif kind == "stop":
                await self._stop()
            elif kind == "retry":
                await self._retry(content.get("side"))
            else:
                await self._error(None, "unknown_type", _("Unknown message type."))

    async def decode_json(self, text_data):
        try:
            return json.loads(text_data)
        except json.JSONDecodeError:
            return None

    # -- client commands -------------------------------------------------------------
    async def _next_turn(self, text):
        if any(not t.done() for t in self.tasks.values()):
            await self._error(None, "answers_pending", _("Wait until both answers are finished."))
            return
        client = self.scope.get("client") or ("", 0)
        try:
            await database_sync_to_async(check_prompt_rate)(self.visitor_id, ip_hash(client[0]))
            await database_sync_to_async(self._add_turn)(text)
        except LimitExceeded as exc:
            await self._error(None, "rate_limited", exc.message)
            return
        except battles.BattleError as exc:
            await self._error(None, exc.code, exc.message)
            return
        await self._start_pending()

    async def _stop(self):
        for task in self.tasks.values():
            task.cancel()

    async def _retry(self, side):
        if side not in SIDES:
            await self._error(None, "invalid_side", _("side must be a or b."))
            return
        if side in self.tasks and not self.tasks[side].done():
            await self._error(side, "answer_streaming", _("This answer is still streaming."))
            return
        ok = await database_sync_to_async(self._reset_for_retry)(side)
        if not ok:
            await self._error(side, "nothing_to_retry", _("Only a failed or stopped answer of the last turn can be retried."))
            return
        await self._start_pending()

    # -- streaming ------------------------------------------------------------------------
    async def _start_pending(self):
        for message_id, side in await database_sync_to_async(self._pending_messages)():
            self.tasks[side] = asyncio.create_task(self._stream_side(message_id, side))

    async def _stream_side(self, message_id, side):
        job = await database_sync_to_async(self._begin_message)(message_id)
        await self.send_json({"type": "start", "side": side, "turn": job["turn"]})
        parts: list[str] = []
        seq = 0
        started = time.monotonic()
        request_id = uuid.uuid4().hex  # asks the worker for the energy of an aborted answer
        ttft_ms = None
        final: dict = {}
        try:
            try:
                async with self.client.stream("POST", job["url"] + "/v1/chat/completions", json={
                    "model": job["served_name"], "messages": job["history"], "stream": True,
                    "max_tokens": settings.ARENA_MAX_TOKENS,
                }, headers={"X-Request-ID": request_id}) as resp:
                    if resp.status_code != 200:
                        await resp.aread()
                        raise WorkerFailed("engine_down" if resp.status_code == 503 else "worker_error")
                    async for chunk in sse_json(resp):
                        if "error" in chunk:
                            raise WorkerFailed(chunk["error"].get("code") or "worker_error")
                        if chunk.get("energy"):
                            final = chunk
                        for choice in chunk.get("choices") or []:
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                if ttft_ms is None:
                                    ttft_ms = int((time.monotonic() - started) * 1000)
                                parts.append(text)
                                seq += 1
                                await self.send_json({"type": "delta", "side": side, "seq": seq, "text": text})
            except httpx.ConnectError:
                raise WorkerFailed("worker_unreachable") from None
            except httpx.ReadTimeout:
                raise WorkerFailed("engine_timeout") from None
            except (httpx.TransportError, json.JSONDecodeError):
                raise WorkerFailed("engine_down") from None
            if not final:
                raise WorkerFailed("cut_off")
        except asyncio.CancelledError:
            # Stopped or left: the answer so far is kept, with the energy the worker
            # charged it until the abort (an aborted stream never gets its final chunk).
            await asyncio.shield(self._finish_aborted(
                job["url"], request_id, message_id, Message.Status.STOPPED, parts, ttft_ms, started))
            raise
        except WorkerFailed as exc:
            log.warning("battle %s side %s failed: %s", self.battle_id, side, exc.code)
            await self._finish_aborted(job["url"], request_id, message_id, Message.Status.ERROR, parts, ttft_ms,
                                       started, error_code=exc.code)
            with translation.override(self.language):
                await self._error(side, exc.code, _(ERROR_MESSAGES.get(exc.code, ERROR_MESSAGES["worker_error"])))
            return
        message = await database_sync_to_async(self._finish_message)(
            message_id, Message.Status.DONE, "".join(parts), final, ttft_ms, started)
        await self.send_json({
            "type": "done", "side": side, "seq": seq + 1, "message_id": str(message.id), "html": message.html,
            "completion_tokens": message.completion_tokens, "duration_ms": message.duration_ms,
        })

    async def _finish_aborted(self, url, request_id, message_id, status, parts, ttft_ms, started, error_code=""):
        final = await self._energy_of_aborted(url, request_id)
        await database_sync_to_async(self._finish_message)(
            message_id, status, "".join(parts), final, ttft_ms, started, error_code=error_code)

    async def _energy_of_aborted(self, url: str, request_id: str) -> dict | None:
        """The worker's record of a request we cut, once its meter has closed it (or None
        when the worker itself is gone)."""
        for _attempt in range(10):
            try:
                resp = await self.client.get(f"{url}/v1/requests/{request_id}", timeout=1.0)
            except httpx.HTTPError:
                return None
            if resp.status_code == 200:
                return resp.json()
            await asyncio.sleep(0.1)
        return None

    async def _error(self, side, code, message):
        await self.send_json({"type": "error", "side": side, "code": code, "message": str(message)})

    # -- database (sync, run in a thread) ---------------------------------------------------
    async def _battle(self) -> Battle | None:
        return await database_sync_to_async(lambda: Battle.objects.filter(pk=self.battle_id).first())()

    def _add_turn(self, text):
        battles.add_turn(Battle.objects.get(pk=self.battle_id), text)

    def _pending_messages(self):
        battle = Battle.objects.get(pk=self.battle_id)
        if battle.is_voted:
            return []
        last = battle.last_turn()
        return [(m.id, m.side) for m in last.messages.filter(status=Message.Status.PENDING)]

    def _begin_message(self, message_id):
        message = Message.objects.select_related("turn__battle__model_a", "turn__battle__model_b").get(pk=message_id)
        llm = message.turn.battle.model(message.side)
        message.status = Message.Status.STREAMING
        message.attempts += 1
        message.save(update_fields=["status", "attempts"])
        return {"url": llm.worker_url.rstrip("/"), "served_name": llm.slug, "history": battles.history(message),
                "turn": message.turn.index}

    def _reset_for_retry(self, side) -> bool:
        battle = Battle.objects.get(pk=self.battle_id)
        if battle.is_voted:
            return False
        message = battle.last_turn().messages.filter(side=side).first()
        if message is None or message.status not in (Message.Status.ERROR, Message.Status.STOPPED):
            return False
        message.status = Message.Status.PENDING
        message.content = message.html = message.error_code = ""
        if message.energy:  # the failed attempt used energy too: it stays in the totals
            message.earlier_energy = [*message.earlier_energy, message.energy]
        message.energy = message.estimate = None
        message.save()
        return True

    def _finish_message(self, message_id, status, content, final, ttft_ms, started, error_code=""):
        message = Message.objects.select_related("turn__battle__model_a", "turn__battle__model_b").get(pk=message_id)
        message.status = status
        message.content = content
        message.html = render_answer(content) if content else ""
        message.error_code = error_code
        message.ttft_ms = ttft_ms
        message.duration_ms = int((time.monotonic() - started) * 1000)
        message.finished_at = timezone.now()
        if final:
            usage = final.get("usage") or {}
            message.prompt_tokens = usage.get("prompt_tokens")
            message.completion_tokens = usage.get("completion_tokens")
            message.energy = final.get("energy")
            try:
                message.estimate = battles.estimate_for(message)
            except Exception:  # an estimate must never lose an answer
                log.exception("EcoLogits estimate failed for message %s", message.id)
        message.save()
        battle = message.turn.battle
        word = battle.model(message.side).leaked_in(content) if content else None
        if word and not battle.leak_flagged:
            battle.leak_flagged = True
            battle.leak_detail = f"side {message.side}"
            battle.save(update_fields=["leak_flagged", "leak_detail"])
        return message
