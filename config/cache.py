"""Django's Redis cache, degraded to a cache that misses while Redis is unreachable.

Everything the arena keeps in the cache can be lost: rate-limit counters (a limit is then not
enforced for the length of the outage: votes and battles go on), open-socket counts, computed
figures (computed again). Django's own `RedisCache` raises on every call while Redis restarts,
and each of those calls is a page or an API request answered 500. Here a read misses, a write
is dropped, `incr` raises `ValueError` as for a missing key (callers already handle that), and
each failure is logged."""

from __future__ import annotations

import functools
import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger("arena.cache")


def _degraded(fallback):
    """Run the cache operation; on a Redis error, log it and return `fallback(*args, **kwargs)`."""

    def wrap(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                log.warning("cache unavailable (%s: %s): %s degraded", type(exc).__name__, exc, method.__name__)
                return fallback(*args, **kwargs)

        return call

    return wrap


def _missing_key(*_args, **_kwargs):
    raise ValueError("cache unavailable: the key counts as missing")


class ResilientRedisCache(RedisCache):
    get = _degraded(lambda key, default=None, version=None: default)(RedisCache.get)
    get_many = _degraded(lambda *a, **k: {})(RedisCache.get_many)
    has_key = _degraded(lambda *a, **k: False)(RedisCache.has_key)
    add = _degraded(lambda *a, **k: False)(RedisCache.add)
    set = _degraded(lambda *a, **k: None)(RedisCache.set)
    set_many = _degraded(lambda data, *a, **k: list(data))(RedisCache.set_many)
    touch = _degraded(lambda *a, **k: False)(RedisCache.touch)
    delete = _degraded(lambda *a, **k: False)(RedisCache.delete)
    delete_many = _degraded(lambda *a, **k: None)(RedisCache.delete_many)
    incr = _degraded(_missing_key)(RedisCache.incr)
    clear = _degraded(lambda *a, **k: False)(RedisCache.clear)
