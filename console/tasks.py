from __future__ import annotations

from django.utils import timezone


def heartbeat() -> str:
    """A no-op the worker runs every minute; /api/health reads when it last ran."""
    return timezone.now().isoformat()
