"""The JSON config backup: providers and routes, keys as ciphertext.

Rewritten atomically (temp file + rename) after every provider or route change, so a
crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from providers import crypto
from providers.models import Provider

FORMAT_VERSION = 1


def backup_path() -> Path:
    return Path(settings.DATA_DIR) / "config_backup.json"


def _provider_entry(provider: Provider) -> dict[str, Any]:
    key = provider.api_key
    if isinstance(key, crypto.UndecryptableSecret):
        ciphertext = str(key)
    else:
        ciphertext = crypto.encrypt(key) if key else ""
    return {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "api_key_encrypted": ciphertext,
        "models": provider.models,
        "is_active": provider.is_active,
    }


def _route_entries() -> list[dict[str, Any]]:
    if not apps.is_installed("routing"):
        return []
    try:
        Route = apps.get_model("routing", "Route")
    except LookupError:
        return []
    routes = Route.objects.prefetch_related("nodes__provider").order_by("name")
    return [
        {
            "name": route.name,
            "mode": route.mode,
            "is_active": route.is_active,
            "config": route.config,
            "nodes": [
                {
                    "provider": node.provider.name,
                    "models": node.models,
                    "strategy": node.strategy,
                    "priority": node.priority,
                    "weight": node.weight,
                    "metadata": node.metadata,
                }
                for node in route.nodes.all()
            ],
        }
        for route in routes
    ]


def export_config() -> dict[str, Any]:
    return {
        "format": "switchboard-config",
        "version": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "providers": [_provider_entry(p) for p in Provider.objects.order_by("name")],
        "routes": _route_entries(),
    }


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_config_backup(path: Path | None = None) -> Path:
    target = path or backup_path()
    payload = json.dumps(export_config(), indent=2).encode()
    write_atomically(target, payload)
    return target
