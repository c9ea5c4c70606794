"""Liveness and readiness: database reachability and when the task worker last ran."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max

from coordination import counters


def database_status() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}
    latency = round((time.perf_counter() - started) * 1000, 2)
    return {"ok": True, "vendor": connection.vendor, "latency_ms": latency}


def worker_last_seen() -> datetime | None:
    """The newest finished django-q2 task, success or failure: the heartbeat schedule
    runs every minute, so this is at most a minute old while the worker lives."""
    from django_q.models import Task

    try:
        return Task.objects.aggregate(last=Max("stopped"))["last"]
    except DatabaseError:
        return None


def report() -> tuple[int, dict[str, Any]]:
    """503 without a database; "degraded" while Redis is configured but unreachable (the
    gateway still serves, counting in each process: coordination.counters)."""
    database = database_status()
    last_seen = worker_last_seen() if database["ok"] else None
    redis_ok = counters.ping()
    status = "ok" if redis_ok is not False else "degraded"
    body = {
        "status": status if database["ok"] else "unavailable",
        "database": database,
        "redis": {"configured": redis_ok is not None, "ok": bool(redis_ok)},
        "worker": {"last_seen": last_seen.isoformat() if last_seen else None},
        "version": settings.SWITCHBOARD_VERSION,
    }
    return (200 if database["ok"] else 503), body
