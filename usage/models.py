from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Status(models.TextChoices):
    OK = "ok", "ok"
    ERROR = "error", "error"
    CANCELLED = "cancelled", "cancelled"


class UsageLog(models.Model):
    """One row per gateway call (a /v1 request, a console message, a document question),
    whatever its outcome. Provider, route and model are names, not foreign keys, so history
    survives deleting a provider."""

    request_id = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=16, default="v1")  # v1 | messages | console | documents
    api_key = models.ForeignKey(
        "chat.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage",
    )
    session_id = models.UUIDField(null=True, blank=True, db_index=True)
    route = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    requested_model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Parts of prompt_tokens that the provider's prompt cache served or stored: priced
    # apart (Anthropic cache_read/cache_creation_input_tokens, OpenAI cached_tokens).
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=10, default=0)
    priced = models.BooleanField(default=False)
    estimated = models.BooleanField(default=False, help_text="Tokens estimated, not reported")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    error_code = models.CharField(max_length=64, blank=True)
    stream = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the request arrived (usage.recording.Draft), not when the row was written.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["api_key", "created_at"]),
            models.Index(fields=["user", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.status}"
