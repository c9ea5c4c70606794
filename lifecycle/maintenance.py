"""Maintenance: how a restore gets every web worker to stop taking work and write its
usage rows before the safety backup (DESIGN.md "Backup and restore").

The restorer (`during_maintenance()`, in whichever process runs the restore) sets
`maintenance_until` on the change signal. Each web worker's watcher (`watch()`, started
in the ASGI lifespan) sees it within CHECK_SECONDS; from then on MaintenanceMiddleware
answers /v1 and /api with 503 `maintenance` and Retry-After. The worker holds a marker
(a coordination lease named for this maintenance) while the requests it had already
admitted finish — up to SHUTDOWN_GRACE_SECONDS, after which open streams are ended — and
its usage writer has written their rows; then it releases the marker. The restorer waits
SETTLE_SECONDS (so every worker has seen the flag and taken its marker) and then until no
marker is held, and only then takes the safety backup and swaps.

A worker that dies while holding its marker only makes the restorer wait until the
marker expires (the grace); the marker names its maintenance, so a stale one from an
earlier restore (or inside a restored database) is never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from coordination import changes, leases
from lifecycle.draining import drain

logger = logging.getLogger("switchboard.lifecycle")

MAINTENANCE = "maintenance"
# Long enough for every worker to read the flag (changes.CHECK_SECONDS) and hold its
# marker; tests with no worker to wait for set it to 0.
SETTLE_SECONDS = changes.CHECK_SECONDS + 0.5
# How far ahead maintenance_until is set: a restorer that dies mid-way leaves the
# instance in maintenance no longer than this.
EXTRA_SECONDS = 60.0
WRITER_FLUSH_SECONDS = 10.0
GUARDED_PREFIXES = ("/v1/", "/api/")
# The API's own description reads no data: it stays up, and needs no database.
UNGUARDED = ("/api/docs", "/api/openapi.json")


# --- requests in flight in this worker -------------------------------------------------


@dataclass(eq=False)
class Slot:
    """One HTTP request this worker is serving."""

    counted: bool = True
    done: bool = False


_slot: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("request_slot", default=None)
_in_flight: set[Slot] = set()


async def counted(call: Awaitable[None]) -> None:
    """Run one request's ASGI call, known as in flight meanwhile (config.asgi)."""
    slot = Slot()
    _in_flight.add(slot)
    token = _slot.set(slot)
    try:
        await call
    finally:
        slot.done = True
        _in_flight.discard(slot)
        _slot.reset(token)


def exempt_current_request() -> None:
    """The request running a restore: the drain must not wait for it."""
    slot = _slot.get()
    if slot is not None:
        slot.counted = False


# --- the web worker's side -------------------------------------------------------------


def _stamp(until: datetime) -> str:
    return f"drain {until.isoformat()} "


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def watch() -> None:
    """Run for the life of a web worker: drain once for each maintenance it sees."""
    handled: datetime | None = None
    while True:
        await asyncio.sleep(changes.CHECK_SECONDS)
        try:
            token = await changes.acurrent()
        except DatabaseError:  # the database is down: nothing to coordinate through
            logger.warning("maintenance watch: cannot read the change signal", exc_info=True)
            continue
        until = token.maintenance_until
        if token.in_maintenance() and until != handled:
            handled = until
            await _drain_for(until)  # type: ignore[arg-type]


async def _drain_for(until: datetime) -> None:
    name = _stamp(until) + worker_name()
    admitted = {slot for slot in _in_flight if slot.counted}
    await sync_to_async(leases.hold)(
        name, timezone.now() + timedelta(seconds=_grace() + 10), worker_name()
    )
    try:
        deadline = time.monotonic() + _grace()
        while any(slot.counted and not slot.done for slot in admitted):
            if time.monotonic() >= deadline:
                ended = drain.interrupt_streams(MAINTENANCE)
                logger.warning("maintenance: ended %d stream(s) still open", ended)
                await asyncio.sleep(1.0)
                break
            await asyncio.sleep(0.05)
        import usage

        if not await asyncio.to_thread(usage.flush, WRITER_FLUSH_SECONDS):
            logger.error("maintenance: usage rows were not all written before the restore")
    finally:
        await sync_to_async(leases.release)(name)


def _grace() -> float:
    return float(settings.SHUTDOWN_GRACE_SECONDS)


def start() -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(watch(), name="maintenance-watch")


# --- the restorer's side ---------------------------------------------------------------


class DrainTimedOut(Exception):
    """Some worker did not finish its requests in time; the message says which."""


@contextlib.contextmanager
def during_maintenance() -> Iterator[None]:
    """Every web worker of every instance on this database stops taking /v1 and /api
    requests and has written the usage rows of those it took; maintenance ends on exit,
    whatever happened inside."""
    until = timezone.now() + timedelta(seconds=_grace() + SETTLE_SECONDS + EXTRA_SECONDS)
    changes.set_maintenance(until)
    exempt_current_request()
    try:
        _wait_for_workers(until)
        yield
    finally:
        changes.set_maintenance(None)


def _wait_for_workers(until: datetime) -> None:
    time.sleep(SETTLE_SECONDS)
    deadline = time.monotonic() + _grace() + 10
    busy = leases.held(_stamp(until))
    while busy and time.monotonic() < deadline:
        time.sleep(0.1)
        busy = leases.held(_stamp(until))
    if busy:
        logger.warning("maintenance: going ahead without %s (still draining)", ", ".join(busy))


# --- answering while in maintenance ----------------------------------------------------


def refusal(path: str, until: datetime) -> HttpResponse:
    """503 `maintenance`: OpenAI's error shape on /v1, the management API's on /api."""
    retry_after = max(1, int((until - timezone.now()).total_seconds() + 0.999))
    message = "Switchboard is restoring a backup; retry in a moment."
    if path.startswith("/v1/"):
        body: dict[str, Any] = {
            "error": {
                "message": message,
                "type": "server_error",
                "param": None,
                "code": MAINTENANCE,
            }
        }
    else:
        body = {"detail": message, "code": MAINTENANCE}
    response = HttpResponse(orjson.dumps(body), content_type="application/json", status=503)
    response["Retry-After"] = str(retry_after)
    return response


def guarded(path: str) -> bool:
    return path.startswith(GUARDED_PREFIXES) and not path.startswith(UNGUARDED)


class MaintenanceMiddleware:
    """Refuses /v1 and /api while maintenance lasts, from the change signal's cached token
    (no database read per request)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        if guarded(request.path):
            try:
                token = changes.current()
            except DatabaseError:  # no restore can run either; /api/health says what is wrong
                return self.get_response(request)
            if token.in_maintenance():
                return refusal(request.path, token.maintenance_until)  # type: ignore[arg-type]
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        if guarded(request.path):
            try:
                token = await changes.acurrent()
            except DatabaseError:
                return await self.get_response(request)
            if token.in_maintenance():
                return refusal(request.path, token.maintenance_until)  # type: ignore[arg-type]
        return await self.get_response(request)
