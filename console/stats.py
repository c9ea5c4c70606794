"""Request statistics for /api/admin/stats, shared by every process through the cache.

With a shared cache (Redis) each process adds requests to a small in-memory buffer (a
dict update per request, so the /v1 hot path pays no round trip) and flushes it into the
cache at most once a second as atomic increments (Redis INCRBY), so several web workers
add into the same totals. Reading the stats flushes the reader's own buffer first; another
process's last second may show a moment late, and a killed process loses at most its last
second. The endpoint and status indexes are read-modify-writes re-checked on every flush,
and the recent-requests ring overwrites its oldest slots without a lock: both approximate
only for an instant, never the totals.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

PREFIX = "stats:"
RECENT_SLOTS = 50
FLUSH_SECONDS = 1.0
# Counters live a year without traffic; the cache never evicts them in normal operation.
TTL = 365 * 24 * 3600
_PROCESS_STARTED = time.time()


def _incr(key: str, delta: int = 1) -> int:
    full = PREFIX + key
    # add() is a no-op when the key exists, so the increment below never raises.
    cache.add(full, 0, TTL)
    try:
        return cache.incr(full, delta)
    except ValueError:  # evicted between add() and incr(): start again from this batch
        cache.set(full, delta, TTL)
        return delta


def _endpoint_key(method: str, route: str) -> str:
    return f"{method} {route}"


def _ep(endpoint: str, part: str) -> str:
    """Cache key of one endpoint counter: hashed, since routes hold spaces and brackets
    that some cache backends reject in keys."""
    digest = hashlib.sha1(endpoint.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"ep:{digest}:{part}"


def _remember(index: str, values: set[str] | set[int]) -> None:
    known = cache.get(PREFIX + index) or []
    missing = sorted(set(values) - set(known), key=str)
    if missing:
        cache.set(PREFIX + index, [*known, *missing], TTL)


class StatsBuffer:
    """This process's not-yet-flushed requests; one instance per process (`buffer`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._endpoints: set[str] = set()
        self._statuses: set[int] = set()
        self._recent: list[dict[str, Any]] = []
        self._flushed_at = time.monotonic()

    def add(self, endpoint: str, status: int, micros: int, entry: dict[str, Any]) -> bool:
        """Buffer one request; True when a flush is due."""
        is_error = int(status >= 400)
        with self._lock:
            counts = self._counts
            counts["requests"] += 1
            counts["duration_us"] += micros
            counts["errors"] += is_error
            counts[f"status:{status}"] += 1
            counts[_ep(endpoint, "requests")] += 1
            counts[_ep(endpoint, "duration_us")] += micros
            counts[_ep(endpoint, "errors")] += is_error
            self._endpoints.add(endpoint)
            self._statuses.add(status)
            self._recent = [*self._recent[-(RECENT_SLOTS - 1) :], entry]
            return time.monotonic() - self._flushed_at >= FLUSH_SECONDS

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
            endpoints, self._endpoints = self._endpoints, set()
            statuses, self._statuses = self._statuses, set()
            recent, self._recent = self._recent, []
            self._flushed_at = time.monotonic()
        if not counts["requests"]:
            return
        cache.add(PREFIX + "started_at", time.time(), TTL)
        for key, delta in counts.items():
            if delta:
                _incr(key, delta)
        _remember("endpoints", endpoints)
        _remember("statuses", statuses)
        last = _incr("recent:seq", len(recent))
        first = last - len(recent) + 1
        slots = {
            f"{PREFIX}recent:{number % RECENT_SLOTS}": entry
            for number, entry in zip(range(first, last + 1), recent, strict=True)
        }
        cache.set_many(slots, TTL)


buffer = StatsBuffer()


def record(
    method: str, path: str, route: str, status: int, duration_ms: float, request_id: str
) -> None:
    entry = {
        "at": timezone.now().isoformat(),
        "request_id": request_id,
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
    }
    endpoint = _endpoint_key(method, route)
    due = buffer.add(endpoint, status, int(duration_ms * 1000), entry)
    if due:
        # The cache (Redis) down: these seconds of statistics are dropped rather than
        # failing the request; coordination.counters logs the outage.
        with contextlib.suppress(RedisError):
            buffer.flush()


def _average(total_us: int, count: int) -> float:
    return round(total_us / count / 1000, 2) if count else 0.0


def _endpoints() -> list[dict[str, Any]]:
    names = cache.get(PREFIX + "endpoints") or []
    parts = ("requests", "errors", "duration_us")
    values = cache.get_many([PREFIX + _ep(name, part) for name in names for part in parts])
    rows = []
    for name in names:
        requests, errors, duration = (int(values.get(PREFIX + _ep(name, p), 0)) for p in parts)
        method, _, route = name.partition(" ")
        rows.append(
            {
                "method": method,
                "route": route,
                "requests": requests,
                "errors": errors,
                "error_rate": round(errors / requests, 4) if requests else 0.0,
                "avg_duration_ms": _average(duration, requests),
            }
        )
    return sorted(rows, key=lambda row: row["requests"], reverse=True)


def _recent() -> list[dict[str, Any]]:
    entries = cache.get_many([f"{PREFIX}recent:{slot}" for slot in range(RECENT_SLOTS)])
    return sorted(entries.values(), key=lambda entry: entry["at"], reverse=True)


def _status_codes() -> dict[str, int]:
    codes = cache.get(PREFIX + "statuses") or []
    values = cache.get_many([f"{PREFIX}status:{code}" for code in codes])
    return {
        str(code): int(values[f"{PREFIX}status:{code}"])
        for code in sorted(codes)
        if f"{PREFIX}status:{code}" in values
    }


def summary() -> dict[str, Any]:
    buffer.flush()
    now = time.time()
    started = cache.get(PREFIX + "started_at") or _PROCESS_STARTED
    counters = cache.get_many([PREFIX + k for k in ("requests", "errors", "duration_us")])
    requests = int(counters.get(PREFIX + "requests", 0))
    errors = int(counters.get(PREFIX + "errors", 0))
    return {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "uptime_seconds": round(now - started, 1),
        "process_uptime_seconds": round(now - _PROCESS_STARTED, 1),
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 4) if requests else 0.0,
        "avg_duration_ms": _average(int(counters.get(PREFIX + "duration_us", 0)), requests),
        "status_codes": _status_codes(),
        "endpoints": _endpoints(),
        "recent": _recent(),
    }
