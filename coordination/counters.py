"""Counters exact across every web worker and instance: round-robin positions, rpm
windows and budget spend.

With REDIS_URL they are atomic Redis operations (INCR, and a Lua script for budget
reservations) on keys namespaced by the database's id (coordination.changes) and each
given a TTL, so a fresh or restored database never inherits another's counts. Without
Redis they live in this process under a lock, which is exact because `serve` refuses more
than one web worker without Redis (DESIGN.md "State shared across processes").

A Redis outage is not a gateway outage: the operation falls back to the in-process
counters, the fault is logged once, `degraded()` says so (for /api/health), and Redis is
tried again every RETRY_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from coordination import changes

logger = logging.getLogger("switchboard.coordination")

RETRY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5

# KEYS[1] the spend counter; ARGV amount, limit, ttl. Returns {-1, 0} when the counter is
# unknown (seed it from the database first), {0, spent} when the amount does not fit,
# {1, spent after} when it was reserved.
RESERVE_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return {-1, 0} end
v = tonumber(v)
local amount = tonumber(ARGV[1])
if v >= tonumber(ARGV[2]) or v + amount > tonumber(ARGV[2]) then return {0, v} end
v = redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, v}
"""
# Adds ARGV[1] to a counter that exists; a missing one is seeded from the database
# (which already holds the row being settled) on its next use.
SETTLE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    admitted: bool
    spent: int  # the counter's value: after the reservation, or when refused before it
    key: str  # the full counter key, to settle against even if the namespace changes


