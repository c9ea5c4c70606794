"""In-process pictures of database state that the hot path reads instead of the database.

A `VersionedStore` holds one value built from the database and rebuilds it when the
change signal's version (coordination.changes) is not the one it was built at. The
version is read at most once a second per process, so another process's change shows
here within about a second and this process's own at once (bump() forgets the token).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from asgiref.sync import sync_to_async

from coordination import changes

T = TypeVar("T")


class VersionedStore(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._version: int | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Rebuild on the next read, whatever the signal says."""
        self._value = None
        self._version = None

    def _rebuild(self, version: int) -> T:
        with self._lock:
            if self._value is None or self._version != version:
                # The version was read before the data: a change landing in between
                # leaves this picture under the older version, rebuilt on the next check.
                self._value, self._version = self._build(), version
            return self._value

    def current(self) -> T:
        version = changes.current().version
        value = self._value
        if value is not None and self._version == version:
            return value
        return self._rebuild(version)

    async def acurrent(self) -> T:
        version = (await changes.acurrent()).version
        value = self._value
        if value is not None and self._version == version:
            return value
        return await sync_to_async(self._rebuild, thread_sensitive=True)(version)
