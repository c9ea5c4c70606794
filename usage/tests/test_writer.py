"""The batching usage writer loses nothing it was given: a refused batch is retried, a
database that stays down gets the records spilled to a private file, and the file is
replayed (once) at the next start."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError

from usage import spill
from usage import writer as writer_module
from usage.models import UsageLog
from usage.recording import Draft
from usage.writer import UsageWriter

pytestmark = pytest.mark.django_db(transaction=True)


def drafts(count: int, prefix: str = "r") -> list[Draft]:
    return [Draft(request_id=f"{prefix}{n}", model="m", prompt_tokens=n) for n in range(count)]


@pytest.fixture(autouse=True)
def _writers_stop(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every writer a test makes ends its thread (and database connection) after it."""
    made: list[UsageWriter] = []
    real_init = UsageWriter.__init__

    def init(self: UsageWriter) -> None:
        real_init(self)
        made.append(self)

    monkeypatch.setattr(UsageWriter, "__init__", init)
    yield
    for writer in made:
        writer.stop()


@pytest.fixture
def usage_writer() -> Iterator[UsageWriter]:
    yield UsageWriter()


@pytest.fixture
def database_refuses(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[int]]:
    """Make the next `times` bulk inserts of usage rows fail as a database that is down
    would (-1: every one); returns the sizes of the batches that were refused."""
    real = UsageLog.objects.bulk_create
    refused: list[int] = []

    def install(times: int) -> list[int]:
        def bulk_create(rows: list[UsageLog], *args: Any, **kwargs: Any) -> Any:
            if times < 0 or len(refused) < times:
                refused.append(len(rows))
                raise OperationalError("database is locked")
            return real(rows, *args, **kwargs)

        monkeypatch.setattr(UsageLog.objects, "bulk_create", bulk_create)
        return refused

    return install


def spilled_files() -> list[Path]:
    return sorted(p for p in spill.spill_dir().iterdir() if p.name.endswith(spill.SUFFIX))


def request_ids() -> list[str]:
    return sorted(UsageLog.objects.values_list("request_id", flat=True))


def test_flush_waits_for_records_submitted_while_a_batch_is_being_written(
    usage_writer: UsageWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    in_write = threading.Event()
    real_write = usage_writer._write

    def slow_write(batch: list[Draft]) -> None:
        in_write.set()
        gate.wait(5)
        real_write(batch)

    monkeypatch.setattr(usage_writer, "_write", slow_write)
    first, second = drafts(2)
    usage_writer.submit(first)
    assert in_write.wait(5)
    usage_writer.submit(second)  # queued behind the batch being written

    assert usage_writer.flush(timeout=0.3) is False
    gate.set()
    assert usage_writer.flush(timeout=5) is True
    assert request_ids() == ["r0", "r1"]


def test_a_batch_the_database_refuses_is_retried(
    usage_writer: UsageWriter, database_refuses: Callable[[int], list[int]]
) -> None:
    refused = database_refuses(1)
    for draft in drafts(3):
        usage_writer.submit(draft)

    assert usage_writer.flush(timeout=10)
    assert refused == [3]
    assert request_ids() == ["r0", "r1", "r2"]
    assert spilled_files() == []


def test_a_database_down_then_up_loses_nothing(
    usage_writer: UsageWriter, database_refuses: Callable[[int], list[int]]
) -> None:
    refused = database_refuses(4)  # 0.1 + 0.2 + 0.4 + 0.8 s of backoff
    for draft in drafts(5):
        usage_writer.submit(draft)

    assert usage_writer.flush(timeout=10)
    assert len(refused) == 4
    assert request_ids() == [f"r{n}" for n in range(5)]
    assert spilled_files() == []


def test_a_database_that_stays_down_gets_the_records_spilled_to_a_private_file(
    usage_writer: UsageWriter,
    database_refuses: Callable[[int], list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_module, "RETRY_SECONDS", 0.5)
    database_refuses(-1)
    for draft in drafts(3):
        usage_writer.submit(draft)

    assert usage_writer.flush(timeout=10)
    (path,) = spilled_files()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [d.request_id for d in spill.load(path)] == ["r0", "r1", "r2"]
    assert request_ids() == []


def test_close_spills_instead_of_retrying_when_time_is_up(
    usage_writer: UsageWriter, database_refuses: Callable[[int], list[int]]
) -> None:
    database_refuses(-1)  # RETRY_SECONDS (10 s) is longer than the close allows
    for draft in drafts(2):
        usage_writer.submit(draft)

    assert usage_writer.close(timeout=0.3) is True
    (path,) = spilled_files()
    assert [d.request_id for d in spill.load(path)] == ["r0", "r1"]


def test_spilled_records_are_written_by_the_next_start_and_the_file_removed(
    database_refuses: Callable[[int], list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "RETRY_SECONDS", 0.2)
    working = UsageLog.objects.bulk_create
    database_refuses(-1)
    crashed = UsageWriter()
    for draft in [*drafts(2), Draft(request_id="priced", model="m", stream=True)]:
        crashed.submit(draft)
    assert crashed.flush(timeout=10)
    assert request_ids() == []
    monkeypatch.setattr(UsageLog.objects, "bulk_create", working)  # the database is back

    restarted = UsageWriter()
    assert restarted.replay_spilled() == 3

    assert request_ids() == ["priced", "r0", "r1"]
    assert UsageLog.objects.get(request_id="priced").stream is True
    assert list(spill.spill_dir().iterdir()) == []
    assert UsageWriter().replay_spilled() == 0  # nothing is written twice


def test_a_file_another_process_is_replaying_is_left_to_it() -> None:
    path = spill.save(drafts(1))
    claimed = list(spill.claim())
    assert [p.name for p in claimed] == [f"{path.name}{spill.CLAIMED}{os.getpid()}"]

    assert list(spill.claim()) == []  # ours, and we are alive


def test_a_journaled_record_survives_the_process_being_killed(tmp_path: Path) -> None:
    killed = UsageWriter()
    killed.keep_journal(spill.spill_dir())
    gate = threading.Event()
    killed._write = lambda batch: gate.wait(10)  # type: ignore[method-assign, assignment]
    for draft in drafts(3, prefix="journaled"):
        killed.submit(draft)
    (journal,) = [p for p in spill.spill_dir().iterdir() if spill.is_journal(p)]
    # As left by a process that is gone: the same file under a dead process's tag.
    orphan = journal.with_name(f"journal-999999999-1-0{spill.JOURNAL}")
    journal.rename(orphan)
    UsageLog.objects.create(request_id="journaled0", model="m")  # its batch got in

    assert UsageWriter().replay_spilled() == 2

    assert request_ids() == ["journaled0", "journaled1", "journaled2"]
    assert not orphan.exists()
    gate.set()


def test_the_journal_is_emptied_once_its_records_are_written() -> None:
    journaling = UsageWriter()
    journaling.keep_journal(spill.spill_dir())
    for draft in drafts(4):
        journaling.submit(draft)

    assert journaling.flush(timeout=10)
    (journal,) = [p for p in spill.spill_dir().iterdir() if spill.is_journal(p)]
    assert journal.stat().st_size == 0
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert UsageWriter().replay_spilled() == 0  # our own, alive: not replayed
    assert request_ids() == ["r0", "r1", "r2", "r3"]


def test_a_clean_close_leaves_no_journal_behind() -> None:
    journaling = UsageWriter()
    journaling.keep_journal(spill.spill_dir())
    journaling.submit(drafts(1)[0])

    assert journaling.close(timeout=10)
    assert list(spill.spill_dir().iterdir()) == []
