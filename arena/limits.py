"""Rate limits with clear messages: prompts (and retries) per minute per visitor and per
IP, concurrent battles per visitor, open WebSockets per visitor and per IP. Counters live
in the cache (Redis when configured), so every web process shares them."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from .errors import ArenaError

WINDOW_S = 60


def _hit(key: str, limit: int, window_s: int = WINDOW_S) -> bool:
    """Count one hit; False when over the limit.

    A sliding window, estimated from two fixed ones: the hits of the current window plus those
    of the previous one weighted by how much of it the sliding window still covers. Fixed
    windows alone let twice the limit through across a boundary (the limit at the end of one
    minute, again at the start of the next)."""
    now = time.time()
    bucket, into = divmod(now, window_s)
    full_key = f"rl:{key}:{int(bucket)}"
    cache.add(full_key, 0, timeout=window_s * 2)
    try:
        count = cache.incr(full_key)
    except ValueError:  # expired between add and incr
        cache.set(full_key, 1, timeout=window_s * 2)
        count = 1
    if count > limit:
        return False
    previous = cache.get(f"rl:{key}:{int(bucket) - 1}") or 0
    return count + previous * (1 - into / window_s) <= limit


def check_prompt_rate(visitor_id: str, ip_hash: str | None, *, in_room: bool = False) -> None:
    """A prompt (a battle, a next turn, a retry) per visitor and per network. In a workshop
    room a class shares one address: its network may send as much as one full room
    (WORKSHOP_BATTLES_PER_MINUTE), counted apart, over all the rooms it plays in; the room's
    own rate holds too (workshops.rules). Without that cap, anyone could open rooms and pass
    every network limit."""
    if not _hit(f"v:{visitor_id}", settings.ARENA_PROMPTS_PER_MINUTE_VISITOR):
        raise ArenaError(
            429,
            "rate_limited",
            _("Too many prompts in a minute. Please wait a moment before sending another."),
            retry_after_s=WINDOW_S,
        )
    key, limit = (
        (f"ip-room:{ip_hash}", settings.WORKSHOP_BATTLES_PER_MINUTE)
        if in_room
        else (f"ip:{ip_hash}", settings.ARENA_PROMPTS_PER_MINUTE_IP)
    )
    if ip_hash and not _hit(key, limit):
        raise ArenaError(
            429,
            "rate_limited",
            _("Too many prompts from your network in a minute. Please wait a moment."),
            retry_after_s=WINDOW_S,
        )


def check_login_rate(ip_hash: str) -> None:
    """Admin login attempts per network: slows password guessing to a crawl."""
    if not _hit(f"login:{ip_hash}", settings.ARENA_ADMIN_LOGINS_PER_MINUTE_IP):
        raise ArenaError(
            429, "rate_limited", _("Too many login attempts. Please wait a minute."), retry_after_s=WINDOW_S
        )


def check_computation_rate(ip_hash: str) -> None:
    """Leaderboard tables computed on demand (filters) per network: each costs a bootstrap."""
    if not _hit(f"lb:{ip_hash}", settings.LEADERBOARD_COMPUTES_PER_MINUTE_IP):
        raise ArenaError(
            429,
            "rate_limited",
            _(
                "Too many filtered leaderboards asked in a minute. Please wait a "
                "moment, or use the unfiltered leaderboard."
            ),
            retry_after_s=WINDOW_S,
        )


# An open socket is counted for at most this long: a process that died without running
# its disconnect handler cannot hold slots for ever.
SOCKET_SLOT_TTL_S = 3600


def open_socket_slots(visitor_id: str, ip_hash: str | None) -> list[str] | None:
    """Count one more open WebSocket for the visitor and their network; None (and nothing
    counted) when either is at its cap. The keys returned are released on disconnect."""
    keys = [(f"ws:v:{visitor_id}", settings.ARENA_MAX_SOCKETS_PER_VISITOR)]
    if ip_hash:
        keys.append((f"ws:ip:{ip_hash}", settings.ARENA_MAX_SOCKETS_PER_IP))
    taken = []
    for key, cap in keys:
        cache.add(key, 0, timeout=SOCKET_SLOT_TTL_S)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=SOCKET_SLOT_TTL_S)
            count = 1
        taken.append(key)
        if count > cap:
            close_socket_slots(taken)
            return None
    return taken


def close_socket_slots(keys: list[str]) -> None:
    for key in keys:
        try:
            if cache.decr(key) < 0:
                cache.set(key, 0, timeout=SOCKET_SLOT_TTL_S)
        except ValueError:  # already expired
            pass
