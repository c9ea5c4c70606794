"""Round-robin positions, shared by every process that shares the cache.

With REDIS_URL each position is a Redis key moved by INCR, atomic across instances;
the async path talks to Redis through redis.asyncio (one client per event loop) so the
loop never blocks. Without Redis there is one process to agree with, and the local
cache's incr under a process lock is enough. Either way the values live in the cache,
so clearing the cache resets the rotation.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterable

import redis
import redis.asyncio
from django.conf import settings
from django.core.cache import cache

KEY_PREFIX = "switchboard:routing:rr:"


def _key(name: str) -> str:
    return KEY_PREFIX + name


class RedisCounters:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._url = url
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(self._url)
            self._async[loop] = client
        return client

    def incr(self, name: str) -> int:
        return int(self._client.incr(_key(name)))

    async def aincr_many(self, names: list[str]) -> dict[str, int]:
        pipe = self._async_client().pipeline(transaction=False)
        for name in names:
            pipe.incr(_key(name))
        values = await pipe.execute()
        return {name: int(value) for name, value in zip(names, values, strict=True)}

    def peek_many(self, names: list[str]) -> dict[str, int]:
        values = self._client.mget([_key(name) for name in names]) if names else []
        return {name: int(v or 0) for name, v in zip(names, values, strict=True)}


class LocalCounters:
    """The process-local cache (locmem) under a lock: exact within one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def incr(self, name: str) -> int:
        key = _key(name)
        with self._lock:
            cache.add(key, 0, timeout=None)
            try:
                return int(cache.incr(key))
            except ValueError:  # evicted between add and incr
                cache.set(key, 1, timeout=None)
                return 1

    async def aincr_many(self, names: list[str]) -> dict[str, int]:
        # In-memory and lock-protected for microseconds: no thread hop needed.
        return {name: self.incr(name) for name in names}

    def peek_many(self, names: list[str]) -> dict[str, int]:
        found = cache.get_many([_key(name) for name in names])
        return {name: int(found.get(_key(name)) or 0) for name in names}


class Counters:
    """Picks the Redis or the local implementation from settings on first use."""

    def __init__(self) -> None:
        self._backends: dict[str, RedisCounters | LocalCounters] = {}
        self._lock = threading.Lock()

    def backend(self) -> RedisCounters | LocalCounters:
        url = settings.REDIS_URL
        found = self._backends.get(url)
        if found is None:
            with self._lock:
                found = self._backends.setdefault(
                    url, RedisCounters(url) if url else LocalCounters()
                )
        return found


counters = Counters()


def incr(name: str) -> int:
    """The next position for `name` (1, 2, 3... across every process sharing the cache)."""
    return counters.backend().incr(name)


async def aincr_many(names: Iterable[str]) -> dict[str, int]:
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    return await counters.backend().aincr_many(names)


def peek_many(names: Iterable[str]) -> dict[str, int]:
    """Current positions without moving them (0 for a counter never used)."""
    return counters.backend().peek_many(list(names))
