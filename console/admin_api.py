"""Operator endpoints under /api/admin: backups and restores need console.manage_backups,
stats and logs console.view_monitoring (or an admin key, or a superuser)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile as DjangoUploadedFile
from django.http import FileResponse, HttpRequest
from ninja import File, Query, Router, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile
from pydantic import Field

from config.auth import permitted
from config.logging import recent_records
from console import backup, stats

BACKUPS = "console.manage_backups"

router = Router(tags=["admin"], auth=permitted(BACKUPS))
monitoring = permitted("console.view_monitoring")


class BackupOut(Schema):
    name: str
    size: int
    created: str


class RestoreOut(Schema):
    restored: str
    kind: str
    safety_backup: str
    detail: dict[str, Any]


class LogsQuery(Schema):
    limit: int = Field(100, ge=1, le=1000)


def _download(path: Path) -> FileResponse:
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@router.get("/backup", response={200: None})
def download_fresh_backup(request: HttpRequest) -> FileResponse:
    """Streamed from a private file that is gone before the first byte is sent (the open
    handle keeps it readable): nothing is stored in backups/ and nothing is pruned, so a
    link followed from another site cannot rotate real backups out."""
    name = backup.download_name()
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR, prefix=".download-") as folder:
        try:
            path = backup.write_backup(Path(folder) / name)
        except backup.BackupFailed as exc:
            raise HttpError(500, f"Backup failed: {exc}") from exc
        handle = path.open("rb")
    return FileResponse(handle, as_attachment=True, filename=name)


@router.get("/backups", response=list[BackupOut])
def list_backups(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"name": f.name, "size": f.size, "created": f.created.isoformat()}
        for f in backup.list_backups()
    ]


@router.get("/backups/{name}", response={200: None})
def download_stored_backup(request: HttpRequest, name: str) -> FileResponse:
    try:
        return _download(backup.stored_backup(name))
    except FileNotFoundError as exc:
        raise HttpError(404, f"No backup named {name!r}.") from exc


def restore_upload(upload: DjangoUploadedFile) -> tuple[str, backup.RestoreResult]:
    """Spool an uploaded backup to a private file and restore from it."""
    limit = settings.RESTORE_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise HttpError(413, f"file: larger than the {limit // (1024 * 1024)} MB restore limit.")
    suffix = Path(upload.name or "").suffix.lower()
    with tempfile.NamedTemporaryFile(
        dir=backup.backups_dir(), prefix=".upload-", suffix=suffix if suffix else ".bin"
    ) as spool:
        for chunk in upload.chunks():
            spool.write(chunk)
        spool.flush()
        return upload.name or "upload", backup.restore(Path(spool.name))


def _restored(name: str, result: backup.RestoreResult) -> dict[str, Any]:
    return {
        "restored": name,
        "kind": result.kind,
        "safety_backup": result.safety_backup,
        "detail": result.detail,
    }


@router.post("/restore", response=RestoreOut)
def restore_backup(request: HttpRequest, file: File[UploadedFile]) -> dict[str, Any]:
    try:
        name, result = restore_upload(file)
    except (backup.RestoreRefused, backup.BackupFailed) as exc:
        raise HttpError(400, f"Restore refused, nothing changed: {exc}") from exc
    return _restored(name, result)


@router.post("/providers/restore", response=RestoreOut)
def restore_providers(request: HttpRequest, file: File[UploadedFile] = None) -> dict[str, Any]:  # type: ignore[assignment]
    """Providers and routes from DATA_DIR/config_backup.json, or from an uploaded one."""
    try:
        if file is None:
            return _restored("config_backup.json", backup.restore_config_file())
        payload = backup.read_json_upload(file.read(settings.RESTORE_MAX_BYTES + 1))
        return _restored(file.name or "upload", backup.restore_config(payload))
    except (backup.RestoreRefused, backup.BackupFailed) as exc:
        raise HttpError(400, f"Restore refused, nothing changed: {exc}") from exc


@router.get("/stats", response=dict, auth=monitoring)
def request_stats(request: HttpRequest) -> dict[str, Any]:
    return stats.summary()


@router.get("/logs", response=dict, auth=monitoring)
def recent_logs(request: HttpRequest, query: Query[LogsQuery]) -> dict[str, Any]:
    items = recent_records(query.limit)
    return {"items": items, "count": len(items)}
