from __future__ import annotations

from django.contrib import admin

from usage.models import UserQuota


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin):
    list_display = ["user", "budget_usd", "period", "rpm_limit", "updated_at"]
    list_filter = ["period"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
