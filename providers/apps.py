from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProvidersConfig(AppConfig):
    name = "providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from providers import checks, signals  # noqa: F401  (registers checks and receivers)
        from providers.catalog import seed_openrouter

        # A row, so after migrate (idempotent), never at import or in ready() itself.
        post_migrate.connect(seed_openrouter, sender=self, dispatch_uid="providers.seed")
