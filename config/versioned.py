"""In-process pictures of database state that the hot path reads instead of the database.

A `VersionedStore` holds one value built from the database and rebuilds it only when a
version number in the shared cache has changed. `bump()` (wired to save/delete signals by
whoever owns the data) writes a new version; every process compares it at most once per
`check_interval` seconds, so another process's change shows here within that interval and
this process's own at once. A missing version (a cleared or restarted cache) counts as a
change. Used for the routing snapshot and the gateway's key table.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from asgiref.sync import sync_to_async
from django.core.cache import cache

T = TypeVar("T")


def _new_version() -> int:
    return secrets.randbits(62)


class VersionedStore(Generic[T]):
    def __init__(self, version_key: str, build: Callable[[], T], check_interval: float = 1.0):
        self.version_key = version_key
        self.check_interval = check_interval
        self._build = build
        self._value: T | None = None
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Rebuild on the next read, whatever the cache says."""
        self._value = None
        self._version = None
        self._checked_at = float("-inf")

    def bump(self) -> None:
        """Tell every process (this one at once) that the data changed."""
        cache.set(self.version_key, _new_version(), timeout=None)
        self.forget()

    def _fresh(self) -> T | None:
        if self._value is not None and time.monotonic() - self._checked_at < self.check_interval:
            return self._value
        return None

    def _read_version(self) -> int:
        version = cache.get(self.version_key)
        if version is None:
            cache.add(self.version_key, _new_version(), timeout=None)
            version = cache.get(self.version_key)
        return int(version)

    async def _aread_version(self) -> int:
        version = await cache.aget(self.version_key)
        if version is None:
            await cache.aadd(self.version_key, _new_version(), timeout=None)
            version = await cache.aget(self.version_key)
        return int(version)

    def _rebuild(self, version: int) -> T:
        with self._lock:
            if self._value is None or self._version != version:
                self._value, self._version = self._build(), version
            return self._value

    def current(self) -> T:
        value = self._fresh()
        if value is not None:
            return value
        self._checked_at = time.monotonic()
        version = self._read_version()
        if self._value is not None and self._version == version:
            return self._value
        return self._rebuild(version)

    async def acurrent(self) -> T:
        value = self._fresh()
        if value is not None:
            return value
        # Marked before awaiting so concurrent requests keep using the old value instead
        # of all reading the version at once.
        self._checked_at = time.monotonic()
        version = await self._aread_version()
        if self._value is not None and self._version == version:
            return self._value
        return await sync_to_async(self._rebuild, thread_sensitive=True)(version)
