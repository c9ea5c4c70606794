"""Usage records for /v1, written off the request path in batches.

The request thread only appends a Draft to a queue (no database, no thread hop); one
writer thread per process turns what has queued into rows with a single bulk insert,
reusing its database connection. Measured before this existed, writing each row in the
response's close step serialized every request behind a fresh SQLite connection.

At exit the queue is drained (atexit), so a clean stop loses nothing; a crash can lose at
most the last FLUSH_SECONDS of records.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from django.db import DatabaseError, IntegrityError, close_old_connections

from usage.models import UsageLog
from usage.recording import Draft, counted, price_for, row_for

if TYPE_CHECKING:
    from providers.catalog import Price

logger = logging.getLogger("switchboard.usage")

FLUSH_SECONDS = 0.2
BATCH_SIZE = 500
PRICE_TTL_SECONDS = 60.0


class _Prices:
    """Catalog prices remembered for a minute, so a batch costs one lookup per model."""

    def __init__(self) -> None:
        self._known: dict[tuple[int | None, str], tuple[float, Price | None]] = {}

    def get(self, provider_id: int | None, model: str) -> Price | None:
        key = (provider_id, model)
        now = time.monotonic()
        hit = self._known.get(key)
        if hit is None or now - hit[0] > PRICE_TTL_SECONDS:
            hit = (now, price_for(provider_id, model))
            self._known[key] = hit
        return hit[1]


class UsageWriter:
    def __init__(self) -> None:
        self._queue: queue.Queue[Draft] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._prices = _Prices()

    def submit(self, draft: Draft) -> None:
        self._idle.clear()
        self._queue.put(draft)
        if self._thread is None or not self._thread.is_alive():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + FLUSH_SECONDS
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception:  # the writer must outlive any one bad batch
                logger.exception("usage writer failed on a batch of %d", len(batch))
            if self._queue.empty():
                self._idle.set()

    def _write(self, batch: list[Draft]) -> None:
        close_old_connections()
        rows = [row_for(draft, self._prices.get(draft.provider_id, draft.model)) for draft in batch]
        try:
            UsageLog.objects.bulk_create(rows)
        except IntegrityError:
            rows = self._write_one_by_one(rows)
        except DatabaseError:
            logger.exception("could not write %d usage records", len(rows))
            return
        for row in rows:
            counted(row)

    def _write_one_by_one(self, rows: list[UsageLog]) -> list[UsageLog]:
        """A key or user deleted while its request ran: keep the row, drop the link."""
        written = []
        for row in rows:
            try:
                row.save()
            except IntegrityError:
                row.api_key_id = row.user_id = None
                row.save()
            written.append(row)
        return written

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        return self._idle.wait(timeout)


writer = UsageWriter()
atexit.register(writer.flush, 5.0)
