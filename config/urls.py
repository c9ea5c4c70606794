from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from config import urls_v1
from config.api import api
from config.metrics import metrics_view
from console import admin_backups


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


admin.site.site_header = "Switchboard"
admin.site.site_title = "Switchboard admin"
admin.site.index_title = "Control plane"
admin.site.site_url = "/"

urlpatterns = [
    path("ping", ping, name="ping"),
    path("metrics", metrics_view, name="metrics"),
    *admin_backups.urlpatterns(),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    *urls_v1.urlpatterns,
    path("", include("console.urls")),
]
