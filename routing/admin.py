from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from routing.models import Route, RouteNode


class RouteNodeInline(admin.TabularInline):
    model = RouteNode
    extra = 1
    ordering = ["priority", "id"]
    fields = ["provider", "models", "strategy", "priority", "weight", "metadata"]
    autocomplete_fields = ["provider"]

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        # JSONField's form default would be the literal "null"; start empty instead.
        formset.form.base_fields["models"].initial = list
        formset.form.base_fields["metadata"].initial = dict
        return formset


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "is_active", "node_count", "updated_at"]
    list_filter = ["mode", "is_active"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
    fields = ["name", "mode", "is_active", "config", "created_at", "updated_at"]
    inlines = [RouteNodeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Route]:
        return super().get_queryset(request).annotate(node_total=Count("nodes"))

    @admin.display(description="nodes", ordering="node_total")
    def node_count(self, route: Route) -> int:
        return route.node_total  # type: ignore[attr-defined]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"config": {}}
