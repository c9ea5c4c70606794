from __future__ import annotations

from django.utils import timezone


def heartbeat() -> str:
    """A no-op the worker runs every minute; /api/health reads when it last ran."""
    return timezone.now().isoformat()


def backup() -> str:
    """The daily database backup with retention (console.schedules)."""
    from console.backup import create_backup

    return str(create_backup())
