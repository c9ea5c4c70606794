from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
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
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="The user this key spends for (their quota applies). Empty: an operator key.",
    )
    # The secret a rotation replaced, still accepted until previous_valid_until.
    previous_hash = models.CharField(
        max_length=64, blank=True, default="", editable=False, db_index=True
    )
    previous_valid_until = models.DateTimeField(null=True, blank=True, editable=False)

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
        **fields: object,
    ) -> tuple[ApiKey, str]:
        """Create a key; return it with the raw key, which is never available again."""
        raw = generate_key()
        key = cls(
            name=name,
            scopes=scopes or [Scope.CHAT],
            budget_usd=budget_usd,
            rpm_limit=rpm_limit,
            **fields,
        )
        key.set_raw(raw)
        key.save()
        return key, raw

    def rotate(self, grace_seconds: int = 0) -> str:
        """A new secret for this key; the old one keeps working for `grace_seconds`.
        Returns the new raw key, which is never available again."""
        raw = generate_key()
        if grace_seconds > 0:
            self.previous_hash = self.key_hash
            self.previous_valid_until = timezone.now() + timedelta(seconds=grace_seconds)
        else:
            self.previous_hash, self.previous_valid_until = "", None
        self.set_raw(raw)
        self.save()
        return raw

    def previous_usable(self, now: datetime) -> bool:
        return bool(self.previous_hash) and (
            self.previous_valid_until is not None and self.previous_valid_until > now
        )

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
    now = timezone.now()
    key = (
        ApiKey.objects.usable()
        .filter(models.Q(key_hash=digest) | models.Q(previous_hash=digest))
        .first()
    )
    if key is None:
        return None
    if hmac.compare_digest(key.key_hash, digest):
        return key
    if hmac.compare_digest(key.previous_hash, digest) and key.previous_usable(now):
        return key
    return None


class StoredResponseQuerySet(models.QuerySet["StoredResponse"]):
    def live(self) -> StoredResponseQuerySet:
        return self.filter(expires_at__gt=timezone.now())

    def owned_by(self, api_key_id: int | None) -> StoredResponseQuerySet:
        """Only the key that made a response may read, continue or delete it."""
        return self.filter(api_key_id=api_key_id)


class StoredResponse(models.Model):
    """A Responses API answer kept (`store`, the default) for `previous_response_id` and
    GET /v1/responses/{id}: the whole conversation's input items up to this turn, the
    turn's output items, and the response object as the client got it (without output).
    Pruned by chat.tasks.prune_stored_responses once `expires_at` has passed."""

    id = models.CharField(max_length=100, primary_key=True)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE)
    model = models.CharField(max_length=200)
    input_items = models.JSONField(default=list)
    output_items = models.JSONField(default=list)
    usage = models.JSONField(default=dict)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    objects = StoredResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id

    def as_response(self) -> dict[str, Any]:
        return {**self.response, "output": self.output_items, "usage": self.usage or None}
