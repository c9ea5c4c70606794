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


def spent_usd(key_id: int) -> Decimal:
    """What a key's usage rows add up to."""
    from usage.spend import spent_usd as _spent

    return _spent(key_id)
