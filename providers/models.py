from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import JSONField
from django.utils import timezone

from coordination.querysets import SignallingQuerySet
from providers.crypto import EncryptedTextField, UndecryptableSecret


class Kind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    OPENROUTER = "openrouter", "OpenRouter"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"


_KIND_BY_HOST = {
    "api.openai.com": Kind.OPENAI,
    "api.anthropic.com": Kind.ANTHROPIC,
    "generativelanguage.googleapis.com": Kind.GEMINI,
    "openrouter.ai": Kind.OPENROUTER,
}


def detect_kind(name: str, base_url: str) -> str:
    """DESIGN.md "Kind detection": by base_url host first, then by a telling name."""
    host = (urlsplit(base_url).hostname or "").lower()
    for known, kind in _KIND_BY_HOST.items():
        if host == known or host.endswith("." + known):
            return kind
    lowered = name.lower()
    for kind in (Kind.ANTHROPIC, Kind.GEMINI, Kind.OPENROUTER):
        if kind.value in lowered:
            return kind
    return Kind.OPENAI_COMPATIBLE


def validate_base_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("base_url must be an http:// or https:// URL with a host.")


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in: where a key would be sent."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # unparseable: never the same origin as anything
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def validate_models(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ValidationError("models must be a list of non-empty strings.")


class Provider(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, blank=True)
    base_url = models.CharField(max_length=500, validators=[validate_base_url])
    api_key = EncryptedTextField(blank=True, default="")
    is_active = models.BooleanField(default=True)

    status = models.CharField(max_length=32, default="unknown")
    latency_ms = models.IntegerField(null=True, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.IntegerField(default=0)
    is_healthy = models.BooleanField(default=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Declared last: inside the class body the name shadows the django.db.models module.
    models = JSONField(default=list, blank=True, validators=[validate_models])

    objects = SignallingQuerySet["Provider"].as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.kind:
            self.kind = detect_kind(self.name, self.base_url)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def point_at(self, base_url: str, api_key: str | None = None) -> None:
        """Change base_url; moving to another origin without a new key clears the stored
        one, so a URL change can never send the old key to someone else's server."""
        if api_key is not None:
            self.api_key = api_key
        elif origin(base_url) != origin(self.base_url):
            self.api_key = ""
        self.base_url = base_url

    @property
    def api_key_set(self) -> bool:
        return bool(self.api_key)

    @property
    def api_key_hint(self) -> str:
        """The last four characters, masked; never enough to use."""
        if not self.api_key:
            return ""
        if isinstance(self.api_key, UndecryptableSecret):
            return "(undecryptable)"
        return "…" + self.api_key[-4:] if len(self.api_key) > 8 else "…"

    @property
    def is_cooling_down(self) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > timezone.now()


class ModelInfo(models.Model):
    """One catalog entry: a model a provider lists, with its price per token.

    A null price means unknown (the provider publishes none and nobody set one by hand);
    0 means free.
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="catalog")
    model_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    context_length = models.IntegerField(null=True, blank=True)
    prompt_price = models.DecimalField(
        max_digits=20, decimal_places=12, null=True, blank=True, help_text="USD per prompt token"
    )
    completion_price = models.DecimalField(
        max_digits=20,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="USD per completion token",
    )
    # Prompt-cache prices (OpenRouter's input_cache_read / input_cache_write); null means
    # unknown, and cached tokens are then priced as ordinary prompt tokens.
    cache_read_price = models.DecimalField(
        max_digits=20, decimal_places=12, null=True, blank=True, help_text="USD per cached token"
    )
    cache_write_price = models.DecimalField(
        max_digits=20,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="USD per token written to the prompt cache",
    )
    supports_vision = models.BooleanField(default=False)
    is_reasoning = models.BooleanField(default=False)
    is_free = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    # Prices feed budget reservations (usage.spend): a change moves the signal.
    objects = SignallingQuerySet["ModelInfo"].as_manager()

    class Meta:
        ordering = ["provider__name", "model_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="unique_provider_model")
        ]
        verbose_name = "model"

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.model_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.is_free = self.prompt_price == 0 and self.completion_price == 0
        super().save(*args, **kwargs)  # type: ignore[arg-type]
