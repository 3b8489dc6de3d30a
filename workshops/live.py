"""Room events to the projector: one Channels group per room.

Whatever changes a room's figures (a seat taken, a battle started, an answer finished, a
vote, a worth answer, the state) sends "room.changed" to the room's group once its
transaction commits; each dashboard socket then recomputes the figures (several events
within WORKSHOP_DASHBOARD_DEBOUNCE_S give one computation). On Redis the group spans every
web process, so a vote cast through one process reaches a dashboard served by another.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from arena.signals import battle_changed

log = logging.getLogger("workshops.live")


def group_name(code: str) -> str:
    return f"workshop.{code}"


def _send(code: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def notify():
        # Bounded: a Redis that hangs would hold the vote's thread (and every request queued
        # behind it) for the layer's socket timeout, 15 s.
        await asyncio.wait_for(
            layer.group_send(group_name(code), {"type": "room.changed"}), settings.WORKSHOP_NOTIFY_TIMEOUT_S
        )

    try:
        async_to_sync(notify)()
    except Exception:  # a dashboard missing one update must not fail a participant's vote
        log.warning("room %s: could not notify its dashboard", code, exc_info=True)


def room_changed(code: str) -> None:
    transaction.on_commit(lambda: _send(code))


@receiver(battle_changed)
def _on_battle_changed(sender, battle, **kwargs) -> None:
    if battle.workshop_code:
        room_changed(battle.workshop_code)
