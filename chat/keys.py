"""Gateway key checks for /v1 without a database read per request.

Usable keys are held in an in-process snapshot keyed by hash, rebuilt when the
`chat:keys:version` cache entry changes (ApiKey save/delete bumps it). The version is read
at most once per second, so a revoked key stops working within about a second.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from chat.models import ApiKey, hash_key

VERSION_KEY = "chat:keys:version"
RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    key_hash: str
    scopes: tuple[str, ...]
    budget_usd: Decimal | None
    rpm_limit: int | None
    expires_at: datetime | None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class _KeySnapshot:
    def __init__(self) -> None:
        self.version: Any = object()
        self.keys: dict[str, KeyInfo] = {}
        self.checked_at = float("-inf")

    def stale(self) -> Any:
        """The cache version when it differs from ours (checked once a second), else None."""
        now = time.monotonic()
        if now - self.checked_at < RECHECK_SECONDS:
            return None
        self.checked_at = now
        version = cache.get(VERSION_KEY)
        if version is None:
            version = uuid.uuid4().hex
            cache.add(VERSION_KEY, version, timeout=None)
            version = cache.get(VERSION_KEY, version)
        return version if version != self.version else None

    def load(self, version: Any) -> None:
        keys = {
            key.key_hash: KeyInfo(
                id=key.id,
                name=key.name,
                key_hash=key.key_hash,
                scopes=tuple(key.scopes),
                budget_usd=key.budget_usd,
                rpm_limit=key.rpm_limit,
                expires_at=key.expires_at,
            )
            for key in ApiKey.objects.filter(is_active=True)
        }
        self.keys, self.version = keys, version


_snapshot = _KeySnapshot()


def bump() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    _snapshot.checked_at = float("-inf")


@receiver(post_save, sender=ApiKey, dispatch_uid="chat.keys.saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="chat.keys.deleted")
def _key_changed(sender: type, **kwargs: Any) -> None:
    bump()


async def lookup(raw: str) -> KeyInfo | None:
    """The usable key matching `raw`, or None."""
    version = _snapshot.stale()
    if version is not None:
        await sync_to_async(_snapshot.load)(version)
    digest = hash_key(raw)
    info = _snapshot.keys.get(digest)
    if info is None or not hmac.compare_digest(info.key_hash, digest):
        return None
    if info.expired(timezone.now()):
        return None
    return info
