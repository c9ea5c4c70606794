"""Run manage.py in a child process on a fresh DATA_DIR, as an operator (or the Docker
image) would: SQLite, generated secrets, nothing inherited from the test run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

# Set by the surrounding test run (or by CI for the PostgreSQL pass); a child process
# must not migrate the suite's real PostgreSQL database or share its Redis db.
_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DEBUG",
    "ALLOWED_HOSTS",
    "ADMIN_PASSWORD",
    "ADMIN_USERNAME",
    "STATIC_ROOT",
    "DJANGO_SETTINGS_MODULE",  # config.settings_test would pick another DATA_DIR
)


def child_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    env["DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def manage(
    *args: str, data_dir: Path, timeout: float = 60, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """`python manage.py <args>` in BASE_DIR; the result, whatever the exit code."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=child_env(data_dir, **overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DATA_DIR migrated once per test module that binds this fixture to a module-level
    name; tests copy it (copy_data_dir) and never write into it."""
    data_dir = tmp_path_factory.mktemp("migrated-template")
    result = manage("migrate", "--noinput", data_dir=data_dir, timeout=180)
    assert result.returncode == 0, result.stderr
    return data_dir


def copy_data_dir(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target
