from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.backup import BackupFailed, RestoreRefused, restore


class Command(BaseCommand):
    help = (
        "Restore a backup: a .db file (SQLite), a JSON data export or config_backup.json. "
        "It is validated first and a safety backup (console_backup_before_restore_*) is "
        "taken before anything changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The backup file to restore.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        try:
            result = restore(path.resolve())
        except (RestoreRefused, BackupFailed) as exc:
            raise CommandError(f"Restore refused, nothing changed: {exc}") from exc
        details = ", ".join(f"{k}: {v}" for k, v in result.detail.items())
        self.stdout.write(
            f"Restored {path.name} ({result.kind}{'; ' + details if details else ''}). "
            f"Safety backup: {result.safety_backup}"
        )
