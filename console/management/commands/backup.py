from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.backup import BackupFailed, create_backup


class Command(BaseCommand):
    help = (
        "Back up the database: on SQLite an online, integrity-checked copy "
        "(DATA_DIR/backups/console_backup_YYYY-MM-DD_HH-MM-SS.db), elsewhere a JSON export "
        "of all data; the JSON config export is refreshed too. Keeps the newest BACKUP_KEEP."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            help="Write the backup here instead (a .json name gives a JSON data export).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path | None = options.get("output")
        try:
            path = create_backup(output.resolve() if output else None)
        except BackupFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Backup written: {path} ({path.stat().st_size} bytes)")
