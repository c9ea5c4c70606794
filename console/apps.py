from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console.schedules import ensure_schedules

        # Schedules are rows; creating them here (not in ready() itself) keeps them
        # unique by name however often migrate runs.
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="console.schedules")
