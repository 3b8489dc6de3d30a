"""Rate limits with clear messages: prompts per minute per visitor and per IP, and
concurrent battles per visitor. Counters live in the cache (Redis when configured)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _


from .errors import ArenaError

WINDOW_S = 60


def _hit(key: str, limit: int, window_s: int = WINDOW_S) -> bool:
    """Count one hit in the current fixed window; False when over the limit."""
    bucket = int(time.time() // window_s)
    full_key = f"rl:{key}:{bucket}"
    cache.add(full_key, 0, timeout=window_s * 2)
    try:
        count = cache.incr(full_key)
    except ValueError:  # expired between add and incr
        cache.set(full_key, 1, timeout=window_s * 2)
        count = 1
    return count <= limit


def check_prompt_rate(visitor_id: str, ip_hash: str | None) -> None:
    if not _hit(f"v:{visitor_id}", settings.ARENA_PROMPTS_PER_MINUTE_VISITOR):
        raise ArenaError(429, "rate_limited", _("Too many prompts in a minute. Please wait a moment before sending "
                                                "another."), retry_after_s=WINDOW_S)
    if ip_hash and not _hit(f"ip:{ip_hash}", settings.ARENA_PROMPTS_PER_MINUTE_IP):
        raise ArenaError(429, "rate_limited", _("Too many prompts from your network in a minute. Please wait a "
                                                "moment."), retry_after_s=WINDOW_S)
