from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from providers import health
from providers.models import ModelInfo, Provider


class ProviderForm(forms.ModelForm):
    """The key is write-only: the form never renders it; typing a new one replaces it,
    leaving the box blank keeps the stored one, unless base_url moves to another host
    (then the stored key is cleared: Provider.point_at)."""

    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave blank to keep the stored key (cleared if base_url changes host).",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_key", "models", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("api_key", None)
        if self.instance.pk and self.instance.api_key:
            self.fields["api_key"].help_text = (
                f"A key is stored ({self.instance.api_key_hint}). Leave blank to keep it; "
                "a base_url on another host clears it unless you type it again."
            )

    def clean_api_key(self) -> str:
        typed = self.cleaned_data.get("api_key", "")
        self.typed_key = typed or None
        return typed or (self.instance.api_key if self.instance.pk else "")

    def save(self, commit: bool = True) -> Provider:
        if self.instance.pk and "base_url" in self.changed_data:
            self.instance.base_url = self.initial["base_url"]  # the stored one, to compare
            self.instance.point_at(self.cleaned_data["base_url"], self.typed_key)
        if self.cleaned_data.get("clear_api_key"):
            self.instance.api_key = ""
        return super().save(commit=commit)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = [
        "name",
        "kind",
        "base_url",
        "is_active",
        "status",
        "is_healthy",
        "latency_ms",
        "last_tested_at",
    ]
    list_filter = ["kind", "is_active", "is_healthy", "status"]
    search_fields = ["name", "base_url"]
    readonly_fields = [
        "status",
        "latency_ms",
        "last_tested_at",
        "consecutive_failures",
        "is_healthy",
        "cooldown_until",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "kind",
                    "base_url",
                    "api_key",
                    "clear_api_key",
                    "models",
                    "is_active",
                ]
            },
        ),
        ("Health", {"fields": readonly_fields}),
    ]

    actions = ["test_connection"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"models": []}

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        """Probe the selected providers now (concurrently) and say how each answered."""
        for provider, result in health.probe_providers(queryset):
            latency = f", {result.latency_ms} ms" if result.latency_ms is not None else ""
            level = messages.SUCCESS if result.ok else messages.WARNING
            text = f"{provider.name}: {result.status}{latency} — {result.detail}"
            self.message_user(request, text, level=level)


@admin.register(ModelInfo)
class ModelInfoAdmin(admin.ModelAdmin):
    """Prices are editable in the list: providers that publish none are priced by hand,
    and a catalog sync keeps hand-set prices when the provider says nothing."""

    list_display = [
        "model_id",
        "provider",
        "name",
        "context_length",
        "prompt_price",
        "completion_price",
        "supports_vision",
        "is_reasoning",
        "is_free",
        "updated_at",
    ]
    list_editable = ["prompt_price", "completion_price"]
    list_filter = ["provider", "is_free", "supports_vision", "is_reasoning"]
    list_select_related = ["provider"]
    search_fields = ["model_id", "name"]
    readonly_fields = ["is_free", "updated_at"]
