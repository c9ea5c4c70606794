from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from chat import keys  # noqa: F401  (connects the key snapshot's signal receivers)
