"""Settings as an operator gets them: SQLite tuned for web + worker, DEBUG off, and a
clean `check --deploy` once production variables are set."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import textwrap
from pathlib import Path

import pytest

from config.tests.processes import manage
from providers.checks import sqlite_needs_warning

SQLITE = "django.db.backends.sqlite3"

PROBE_DATABASE = textwrap.dedent(
    """
    import json
    from django.conf import settings
    from django.db import connection
    with connection.cursor() as cursor:
        pragmas = {
            name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "busy_timeout", "mmap_size", "synchronous")
        }
    print(json.dumps({
        "pragmas": pragmas,
        "transaction_mode": connection.transaction_mode,
        "debug": settings.DEBUG,
        "options": settings.DATABASES["default"]["OPTIONS"],
    }))
    """
)

PRODUCTION = {
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "switchboard.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://switchboard.example.com",
}


@pytest.fixture(scope="module")
def fresh_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("defaults")


@pytest.fixture(scope="module")
def defaults(fresh_data_dir: Path) -> dict[str, object]:
    """What a fresh start with no configuration at all sees."""
    result = manage("shell", "-c", PROBE_DATABASE, data_dir=fresh_data_dir)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(line)  # type: ignore[no-any-return]


def test_sqlite_runs_in_wal_mode(defaults: dict[str, dict[str, object]]) -> None:
    assert defaults["pragmas"]["journal_mode"] == "wal"


def test_sqlite_waits_for_the_write_lock(defaults: dict[str, dict[str, object]]) -> None:
    assert int(defaults["pragmas"]["busy_timeout"]) >= 5000  # type: ignore[call-overload]


def test_transactions_take_the_write_lock_at_begin(defaults: dict[str, object]) -> None:
    assert defaults["transaction_mode"] == "IMMEDIATE"


def test_mmap_is_never_enabled(defaults: dict[str, dict[str, object]]) -> None:
    assert defaults["pragmas"]["mmap_size"] == 0
    assert "mmap" not in json.dumps(defaults["options"]).lower()


def test_debug_is_off_by_default(defaults: dict[str, object]) -> None:
    assert defaults["debug"] is False


@pytest.fixture(scope="module")
def plain_deploy_check(fresh_data_dir: Path) -> str:
    """`check --deploy` with no configuration: a plain-HTTP homelab start."""
    result = manage("check", "--deploy", data_dir=fresh_data_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_the_secrets_are_generated_into_data_dir_privately(
    defaults: object, fresh_data_dir: Path
) -> None:
    for name in ("secret_key", "encryption.key"):
        path = fresh_data_dir / name
        assert path.read_text().strip()
        assert path.stat().st_mode & 0o077 == 0


def warning_ids(output: str) -> set[str]:
    return set(re.findall(r"^\S*: \(([\w.]+)\)", output, flags=re.MULTILINE))


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = manage("check", "--deploy", data_dir=tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    expected = {"providers.W001"} if sqlite3.sqlite_version_info < (3, 51, 3) else set()
    assert warning_ids(output) == expected, output


def test_check_deploy_flags_a_plain_http_start(plain_deploy_check: str) -> None:
    assert {"security.W004", "security.W008"} <= warning_ids(plain_deploy_check)


@pytest.mark.parametrize(
    ("version", "warns"),
    [
        ((3, 40, 1), True),
        ((3, 51, 2), True),
        ((3, 51, 3), False),
        ((3, 51, 10), False),
        ((3, 52, 0), False),
        ((4, 0, 0), False),
    ],
)
def test_old_sqlite_is_warned_about(version: tuple[int, ...], warns: bool) -> None:
    assert sqlite_needs_warning(version, SQLITE) is warns


def test_postgresql_needs_no_sqlite_warning() -> None:
    assert sqlite_needs_warning((3, 40, 1), "django.db.backends.postgresql") is False


def test_the_warning_names_the_remedies(plain_deploy_check: str) -> None:
    if not sqlite_needs_warning(sqlite3.sqlite_version_info, SQLITE):
        pytest.skip("this Python's SQLite is already fixed")
    assert "providers.W001" in plain_deploy_check
    assert "3.51.3" in plain_deploy_check and "PostgreSQL" in plain_deploy_check


def test_the_suite_writes_its_logs_and_secrets_in_a_temporary_data_dir() -> None:
    """pytest-django loads the settings before any conftest.py: config/settings_test.py
    must have chosen DATA_DIR by then, or the suite writes ./data of the live instance."""
    import tempfile

    from django.conf import settings

    base = Path(settings.BASE_DIR)
    for path in (Path(os.environ["DATA_DIR"]), Path(settings.LOG_DIR)):
        assert path.is_relative_to(tempfile.gettempdir()), path
        assert not path.is_relative_to(base), path
