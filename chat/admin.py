from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from chat import keys
from chat.models import ApiKey, Scope, generate_key


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.CHAT]
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "budget_usd", "rpm_limit", "expires_at", "is_active"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "scopes",
        "budget_usd",
        "rpm_limit",
        "expires_at",
        "is_active",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if not change:
            raw = generate_key()
            obj.set_raw(raw)
            request.new_api_key = raw  # type: ignore[attr-defined]  # for response_add only
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: Any = None) -> Any:
        """The new key, once, in the answer to the POST that created it: never through the
        messages framework, whose cookie is signed but readable."""
        raw = getattr(request, "new_api_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Key {obj.name} created",
            "opts": self.opts,
            "key": obj,
            "raw_key": raw,
        }
        response = TemplateResponse(request, "admin/chat/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.update(is_active=False)
        keys.bump()  # update() sends no post_save: refresh the gateway's key table
        self.message_user(request, f"Revoked {count} key(s).")