class LocalCounters:
    """In-process counters with expiry, under one lock (microseconds: no thread hop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}

    def _get(self, key: str, now: float) -> int | None:
        found = self._values.get(key)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def incr(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        with self._lock:
            value = (self._get(key, now) or 0) + 1
            expires = self._values[key][1] if value > 1 else now + ttl
            self._values[key] = (value, expires)
            return value

    def peek(self, key: str) -> int:
        with self._lock:
            return self._get(key, time.monotonic()) or 0

    def reserve(self, key: str, amount: int, limit: int, ttl: int) -> Reservation | None:
        now = time.monotonic()
        with self._lock:
            value = self._get(key, now)
            if value is None:
                return None
            if value >= limit or value + amount > limit:
                return Reservation(False, value, key)
            self._values[key] = (value + amount, now + ttl)
            return Reservation(True, value + amount, key)

    def seed(self, key: str, value: int, ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            if self._get(key, now) is None:
                self._values[key] = (value, now + ttl)

    def settle(self, key: str, delta: int, ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            value = self._get(key, now)
            if value is not None:
                self._values[key] = (value + delta, now + ttl)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class RedisCounters:
    def __init__(self, url: str) -> None:
        options = {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        }
        self._url = url
        self._options = options
        self._client = redis.Redis.from_url(url, **options)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _aclient(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(self._url, **self._options)
            self._async[loop] = client
        return client

    def ping(self) -> None:
        self._client.ping()

    def incr(self, key: str, ttl: int) -> int:
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        value, _ = pipe.execute()
        return int(value)

    async def aincr_many(self, keys: list[str], ttl: int) -> list[int]:
        pipe = self._aclient().pipeline(transaction=True)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, ttl, nx=True)
        values = await pipe.execute()
        return [int(value) for value in values[::2]]

    def peek_many(self, keys: list[str]) -> list[int]:
        return [int(v or 0) for v in self._client.mget(keys)] if keys else []

    async def areserve(self, key: str, amount: int, limit: int, ttl: int) -> Reservation | None:
        code, value = await self._aclient().eval(RESERVE_LUA, 1, key, amount, limit, ttl)
        if int(code) < 0:
            return None
        return Reservation(bool(int(code)), int(value), key)

    async def aseed(self, key: str, value: int, ttl: int) -> None:
        await self._aclient().set(key, value, ex=ttl, nx=True)

    def settle(self, key: str, delta: int, ttl: int) -> None:
        self._client.eval(SETTLE_LUA, 1, key, delta, ttl)


class SharedCounters:
    """Redis when configured and reachable, else this process's counters."""

    def __init__(self) -> None:
        self.local = LocalCounters()
        self._remotes: dict[str, RedisCounters] = {}
        self._down_until = 0.0
        self._degraded = False

    def _remote(self) -> RedisCounters | None:
        url = settings.REDIS_URL
        if not url or time.monotonic() < self._down_until:
            return None
        remote = self._remotes.get(url)
        if remote is None:
            remote = self._remotes.setdefault(url, RedisCounters(url))
        return remote

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + RETRY_SECONDS
        if not self._degraded:
            self._degraded = True
            logger.error(
                "Redis is unreachable (%s): counting in this process until it is back",
                type(exc).__name__,
            )

    def _ok(self) -> None:
        if self._degraded:
            self._degraded = False
            logger.warning("Redis is reachable again: counters are shared again")

    def degraded(self) -> bool:
        return bool(settings.REDIS_URL) and self._degraded

    def ping(self) -> bool | None:
        """Whether Redis answers now (None without REDIS_URL); a failure counts as an
        outage like any other."""
        if not settings.REDIS_URL:
            return None
        remote = self._remotes.get(settings.REDIS_URL) or self._remotes.setdefault(
            settings.REDIS_URL, RedisCounters(settings.REDIS_URL)
        )
        try:
            remote.ping()
        except RedisError as exc:
            self._failed(exc)
            return False
        self._ok()
        self._down_until = 0.0
        return True

    @staticmethod
    def key(namespace: str, name: str) -> str:
        return f"sb:{namespace}:{name}"

    def incr(self, name: str, ttl: int) -> int:
        key = self.key(changes.current().namespace, name)
        remote = self._remote()
        if remote is not None:
            try:
                value = remote.incr(key, ttl)
            except RedisError as exc:
                self._failed(exc)
            else:
                self._ok()
                return value
        return self.local.incr(key, ttl)

    async def aincr_many(self, names: list[str], ttl: int) -> list[int]:
        namespace = (await changes.acurrent()).namespace
        keys = [self.key(namespace, name) for name in names]
        remote = self._remote()
        if remote is not None:
            try:
                values = await remote.aincr_many(keys, ttl)
            except RedisError as exc:
                self._failed(exc)
            else:
                self._ok()
                return values
        return [self.local.incr(key, ttl) for key in keys]

    def peek_many(self, names: list[str]) -> list[int]:
        namespace = changes.current().namespace
        keys = [self.key(namespace, name) for name in names]
        remote = self._remote()
        if remote is not None:
            try:
                return remote.peek_many(keys)
            except RedisError as exc:
                self._failed(exc)
        return [self.local.peek(key) for key in keys]

    async def areserve(
        self, name: str, amount: int, limit: int, ttl: int, initial: Callable[[], int]
    ) -> Reservation:
        """Add `amount` to the counter if the total stays within `limit`. A counter not
        known yet starts at `initial()` (run in a thread: it may read the database)."""
        key = self.key((await changes.acurrent()).namespace, name)
        for _ in range(3):
            remote = self._remote()
            if remote is not None:
                try:
                    found = await remote.areserve(key, amount, limit, ttl)
                    if found is None:
                        await remote.aseed(key, await sync_to_async(initial)(), ttl)
                        found = await remote.areserve(key, amount, limit, ttl)
                except RedisError as exc:
                    self._failed(exc)
                    continue
                self._ok()
                if found is not None:
                    return found
                continue
            found = self.local.reserve(key, amount, limit, ttl)
            if found is None:
                self.local.seed(key, await sync_to_async(initial)(), ttl)
                found = self.local.reserve(key, amount, limit, ttl)
            if found is not None:
                return found
        # The counter vanished three times in a row (expiring as it is seeded): admit
        # rather than refuse a paying client on our own fault; the row still counts.
        return Reservation(True, 0, key)

    def settle(self, key: str, delta: int, ttl: int) -> None:
        """Correct a counter by `delta` (real cost minus what was reserved) if it exists."""
        if not delta:
            return
        remote = self._remote()
        if remote is not None:
            try:
                remote.settle(key, delta, ttl)
            except RedisError as exc:
                self._failed(exc)
            else:
                self._ok()
                return
        self.local.settle(key, delta, ttl)

    def spend_key(self, name: str) -> str:
        return self.key(changes.current().namespace, name)

    def reset_local(self) -> None:
        """Tests: forget this process's counters."""
        self.local.clear()
        self._down_until = 0.0
        self._degraded = False


shared = SharedCounters()


def incr(name: str, ttl: int) -> int:
    return shared.incr(name, ttl)


async def aincr(name: str, ttl: int) -> int:
    return (await shared.aincr_many([name], ttl))[0]


async def aincr_many(names: Iterable[str], ttl: int) -> dict[str, int]:
    unique = list(dict.fromkeys(names))
    if not unique:
        return {}
    return dict(zip(unique, await shared.aincr_many(unique, ttl), strict=True))


def peek_many(names: Iterable[str]) -> dict[str, int]:
    unique = list(dict.fromkeys(names))
    return dict(zip(unique, shared.peek_many(unique), strict=True))


async def areserve(
    name: str, amount: int, limit: int, ttl: int, initial: Callable[[], int]
) -> Reservation:
    return await shared.areserve(name, amount, limit, ttl, initial)


def settle(key: str, delta: int, ttl: int) -> None:
    shared.settle(key, delta, ttl)


def degraded() -> bool:
    return shared.degraded()


def ping() -> bool | None:
    return shared.ping()
