"""Usage records for /v1, written off the request path in batches.

The request thread only appends a Draft to a queue (no database, no thread hop); one
writer thread per process turns what has queued into rows with a single bulk insert,
reusing its database connection. Measured before this existed, writing each row in the
response's close step serialized every request behind a fresh SQLite connection.

Nothing it was given is dropped: a batch the database refuses is retried with backoff,
and when the database stays down it is spilled to a file under DATA_DIR (usage.spill)
that the next start replays. A stop calls `close()` explicitly (the web worker's
lifespan shutdown), which writes or spills every record before the process exits; only a
crash (SIGKILL) can lose what was still queued, at most the last FLUSH_SECONDS.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from pathlib import Path

from django.db import DatabaseError, IntegrityError, close_old_connections, connection

from usage import spend, spill
from usage.models import UsageLog
from usage.recording import Draft, row_for, written

logger = logging.getLogger("switchboard.usage")

FLUSH_SECONDS = 0.2
BATCH_SIZE = 500
# A failed batch is tried again after 0.1, 0.2, 0.4 ... s (at most 2 s apart) for up to
# RETRY_SECONDS; a database down longer than that is an outage, not a hiccup.
RETRY_FIRST_DELAY = 0.1
RETRY_MAX_DELAY = 2.0
RETRY_SECONDS = 10.0


class UsageWriter:
    def __init__(self) -> None:
        # Each record with its journal segment (-1: not journaled); None asks to stop.
        self._queue: queue.Queue[tuple[Draft, int] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Records submitted and not yet written or spilled; flush() waits for zero.
        self._pending = 0
        self._settled = threading.Condition()
        # Set by close(): no time left to retry, spill instead.
        self._closing = threading.Event()
        # The last batch was spilled: the next tries once before spilling too.
        self._database_down = False
        self._journal: spill.Journal | None = None

    def keep_journal(self, folder: Path) -> None:
        """From now on, every record is in a file until it is written (usage.spill), so
        a kill of this process loses none; the web workers turn this on."""
        with self._settled:
            self._journal = spill.Journal(folder)

    def submit(self, draft: Draft) -> None:
        with self._settled:
            self._pending += 1
            segment = self._journaled(draft)
        self._queue.put((draft, segment))
        if self._thread is None or not self._thread.is_alive():
            self._start()

    def _journaled(self, draft: Draft) -> int:
        if self._journal is None:
            return -1
        try:
            return self._journal.add(draft)
        except OSError:
            logger.exception("cannot journal usage records any more; a kill may lose some")
            self._journal = None
            return -1

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            entries = self._next_batch()
            if not entries:  # stop(): nothing is left to write
                connection.close()
                return
            try:
                self._settle([draft for draft, _ in entries])
            finally:
                self._forget(entries)

    def _forget(self, entries: list[tuple[Draft, int]]) -> None:
        """The batch is written or spilled: drop it from the count and the journal."""
        with self._settled:
            self._pending -= len(entries)
            if self._journal is not None:
                for segment, count in collections.Counter(s for _, s in entries).items():
                    if segment >= 0:
                        self._journal.settled(segment, count)
            self._settled.notify_all()

    def _next_batch(self) -> list[tuple[Draft, int]]:
        """What has queued within FLUSH_SECONDS of the first record; [] after stop()."""
        first = self._queue.get()
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + FLUSH_SECONDS
        while len(batch) < BATCH_SIZE:
            try:
                entry = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if entry is None:
                self._queue.put(None)  # the stop comes after this batch
                break
            batch.append(entry)
        return batch

    def _settle(self, batch: list[Draft]) -> None:
        """Write the batch, retrying with backoff; spill it when that does not work."""
        delay = RETRY_FIRST_DELAY
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                self._write(batch)
            except DatabaseError as exc:
                failure: Exception = exc
            except Exception as exc:  # a bug, not an outage: keep the records for a fix
                logger.exception("usage writer failed on a batch of %d", len(batch))
                failure = exc
                break
            else:
                self._database_down = False
                return
            if self._closing.is_set() or self._database_down:
                break
            if time.monotonic() + delay > deadline:
                break
            logger.warning(
                "could not write %d usage records (%s); retrying in %.1f s",
                len(batch),
                type(failure).__name__,
                delay,
            )
            self._closing.wait(delay)  # close() cuts the wait short
            delay = min(delay * 2, RETRY_MAX_DELAY)
        self._database_down = True
        self._spill(batch, failure)

    def _spill(self, batch: list[Draft], failure: Exception) -> None:
        try:
            path = spill.save(batch)
        except OSError:
            logger.exception("LOST %d usage records: could not spill them either", len(batch))
            return
        logger.error(
            "the database refused %d usage records (%s: %s); kept in %s, written at the next start",
            len(batch),
            type(failure).__name__,
            failure,
            path,
        )

    def _write(self, batch: list[Draft]) -> None:
        """Raises DatabaseError when the batch was not written (the caller retries)."""
        close_old_connections()
        rows = [row_for(draft, spend.prices.get(draft.provider_id, draft.model)) for draft in batch]
        try:
            UsageLog.objects.bulk_create(rows)
        except IntegrityError:
            rows = self._write_one_by_one(rows)
        written(list(zip(rows, batch, strict=True)))

    def _write_one_by_one(self, rows: list[UsageLog]) -> list[UsageLog]:
        """A key or user deleted while its request ran: keep the row, drop the link."""
        saved = []
        for row in rows:
            try:
                row.save()
            except IntegrityError:
                row.api_key_id = row.user_id = None
                row.save()
            saved.append(row)
        return saved

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record submitted so far is written (or spilled); False when
        `timeout` passed first."""
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float) -> bool:
        """At shutdown: write what is queued for up to `timeout`, then spill the rest
        instead of retrying. True when nothing was lost."""
        if not self.flush(timeout):
            self._closing.set()
            if not self.flush(CLOSE_SPILL_SECONDS):
                return False
        with self._settled:
            if self._journal is not None:
                self._journal.close()
        self.stop()
        return True

    def stop(self) -> None:
        """End the writer thread once what is queued is settled, closing its database
        connection; a later submit() starts a new one."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(CLOSE_SPILL_SECONDS)

    def replay_spilled(self) -> int:
        """Queue the records spilled, or journaled and left behind, by earlier processes;
        returns how many. Each file is removed once its records are settled again
        (written, or spilled anew)."""
        count = 0
        for path in spill.claim():
            try:
                drafts = spill.load(path)
            except (OSError, ValueError, TypeError):
                logger.exception("could not read the spilled usage records in %s", path)
                path.rename(path.with_name(path.name + ".unreadable"))
                continue
            if spill.is_journal(path):
                drafts = _not_yet_written(drafts)
            for draft in drafts:
                self.submit(draft)
            self.flush(timeout=None)
            spill.release(path)
            count += len(drafts)
        if count:
            logger.info("replayed %d spilled usage records", count)
        return count


def _not_yet_written(drafts: list[Draft]) -> list[Draft]:
    """A journal may end with records whose batch was committed just before the kill."""
    ids = sorted({draft.request_id for draft in drafts})
    known: set[str] = set()
    for start in range(0, len(ids), 500):  # within any database's parameter limit
        chunk = ids[start : start + 500]
        rows = UsageLog.objects.filter(request_id__in=chunk).values_list("request_id", flat=True)
        known.update(rows)
    return [draft for draft in drafts if draft.request_id not in known]


CLOSE_SPILL_SECONDS = 5.0
writer = UsageWriter()
