"""What the instance writes under DATA_DIR is private: files 0600, folders 0700.

A fresh DATA_DIR in child processes, as an operator runs it: migrate, a backup, a log line,
an uploaded document, the database's WAL while a connection is open."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.tests.processes import manage

WRITE_EVERYTHING = """
import json, logging, os
from pathlib import Path
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from console import backup

logging.getLogger("switchboard.test").warning("a line for the log file")
backup.create_backup()
user = User.objects.create_user("writer", password="writer-password")
client = Client(HTTP_HOST="localhost")
client.force_login(user)
upload = SimpleUploadedFile("notes.txt", b"private notes\\n" * 50, content_type="text/plain")
answer = client.post("/api/documents/upload", {"file": upload})
assert answer.status_code in (200, 201), answer.content
with connection.cursor() as cursor:  # a write in WAL mode: -wal and -shm exist now
    cursor.execute("UPDATE auth_user SET first_name = 'w'")
modes = {
    str(path.relative_to(settings.DATA_DIR)): oct(path.stat().st_mode & 0o777)
    for path in [settings.DATA_DIR, *Path(settings.DATA_DIR).rglob("*")]
}
print(json.dumps(modes))
"""


@pytest.fixture(autouse=True)
def _a_permissive_shell() -> Iterator[None]:
    """Children start with a shell's usual umask (022), not this test process's own: the
    privacy must come from Switchboard, not from the environment."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.django_db
def test_files_under_data_dir_are_0600_and_folders_0700(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    migrated = manage("migrate", "--noinput", data_dir=data_dir, timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    ran = manage("shell", "-c", WRITE_EVERYTHING, data_dir=data_dir, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    modes = json.loads(ran.stdout.strip().splitlines()[-1])

    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "secret_key", "encryption.key"):
        assert modes.get(name) == "0o600", (name, modes.get(name))
    assert modes["config_backup.json"] == "0o600"
    assert modes["logs/switchboard.log"] == "0o600"
    assert any(n.startswith("backups/console_backup_") for n in modes)
    assert any(n.startswith("uploads/") and "." in n.rsplit("/", 1)[-1] for n in modes), modes
    for name, mode in modes.items():
        path = data_dir / name if name != "." else data_dir
        expected = "0o700" if path.is_dir() else "0o600"
        assert mode == expected, (name, mode)


def test_a_looser_existing_database_and_folder_are_tightened_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "old-install"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    database = data_dir / "db.sqlite3"
    database.touch()
    database.chmod(0o644)
    assert manage("check", data_dir=data_dir, timeout=120).returncode == 0
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
