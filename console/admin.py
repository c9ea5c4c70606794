"""Console data in the admin: shared profiles, and sessions with their messages (read-mostly)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from console.models import Message, Profile, Session


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "model", "temperature", "max_tokens", "updated_at"]
    list_filter = [("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "system_prompt", "model"]
    autocomplete_fields = ["owner"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = readonly_fields = (
        "role",
        "content",
        "model",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    )
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "session_type", "model", "messages_count", "updated_at"]
    list_filter = ["session_type"]
    search_fields = ["title", "user__username"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        return super().get_queryset(request).annotate(messages_total=Count("messages"))

    @admin.display(description="messages", ordering="messages_total")
    def messages_count(self, session: Session) -> int:
        return session.messages_total  # type: ignore[attr-defined]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "session", "role", "model", "status", "completion_tokens", "created_at"]
    list_filter = ["role", "status"]
    search_fields = ["content"]
    raw_id_fields = ["session"]
    readonly_fields = ["created_at"]
