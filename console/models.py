"""Console data: profiles (prompt presets), sessions (conversations) and their messages.

Messages are one row each, never the conversation as one blob, so long histories page in.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Profile(models.Model):
    """A preset for the chat: system prompt, sampling and a default model or route.

    `owner` empty means shared: staff (or an admin key) manage shared profiles and every
    user can pick them; users may also keep profiles of their own.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="console_profiles",
        help_text="Empty: a shared profile every user can pick.",
    )
    name = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True, default="")
    temperature = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(
        default=2048, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    model = models.CharField(
        max_length=200, blank=True, default="", help_text="Default model or route name."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class SessionType(models.TextChoices):
    CHAT = "chat", "chat"
    CODE = "code", "code"
    DOCUMENTS = "documents", "documents"
    PLAYGROUND = "playground", "playground"


OVERRIDE_KEYS = frozenset({"system_prompt", "temperature", "max_tokens", "models"})


def validate_overrides(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("overrides must be an object.")
    unknown = set(value) - OVERRIDE_KEYS
    if unknown:
        raise ValidationError(
            f"unknown override {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(OVERRIDE_KEYS))}."
        )


class Session(models.Model):
    """A console conversation. `user` empty: created through an admin API key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="console_sessions",
    )
    session_type = models.CharField(
        max_length=16, choices=SessionType.choices, default=SessionType.CHAT
    )
    title = models.CharField(max_length=200, default="New chat")
    profile = models.ForeignKey(Profile, null=True, blank=True, on_delete=models.SET_NULL)
    model = models.CharField(max_length=200, blank=True, default="")
    # Per-session overrides of the profile: system_prompt, temperature, max_tokens, and
    # for playground sessions the models compared side by side.
    overrides = models.JSONField(default=dict, blank=True, validators=[validate_overrides])
    # The message the conversation currently ends at: the history sent upstream and shown
    # is the path from the root to it (messages form a tree, see Message.parent).
    current_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Running totals over all messages (every branch), kept by console.conversations so
    # the session list never scans messages.
    message_count = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    total_cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class Role(models.TextChoices):
    SYSTEM = "system", "system"
    USER = "user", "user"
    ASSISTANT = "assistant", "assistant"
    TOOL = "tool", "tool"


class MessageStatus(models.TextChoices):
    OK = "ok", "ok"
    STOPPED = "stopped", "stopped (the user stopped the answer)"
    ERROR = "error", "error (the upstream failed, before or during the answer)"


class Message(models.Model):
    """One turn. Messages form a tree through `parent`: editing a question or answering
    it again adds a sibling and never overwrites, so every version stays reachable."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    images = models.JSONField(default=list, blank=True, help_text="data: URLs")
    model = models.CharField(max_length=200, blank=True, default="")
    provider = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.OK
    )
    error = models.TextField(
        blank=True, default="", help_text="A plain message, never upstream text."
    )
    error_code = models.CharField(max_length=64, blank=True, default="")
    # Documents answers: [{"document_id", "chunk_id", "page_or_section", "quote"}].
    citations = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["session", "id"]),
            models.Index(fields=["session", "parent"]),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Operations(models.Model):
    """No table: the home of permissions that belong to no model (README "Security")."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("manage_backups", "Can download, list and restore backups"),
            ("view_monitoring", "Can read request stats, recent logs and /metrics"),
        ]
