from __future__ import annotations

from django.contrib import admin

from documents.models import Chunk, Document


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("ordinal", "page", "section", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "status", "size", "page_count", "created_at")
    list_filter = ("status", "extension")
    search_fields = ("title", "sha256", "user__username")
    readonly_fields = (
        "user", "title", "extension", "stored_name", "sha256", "size", "status", "error",
        "page_count", "created_at", "processed_at",
    )  # fmt: skip
    inlines = [ChunkInline]

    def has_add_permission(self, request: object) -> bool:
        return False  # documents arrive through the upload endpoint and its checks
