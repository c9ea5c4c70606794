from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from providers.models import Provider


class ProviderForm(forms.ModelForm):
    """The key is write-only: the form never renders it; typing a new one replaces it,
    leaving the box blank keeps the stored one."""

    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_key", "models", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("api_key", None)
        if self.instance.pk and self.instance.api_key:
            self.fields[
                "api_key"
            ].help_text = f"A key is stored ({self.instance.api_key_hint}). Leave blank to keep it."

    def clean_api_key(self) -> str:
        typed = self.cleaned_data.get("api_key", "")
        return typed or (self.instance.api_key if self.instance.pk else "")

    def save(self, commit: bool = True) -> Provider:
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

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"models": []}
