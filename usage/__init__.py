"""Usage accounting. Other apps call `usage.record(draft)` and `usage.spent_usd(key_id)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

    from usage.models import UsageLog
    from usage.recording import Draft


def record(draft: Draft) -> UsageLog | None:
    from usage.recording import record as _record

    return _record(draft)


def record_later(draft: Draft) -> None:
    """Queue a record for the batching writer: no database work on the caller's thread."""
    from usage.writer import writer

    writer.submit(draft)


def flush(timeout: float = 10.0) -> bool:
    """Wait until queued records are written."""
    from usage.writer import writer

    return writer.flush(timeout)


def close(timeout: float) -> bool:
    """At shutdown: every queued record written, or spilled to DATA_DIR for the next
    start; False when some were lost."""
    from usage.writer import writer

    return writer.close(timeout)


def keep_journal() -> None:
    """In a web worker: every queued record also in a file until written, so a kill of
    the process loses none (usage.spill)."""
    from usage import spill
    from usage.writer import writer

    writer.keep_journal(spill.spill_dir())


def replay_spilled() -> int:
    """At start: queue the records an earlier process spilled (usage.spill)."""
    from usage.writer import writer

    return writer.replay_spilled()


def spent_usd(key_id: int) -> Decimal:
    """What a key's usage rows add up to."""
    from usage.spend import spent_usd as _spent

    return _spent(key_id)
