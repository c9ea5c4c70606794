"""Counters shared across processes through the cache, usable from async code.

With REDIS_URL they are Redis INCRs on an asyncio client (one per event loop), so the loop
never blocks on the network; without Redis they live in the local-memory cache, whose incr
is atomic within the process.
"""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings
from django.core.cache import cache

PREFIX = "switchboard:counter:"

_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object] = (
    weakref.WeakKeyDictionary()
)


def _redis():  # type: ignore[no-untyped-def]
    import redis.asyncio as redis

    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        _redis_clients[loop] = client
    return client


async def incr(key: str, ttl_seconds: int) -> int:
    """Increment and return the counter; it expires ttl_seconds after its creation."""
    if settings.REDIS_URL:
        client = _redis()
        async with client.pipeline(transaction=True) as pipe:  # type: ignore[attr-defined]
            pipe.incr(PREFIX + key)
            pipe.expire(PREFIX + key, ttl_seconds, nx=True)
            value, _ = await pipe.execute()
        return int(value)
    cache.add(PREFIX + key, 0, timeout=ttl_seconds)
    try:
        return cache.incr(PREFIX + key)
    except ValueError:  # expired between add and incr
        cache.add(PREFIX + key, 1, timeout=ttl_seconds)
        return 1
