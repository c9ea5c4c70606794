from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from coordination import changes
from providers.config_backup import write_config_backup
from providers.models import ModelInfo, Provider

# Sent (sender=Provider, provider_id=...) when health or cooldown changes through a
# queryset update(), which fires no post_save: the routing snapshot listens to it.
provider_state_changed = Signal()

# Health fields change on every probe; they are state, not configuration, and do not
# warrant a config backup rewrite.
HEALTH_FIELDS = frozenset(
    {
        "status",
        "latency_ms",
        "last_tested_at",
        "consecutive_failures",
        "is_healthy",
        "cooldown_until",
        "updated_at",
    }
)


def is_health_only(update_fields: Any) -> bool:
    return bool(update_fields) and set(update_fields) <= HEALTH_FIELDS


@receiver(post_save, sender=Provider, dispatch_uid="providers.config_backup.save")
def provider_saved(sender: type, instance: Provider, update_fields: Any = None, **kw: Any) -> None:
    if is_health_only(update_fields):
        return
    transaction.on_commit(write_config_backup)


@receiver(post_delete, sender=Provider, dispatch_uid="providers.config_backup.delete")
def provider_deleted(sender: type, instance: Provider, **kwargs: Any) -> None:
    transaction.on_commit(write_config_backup)


@receiver(post_save, sender=ModelInfo, dispatch_uid="providers.prices.save")
@receiver(post_delete, sender=ModelInfo, dispatch_uid="providers.prices.delete")
def price_changed(sender: type, **kwargs: Any) -> None:
    # Processes remember catalog prices for budget reservations (usage.spend.Prices).
    changes.bump()
