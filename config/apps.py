from __future__ import annotations

from django.apps import AppConfig


class SwitchboardConfig(AppConfig):
    """Process-wide start-up for the project package itself (no models)."""

    name = "config"
    label = "switchboard_config"
    verbose_name = "Switchboard"

    def ready(self) -> None:
        from config.tracing import configure_from_settings

        # Before the handler loads MIDDLEWARE: the Django instrumentation inserts its own.
        configure_from_settings()
