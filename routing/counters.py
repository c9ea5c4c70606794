"""Round-robin positions, exact across every web worker and instance (coordination.counters:
Redis when configured, else this one process). A rotation unused for a day starts again."""

from __future__ import annotations

from collections.abc import Iterable

from coordination import counters

TTL_SECONDS = 86_400


def _name(key: str) -> str:
    return f"rr:{key}"


def incr(key: str) -> int:
    """The next position for `key` (1, 2, 3... across every process)."""
    return counters.incr(_name(key), TTL_SECONDS)


async def aincr_many(keys: Iterable[str]) -> dict[str, int]:
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    found = await counters.aincr_many([_name(key) for key in keys], TTL_SECONDS)
    return {key: found[_name(key)] for key in keys}


def peek_many(keys: Iterable[str]) -> dict[str, int]:
    """Current positions without moving them (0 for a rotation never used)."""
    keys = list(keys)
    found = counters.peek_many([_name(key) for key in keys])
    return {key: found[_name(key)] for key in keys}
