from __future__ import annotations

import hashlib
import hmac
import secrets
from decimal import Decimal

from django.db import models
from django.utils import timezone

from coordination.querysets import SignallingQuerySet

KEY_PREFIX = "sk-sb-"


class Scope(models.TextChoices):
    CHAT = "chat", "chat (/v1)"
    ADMIN = "admin", "admin (/api)"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyQuerySet(SignallingQuerySet["ApiKey"]):
    def usable(self) -> ApiKeyQuerySet:
        now = timezone.now()
        return self.filter(is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A gateway key. Only its SHA-256 is stored; the key itself is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Refuse requests once this much has been spent (USD). Empty: no budget.",
    )
    rpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute. Empty: unlimited."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls,
        name: str,
        scopes: list[str] | None = None,
        budget_usd: Decimal | None = None,
        rpm_limit: int | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; return it with the raw key, which is never available again."""
        raw = generate_key()
        key = cls(
            name=name, scopes=scopes or [Scope.CHAT], budget_usd=budget_usd, rpm_limit=rpm_limit
        )
        key.set_raw(raw)
        key.save()
        return key, raw

    def set_raw(self, raw: str) -> None:
        self.prefix = raw[: len(KEY_PREFIX) + 4]
        self.key_hash = hash_key(raw)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_usable(self) -> bool:
        return self.is_active and (self.expires_at is None or self.expires_at > timezone.now())


def find_key(raw: str) -> ApiKey | None:
    """Look a raw key up by hash. The unique index answers the lookup; the constant-time
    compare guards the final equality check."""
    if not raw:
        return None
    digest = hash_key(raw)
    key = ApiKey.objects.usable().filter(key_hash=digest).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return key
