"""Operator endpoints under /api/admin: backups, restore, stats, logs."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["admin"])
