"""Keep the routing snapshot and the JSON config backup in step with the database."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from providers.config_backup import write_config_backup
from providers.models import Provider
from providers.signals import provider_state_changed
from routing.models import Route, RouteNode
from routing.snapshot import bump, store


def snapshot_changed(**kwargs: Any) -> None:
    # The version row is written in the same transaction as the change, so no process
    # sees the new version before the data it stands for.
    bump()


for model in (Provider, Route, RouteNode):
    post_save.connect(snapshot_changed, sender=model, dispatch_uid=f"routing.bump.save.{model}")
    post_delete.connect(snapshot_changed, sender=model, dispatch_uid=f"routing.bump.del.{model}")
provider_state_changed.connect(snapshot_changed, dispatch_uid="routing.bump.state")


@receiver(post_save, sender=Route, dispatch_uid="routing.config_backup.route.save")
@receiver(post_delete, sender=Route, dispatch_uid="routing.config_backup.route.delete")
@receiver(post_save, sender=RouteNode, dispatch_uid="routing.config_backup.node.save")
@receiver(post_delete, sender=RouteNode, dispatch_uid="routing.config_backup.node.delete")
def route_changed(**kwargs: Any) -> None:
    transaction.on_commit(write_config_backup)


@receiver(setting_changed, dispatch_uid="routing.snapshot.setting_changed")
def settings_changed(**kwargs: Any) -> None:
    # Keys are decrypted into the snapshot (FIELD_ENCRYPTION_KEYS), and tests override
    # settings per test while their database rolls back: start from the database again.
    store.forget()
