"""The admin's Backups page: list, download, take a backup now, restore (console.manage_backups)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST
from ninja.errors import HttpError

from console import backup
from console.admin_api import restore_upload


def backups_page(request: HttpRequest) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "title": "Backups",
        "backups": backup.list_backups(),
        "backup_keep": settings.BACKUP_KEEP,
    }
    return TemplateResponse(request, "admin/backups.html", context)


@require_POST
def create(request: HttpRequest) -> HttpResponse:
    try:
        path = backup.create_backup()
    except backup.BackupFailed as exc:
        messages.error(request, f"Backup failed: {exc}")
    else:
        messages.success(request, f"Backup written: {path.name}")
    return redirect("admin-backups")


@require_GET
def download(request: HttpRequest, name: str) -> FileResponse:
    try:
        path = backup.stored_backup(name)
    except FileNotFoundError as exc:
        raise Http404("No such backup.") from exc
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@require_POST
def restore(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a backup file to restore.")
        return redirect("admin-backups")
    try:
        _, result = restore_upload(upload)
    except (backup.RestoreRefused, backup.BackupFailed, HttpError) as exc:
        messages.error(request, f"Restore refused, nothing changed: {exc}")
    else:
        messages.success(request, f"Restored {upload.name}. Safety backup: {result.safety_backup}")
    return redirect("admin-backups")


@require_POST
def restore_providers(request: HttpRequest) -> HttpResponse:
    try:
        result = backup.restore_config_file()
    except (backup.RestoreRefused, backup.BackupFailed) as exc:
        messages.error(request, f"Restore refused, nothing changed: {exc}")
    else:
        counts = ", ".join(f"{v} {k}" for k, v in result.detail.items())
        messages.success(request, f"Restored {counts} from config_backup.json.")
    return redirect("admin-backups")


def urlpatterns() -> list[URLPattern]:
    """Mounted before admin/ in config.urls; admin_view requires a staff login, and every
    page needs console.manage_backups (403 without it)."""

    def view(page: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        allowed = permission_required("console.manage_backups", raise_exception=True)(page)
        return admin.site.admin_view(allowed)

    return [
        path("admin/backups/", view(backups_page), name="admin-backups"),
        path("admin/backups/create/", view(create), name="admin-backups-create"),
        path("admin/backups/restore/", view(restore), name="admin-backups-restore"),
        path(
            "admin/backups/restore-providers/",
            view(restore_providers),
            name="admin-backups-restore-providers",
        ),
        path("admin/backups/<str:name>/", view(download), name="admin-backups-download"),
    ]
