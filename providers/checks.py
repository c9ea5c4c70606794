from __future__ import annotations

import sqlite3
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

# The WAL-reset corruption bug needs two processes writing or checkpointing one WAL
# database at once (web + task worker). It is fixed in SQLite 3.51.3.
SQLITE_WAL_FIXED = (3, 51, 3)


def sqlite_needs_warning(version: tuple[int, ...], engine: str) -> bool:
    return engine == "django.db.backends.sqlite3" and version < SQLITE_WAL_FIXED


@register(Tags.database, deploy=False)
def check_sqlite_version(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    engine = settings.DATABASES["default"]["ENGINE"]
    if not sqlite_needs_warning(sqlite3.sqlite_version_info, engine):
        return []
    return [
        Warning(
            f"SQLite {sqlite3.sqlite_version} predates 3.51.3, which fixes a WAL-reset "
            "corruption bug that two processes writing one database (web + task worker) "
            "can hit.",
            hint=(
                "Use a Python built against SQLite >= 3.51.3, or set DATABASE_URL to "
                "PostgreSQL for busy instances. Never set PRAGMA mmap_size."
            ),
            id="providers.W001",
        )
    ]


@register(Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for index, key in enumerate(settings.FIELD_ENCRYPTION_KEYS):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS entry {index + 1} is not a valid Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import "
                    "Fernet; print(Fernet.generate_key().decode())'",
                    id="providers.E001",
                )
            )
    return errors


@register(Tags.security)
def check_url_policy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from providers.url_policy import POLICIES

    if settings.PROVIDER_URL_POLICY in POLICIES:
        return []
    return [
        Error(
            f"PROVIDER_URL_POLICY is {settings.PROVIDER_URL_POLICY!r}.",
            hint=f"Use one of: {', '.join(POLICIES)}.",
            id="providers.E002",
        )
    ]
