"""The projector dashboard's socket: `/ws/workshops/<code>/`.

The facilitator is recognised by the HttpOnly cookie their link set, or, for API clients,
by a first frame `{"type": "auth", "token": "..."}`. Until then the socket gets nothing but
the request to authenticate, and it is closed after AUTH_WINDOW_S. Once in, it joins the
room's group and receives `{"type": "stats", "data": {...}, "html": "..."}` at once and
after every change (events within WORKSHOP_DASHBOARD_DEBOUNCE_S give one message).
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .api import cookie_name
from .live import group_name
from .models import Workshop, normalize_code
from .stats import room_stats

AUTH_WINDOW_S = 10
CLOSE_FORBIDDEN = 4403


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.code = normalize_code(self.scope["url_route"]["kwargs"]["code"])
        cookies = self.scope.get("cookies") or {}
        # The visitor's language (cookie), else the room's once it is known, else French: for
        # the error frames as for the figures.
        self.lang = cookies.get(settings.LANGUAGE_COOKIE_NAME) or ""
        if self.lang not in dict(settings.LANGUAGES):
            self.lang = ""
        self.joined = False
        self.dirty = False
        self.refresher: asyncio.Task | None = None
        await self.accept()
        token = cookies.get(cookie_name(self.code))
        if token and await self._authorize(token):
            return
        self.auth_timer = asyncio.create_task(self._close_unless_authorized())
        await self._send({"type": "auth_required", "message": _("Send the facilitator token to follow this room.")})

    async def disconnect(self, code):
        if self.joined:
            await self.channel_layer.group_discard(group_name(self.code), self.channel_name)
        for task in (getattr(self, "auth_timer", None), self.refresher):
            if task is not None:
                task.cancel()

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "auth" and not self.joined:
            if not await self._authorize(content.get("token") if isinstance(content.get("token"), str) else ""):
                await self._refuse()
        elif kind == "refresh" and self.joined:
            await self._send_stats()
        else:
            await self._send(
                {"type": "error", "code": "unknown_command", "message": _("Unknown command for this socket.")}
            )

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data, bytes_data, **kwargs)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            await self._send({"type": "error", "code": "invalid_json", "message": _("Frames must be JSON.")})

    # -- room events ----------------------------------------------------------------------
    async def room_changed(self, event):
        self.dirty = True
        if self.refresher is None or self.refresher.done():
            self.refresher = asyncio.create_task(self._refresh())

    async def _refresh(self):
        while self.dirty:
            await asyncio.sleep(settings.WORKSHOP_DASHBOARD_DEBOUNCE_S)  # gather a burst of votes
            self.dirty = False
            await self._send_stats()

    # -- helpers -----------------------------------------------------------------------------
    async def _authorize(self, token: str) -> bool:
        workshop = await database_sync_to_async(lambda: Workshop.objects.filter(code=self.code).first())()
        if workshop is None or not workshop.token_matches(token):
            return False
        self.lang = self.lang if self.lang in dict(settings.LANGUAGES) else workshop.language
        await self.channel_layer.group_add(group_name(self.code), self.channel_name)
        self.joined = True
        timer = getattr(self, "auth_timer", None)
        if timer is not None:
            timer.cancel()
        await self._send_stats()
        return True

    async def _refuse(self):
        await self._send(
            {
                "type": "error",
                "code": "facilitator_only",
                "message": _("Only the facilitator of this workshop can do this."),
            }
        )
        await self.close(code=CLOSE_FORBIDDEN)

    async def _send(self, frame: dict):
        """A frame whose message (lazily translated) is rendered in this socket's language."""
        with translation.override(self.lang or settings.LANGUAGE_CODE):
            frame = {**frame, "message": str(frame["message"])}
        await self.send_json(frame)

    async def _close_unless_authorized(self):
        await asyncio.sleep(AUTH_WINDOW_S)
        if not self.joined:
            await self._refuse()

    async def _send_stats(self):
        data, html = await database_sync_to_async(self._render)()
        await self.send_json({"type": "stats", "data": data, "html": html})

    def _render(self) -> tuple[dict, str]:
        workshop = Workshop.objects.get(code=self.code)
        with translation.override(self.lang):
            stats = room_stats(workshop, self.lang)
            html = render_to_string("workshops/_figures.html", {"stats": stats, "room": workshop})
        return stats, html
