"""A QuerySet whose `update()` moves the change signal.

Models the hot path keeps a picture of (providers, routes, nodes, keys) use it, so a bulk
update in any process (`manage.py shell`, a data fix, an admin action) reaches every web
worker like a save does; save and delete already bump through their model signals.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

from coordination import changes

M = TypeVar("M", bound=models.Model)


class SignallingQuerySet(models.QuerySet[M]):
    def update(self, **fields: Any) -> int:
        count = super().update(**fields)
        if count:
            changes.bump()
        return count

    def update_quietly(self, **fields: Any) -> int:
        """For fields no process keeps a picture of (timestamps, latency): no signal."""
        return super().update(**fields)
