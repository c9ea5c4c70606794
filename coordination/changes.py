"""The change signal: one version number in the database that every process watches.

A change to providers, routes, keys, health or cooldowns, or a restore, made in any process
(a web worker, the task worker, `manage.py shell`) calls `bump()`, which writes a new
random version into the `State` row. Each process reads that row at most once per
`CHECK_SECONDS` and rebuilds its in-process pictures (coordination.versioned) when the
version differs, so a change is served everywhere within about a second, on SQLite without
Redis as much as on PostgreSQL. The same read carries the namespace of the shared counters
and the maintenance flag, so the hot path pays one small query per process per second and
nothing per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from coordination.models import State, new_namespace, new_version

logger = logging.getLogger("switchboard.coordination")

CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Token:
    version: int
    namespace: str
    maintenance_until: datetime | None = None

    def in_maintenance(self, now: datetime | None = None) -> bool:
        if self.maintenance_until is None:
            return False
        return self.maintenance_until > (now or timezone.now())


def _read() -> Token:
    row = State.objects.filter(pk=1).values_list("version", "namespace", "maintenance_until")
    found = row.first()
    if found is None:  # a database flushed or restored from before this app existed
        State.objects.get_or_create(pk=1)
        found = row.first()
        assert found is not None
    return Token(*found)


def _write(**fields: object) -> None:
    fields.setdefault("version", new_version())
    if not State.objects.filter(pk=1).update(updated_at=timezone.now(), **fields):
        State.objects.update_or_create(pk=1, defaults=fields)


class ChangeSignal:
    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self._token: Token | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._unreachable = False

    def forget(self) -> None:
        """Read the row again on the next use (this process changed it)."""
        self._token = None
        self._checked_at = float("-inf")

    def _fresh(self) -> Token | None:
        token = self._token
        if token is not None and time.monotonic() - self._checked_at < self.check_seconds:
            return token
        return None

    def _refresh(self) -> Token:
        try:
            token = _read()
        except DatabaseError:
            close_old_connections()  # a broken connection is reopened on the next try
            if self._token is None:
                raise
            if not self._unreachable:
                logger.warning("the database is unreachable: serving the last known state")
                self._unreachable = True
            return self._token
        if self._unreachable:
            logger.warning("the database is reachable again")
            self._unreachable = False
        self._token = token
        return token

    def current(self) -> Token:
        token = self._fresh()
        if token is not None:
            return token
        self._checked_at = time.monotonic()
        return self._refresh()

    async def acurrent(self) -> Token:
        token = self._fresh()
        if token is not None:
            return token
        # Marked before awaiting: concurrent requests keep the last token meanwhile
        # instead of all reading the row at once.
        self._checked_at = time.monotonic()
        return await sync_to_async(self._refresh)()

    def bump(self) -> None:
        """Tell every process (this one at once) that shared configuration changed."""
        _write()
        self._settled()

    def renew_namespace(self) -> None:
        """Start every shared counter afresh (after a restore): a new namespace and version."""
        _write(namespace=new_namespace())
        self._settled()

    def set_maintenance(self, until: datetime | None) -> None:
        _write(maintenance_until=until)
        self._settled()

    def _settled(self) -> None:
        self.forget()
        # Inside a transaction another process could read the row before the commit;
        # this process re-reads after it as well.
        transaction.on_commit(self.forget)


signal = ChangeSignal()


def current() -> Token:
    return signal.current()


async def acurrent() -> Token:
    return await signal.acurrent()


def bump() -> None:
    signal.bump()


def renew_namespace() -> None:
    signal.renew_namespace()


def set_maintenance(until: datetime | None) -> None:
    signal.set_maintenance(until)
