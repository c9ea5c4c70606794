"""django-q2 jobs: plain, typed, idempotent functions named by dotted path in schedules."""

from __future__ import annotations

from typing import Any

from providers import catalog, health
from providers.config_backup import write_config_backup


def run_health_checks() -> dict[str, int]:
    """Probe every active provider, concurrently (console.schedules: every interval)."""
    return health.check_all()


def sync_catalog() -> dict[str, Any]:
    """Refresh the model catalog from every active provider (daily)."""
    return catalog.sync_catalog().as_dict()


def backup_config() -> str:
    """Rewrite DATA_DIR/config_backup.json (daily; changes also write it on commit)."""
    return str(write_config_backup())
