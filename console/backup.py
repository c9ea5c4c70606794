"""Database backups and restores (DESIGN.md "Backup and restore").

Backups:
- SQLite: an online copy through the sqlite3 backup API, in one step, so the copy is one
  consistent snapshot even while the server writes (WAL readers never block writers),
  checked with PRAGMA integrity_check; plus the JSON config export.
- PostgreSQL (any other database): a JSON export of all Switchboard data ("switchboard-
  data": our apps and auth users), provider keys as ciphertext.

Restores validate everything first, then put the instance in maintenance (every web
worker stops taking /v1 and /api requests and writes the usage rows of those it took:
lifecycle.maintenance), take a safety backup, and swap in one step; any failure before
the swap changes nothing, and the swap itself is atomic (see `_swap_sqlite` and
`_load_data`). Maintenance ends when the restore does, whatever its outcome. Provider
keys stay ciphertext throughout; a backup whose keys none of FIELD_ENCRYPTION_KEYS opens
is refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model
from django.utils import timezone
from pydantic import ValidationError as SchemaError

from console import backup_schemas as schemas
from coordination import changes
from lifecycle.maintenance import during_maintenance
from providers import crypto
from providers.config_backup import write_config_backup
from providers.models import Provider

logger = logging.getLogger(__name__)

BACKUP_PREFIX = "console_backup_"
SAFETY_PREFIX = "console_backup_before_restore_"
DATA_FORMAT = "switchboard-data"
DATA_VERSION = 1
CONFIG_FORMAT = "switchboard-config"
SQLITE_HEADER = b"SQLite format 3\x00"

# Whose data a backup holds and whose schema a restore checks.
OUR_APPS = ("providers", "routing", "chat", "usage", "documents", "console")
DATA_MODELS = ("auth.group", "auth.user")
SCHEMA_APPS = (*OUR_APPS, "auth", "contenttypes")

_STAMP = r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(?:_\d+)?"
_NAME = re.compile(rf"^console_backup_(?:before_restore_)?{_STAMP}\.(?:db|json)$")
_STAMP_PARTS = re.compile(r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:_(\d+))?\.")
_FAMILIES = {
    BACKUP_PREFIX: re.compile(rf"^console_backup_{_STAMP}\.(?:db|json)$"),
    SAFETY_PREFIX: re.compile(rf"^console_backup_before_restore_{_STAMP}\.(?:db|json)$"),
}


class RestoreRefused(Exception):
    """A backup failed validation; the message says why. Nothing was changed."""


class BackupFailed(Exception):
    """A backup could not be written or did not verify."""


@dataclass(frozen=True)
class BackupFile:
    name: str
    size: int
    created: datetime


@dataclass(frozen=True)
class RestoreResult:
    kind: str  # "sqlite" | "data" | "config"
    safety_backup: str
    detail: dict[str, Any]


# --- where backups live -------------------------------------------------------------


def backups_dir() -> Path:
    path = Path(settings.DATA_DIR) / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def extension() -> str:
    return ".db" if is_sqlite() else ".json"


def new_backup_path(prefix: str = BACKUP_PREFIX, suffix: str | None = None) -> Path:
    """`console_backup_YYYY-MM-DD_HH-MM-SS.db`, with `_N` added when that second is taken
    (N above any used in that second, so a pruned name is never reused)."""
    stamp = timezone.now().astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    suffix = suffix or extension()
    folder = backups_dir()
    taken = [_order(p.name)[1] for p in folder.glob(f"{prefix}{stamp}*") if _NAME.match(p.name)]
    if not taken:
        return folder / f"{prefix}{stamp}{suffix}"
    return folder / f"{prefix}{stamp}_{max(taken) + 1}{suffix}"


def _order(name: str) -> tuple[str, int]:
    """Chronological sort key of a backup name: its timestamp, then its `_N` counter."""
    match = _STAMP_PARTS.search(name)
    if match is None:
        return ("", 0)
    return (match.group(1), int(match.group(2) or 1))


def stored_backup(name: str) -> Path:
    """A stored backup by file name; anything that is not one of ours is not found."""
    path = backups_dir() / name
    if not _NAME.match(name) or not path.is_file():
        raise FileNotFoundError(name)
    return path


def list_backups() -> list[BackupFile]:
    files = []
    for path in backups_dir().iterdir():
        if _NAME.match(path.name) and path.is_file():
            stat = path.stat()
            created = datetime.fromtimestamp(stat.st_mtime, UTC)
            files.append(BackupFile(path.name, stat.st_size, created))
    return sorted(files, key=lambda f: (f.created, f.name), reverse=True)


def prune(keep: int | None = None) -> list[str]:
    """Keep the newest `keep` (BACKUP_KEEP) of each family: scheduled/manual backups and
    safety backups are counted separately, so many restores never evict the dailies."""
    keep = settings.BACKUP_KEEP if keep is None else keep
    removed = []
    for pattern in _FAMILIES.values():
        names = sorted(
            (p.name for p in backups_dir().iterdir() if pattern.match(p.name)), key=_order
        )
        for name in names[: max(len(names) - max(keep, 1), 0)]:
            (backups_dir() / name).unlink(missing_ok=True)
            removed.append(name)
    return removed


# --- SQLite --------------------------------------------------------------------------


def _live_sqlite() -> sqlite3.Connection:
    """A fresh connection to the live database (also the in-memory test database, which
    Django names by a shared-cache URI), outside any transaction Django may hold."""
    name = str(connection.settings_dict["NAME"])
    live = sqlite3.connect(name, uri=name.startswith("file:"), timeout=20)
    live.execute("PRAGMA busy_timeout=20000")
    return live


def integrity_problem(db: sqlite3.Connection) -> str | None:
    rows = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows[:5])


def copy_sqlite(source: sqlite3.Connection, target: Path) -> Path:
    """Copy a database with the backup API into `target`, written beside it first and
    renamed into place only once it passed integrity_check."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".backup-", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with closing(sqlite3.connect(tmp)) as copy:
            # pages=-1: the whole database in one step, one read transaction on the
            # source, hence one consistent snapshot whatever other connections write.
            source.backup(copy, pages=-1)
            # A standalone file: no -wal/-shm companions when it is opened later.
            copy.execute("PRAGMA journal_mode=DELETE")
            _drop_login_sessions(copy)
            problem = integrity_problem(copy)
        if problem:
            raise BackupFailed(f"the copy failed integrity_check: {problem}")
        tmp.chmod(0o600)
        tmp.replace(target)
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)
    return target


def _drop_login_sessions(copy: sqlite3.Connection) -> None:
    """Backups carry no login sessions: a session key in a copy would log its reader in as
    that user. VACUUM rewrites the file so the deleted rows leave no trace in free pages."""
    tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "django_session" in tables:
        copy.execute("DELETE FROM django_session")
        copy.commit()
        copy.execute("VACUUM")


def backup_sqlite(target: Path) -> Path:
    with closing(_live_sqlite()) as live:
        return copy_sqlite(live, target)


# --- JSON data export (PostgreSQL, or anywhere on request) ---------------------------


def _data_models() -> list[type[Model]]:
    chosen: list[type[Model]] = []
    for label in OUR_APPS:
        if apps.is_installed(label):
            config = apps.get_app_config(label)
            chosen += [m for m in config.get_models() if m._meta.managed]
    chosen += [apps.get_model(label) for label in DATA_MODELS]
    app_list: dict[Any, list[type[Model]]] = {}
    for model in chosen:
        app_list.setdefault(apps.get_app_config(model._meta.app_label), []).append(model)
    return serializers.sort_dependencies(app_list.items(), allow_cycles=True)


def _applied_migrations(records: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in records:
        if app in SCHEMA_APPS:
            applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def _provider_ciphertexts() -> dict[int, str]:
    """Provider keys as stored: reading through the model would decrypt them."""
    table = connection.ops.quote_name(Provider._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, api_key FROM {table}")
        return {pk: token or "" for pk, token in cursor.fetchall()}


def _objects() -> Iterator[Model]:
    for model in _data_models():
        yield from model._base_manager.order_by(model._meta.pk.name).iterator()


def export_data() -> dict[str, Any]:
    recorder = MigrationRecorder(connection)
    objects = json.loads(
        serializers.serialize(
            "json", _objects(), use_natural_foreign_keys=True, use_natural_primary_keys=False
        )
    )
    ciphertexts = _provider_ciphertexts()
    for entry in objects:
        if entry["model"] == Provider._meta.label_lower:
            entry["fields"]["api_key"] = ciphertexts.get(entry["pk"], "")
    return {
        "format": DATA_FORMAT,
        "version": DATA_VERSION,
        "created_at": timezone.now().isoformat(),
        "vendor": connection.vendor,
        "migrations": _applied_migrations(recorder.applied_migrations()),
        "objects": objects,
    }


def backup_data(target: Path) -> Path:
    from providers.config_backup import write_atomically

    write_atomically(target, json.dumps(export_data()).encode())
    return target


# --- making a backup -------------------------------------------------------------------


def write_backup(target: Path) -> Path:
    """The database alone (SQLite copy, or the JSON export for `.json` and PostgreSQL) into
    `target`: no config export, no retention."""
    try:
        if target.suffix == ".json" or not is_sqlite():
            return backup_data(target)
        return backup_sqlite(target)
    except (sqlite3.Error, DatabaseError, OSError) as exc:
        raise BackupFailed(f"backup to {target.name} failed: {exc}") from exc


def download_name() -> str:
    """What a fresh download is called: a stored backup's name, without storing it."""
    stamp = timezone.now().astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    return f"{BACKUP_PREFIX}{stamp}{extension()}"


def create_backup(output: Path | None = None, prefix: str = BACKUP_PREFIX) -> Path:
    """Back up the live database (SQLite file or JSON export), refresh the JSON config
    export, and apply retention. Returns the backup written."""
    target = write_backup(output or new_backup_path(prefix))
    write_config_backup()
    if output is None:
        prune()
    logger.info("backup written", extra={"backup": target.name, "size": target.stat().st_size})
    return target


# --- validating ----------------------------------------------------------------------


def _known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def check_migrations(applied: dict[str, list[str]]) -> None:
    """The backup must have every migration the live database has for our apps (else it
    is from an older schema) and none this code does not know (a newer one)."""
    live = _applied_migrations(MigrationRecorder(connection).applied_migrations())
    known = _known_migrations()
    for app, names in live.items():
        missing = sorted(set(names) - set(applied.get(app, [])))
        if missing:
            raise RestoreRefused(
                f"wrong schema: migration {app}.{missing[-1]} is not applied in the backup "
                "(made by an older Switchboard?); restore it with that version."
            )
    for app, names in applied.items():
        unknown = sorted((app, n) for n in names if (app, n) not in known)
        if unknown:
            raise RestoreRefused(
                f"wrong schema: the backup has migration {app}.{unknown[0][1]}, unknown to "
                "this Switchboard (made by a newer version?)."
            )


def check_ciphertexts(keys: Iterable[tuple[str, str]]) -> None:
    """(provider name, ciphertext) pairs: every stored key must open with our key set."""
    locked = sorted(name for name, token in keys if token and not crypto.can_decrypt(token))
    if locked:
        raise RestoreRefused(
            f"provider keys were encrypted under other FIELD_ENCRYPTION_KEYS "
            f"({', '.join(locked)}): none of this instance's keys opens them. Set "
            "FIELD_ENCRYPTION_KEYS to include the key used when the backup was made."
        )


def _expected_tables() -> set[str]:
    """Tables of our apps (and auth) that the live database has."""
    tables = set()
    for label in (*OUR_APPS, "auth", "contenttypes"):
        if apps.is_installed(label):
            for model in apps.get_app_config(label).get_models(include_auto_created=True):
                if model._meta.managed:
                    tables.add(model._meta.db_table)
    return tables & set(connection.introspection.table_names())


def validate_sqlite(path: Path) -> None:
    with path.open("rb") as handle:
        if handle.read(16) != SQLITE_HEADER:
            raise RestoreRefused("not a SQLite database (the file header is wrong).")
    try:
        with closing(sqlite3.connect(path)) as db:
            problem = integrity_problem(db)
            if problem:
                raise RestoreRefused(f"the database is corrupt: integrity_check says {problem}")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "django_migrations" not in tables:
                raise RestoreRefused("wrong schema: no django_migrations table.")
            missing = sorted(_expected_tables() - tables)
            if missing:
                raise RestoreRefused(f"wrong schema: missing tables {', '.join(missing[:5])}.")
            applied = db.execute("SELECT app, name FROM django_migrations").fetchall()
            check_migrations(_applied_migrations(applied))
            provider_table = Provider._meta.db_table
            check_ciphertexts(db.execute(f"SELECT name, api_key FROM {provider_table}"))
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"the database is corrupt or unreadable: {exc}") from exc


def _parse(model: type[schemas.BaseModel], payload: Any) -> Any:
    try:
        return model.model_validate(payload)
    except SchemaError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise RestoreRefused(f"invalid backup JSON: {field}: {error['msg']}") from exc


def validate_data(payload: dict[str, Any]) -> schemas.DataBackup:
    backup = _parse(schemas.DataBackup, payload)
    allowed = {model._meta.label_lower for model in _data_models()}
    foreign = sorted({obj.model for obj in backup.objects} - allowed)
    if foreign:
        raise RestoreRefused(
            f"invalid backup JSON: objects of {foreign[0]} are not Switchboard data."
        )
    check_migrations(backup.migrations)
    check_ciphertexts(
        (str(obj.fields.get("name", obj.pk)), str(obj.fields.get("api_key") or ""))
        for obj in backup.objects
        if obj.model == Provider._meta.label_lower
    )
    return backup


def validate_config(payload: dict[str, Any]) -> schemas.ConfigBackup:
    backup = _parse(schemas.ConfigBackup, payload)
    check_ciphertexts((p.name, p.api_key_encrypted) for p in backup.providers)
    known = {p.name for p in backup.providers}
    for route in backup.routes:
        for node in route.nodes:
            if node.provider not in known and not Provider.objects.filter(name=node.provider):
                raise RestoreRefused(
                    f"route '{route.name}' uses provider '{node.provider}', which is neither "
                    "in the backup nor configured here."
                )
    return backup


def read_json(path: Path) -> dict[str, Any]:
    return read_json_upload(path.read_bytes())


def read_json_upload(data: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RestoreRefused("neither a SQLite database nor a JSON backup.") from exc
    if not isinstance(payload, dict):
        raise RestoreRefused("invalid backup JSON: expected an object at the top level.")
    return payload


# --- swapping in -----------------------------------------------------------------------


def _refresh_derived_state() -> None:
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    # A new counter namespace as well as a new version: every process rebuilds its
    # providers, routes and keys, and rpm, rotation and spend restart from the restored rows.
    changes.renew_namespace()
    write_config_backup()


def _swap_sqlite(staged: Path) -> None:
    """Replace the live database's content with `staged` through the backup API.

    Chosen over renaming a file into place: other processes (web workers, the task
    worker) keep connections open, and a renamed file would leave them writing into the
    old, unlinked one. The backup API writes into the live database as one transaction
    under its write lock, so every connection sees either all old or all new data.
    """
    if connection.in_atomic_block:
        raise RestoreRefused("a restore cannot run inside a database transaction.")
    connections.close_all()
    with closing(sqlite3.connect(staged)) as source, closing(_live_sqlite()) as live:
        live_page = live.execute("PRAGMA page_size").fetchone()[0]
        mode = live.execute("PRAGMA journal_mode").fetchone()[0]
        if mode == "wal" and source.execute("PRAGMA page_size").fetchone()[0] != live_page:
            # SQLite refuses a backup into a WAL database of another page size.
            source.execute("PRAGMA journal_mode=DELETE")
            source.execute(f"PRAGMA page_size={int(live_page)}")
            source.execute("VACUUM")
        source.backup(live, pages=-1)
        problem = integrity_problem(live)
    if problem:  # pragma: no cover - the staged copy passed the same check
        raise BackupFailed(f"the restored database failed integrity_check: {problem}")


def _restore_provider_key(model: Model, ciphertext: str) -> None:
    # Written through as it is: EncryptedTextField stores an UndecryptableSecret unchanged.
    model.api_key = crypto.UndecryptableSecret(ciphertext) if ciphertext else ""  # type: ignore[attr-defined]


def _load_data(backup: schemas.DataBackup) -> int:
    """Replace our apps' rows and the users with the backup's in one transaction;
    constraint checks are deferred to its end, as loaddata does."""
    raw = json.dumps([obj.model_dump() for obj in backup.objects])
    try:
        objects = list(serializers.deserialize("json", raw, handle_forward_references=True))
    except DeserializationError as exc:
        raise RestoreRefused(f"invalid backup JSON: {exc}") from exc
    models = _data_models()
    ciphertexts = {
        obj.pk: str(obj.fields.get("api_key") or "")
        for obj in backup.objects
        if obj.model == Provider._meta.label_lower
    }
    with transaction.atomic():
        for model in reversed(models):
            model._base_manager.all().delete()
        with connection.constraint_checks_disabled():
            for item in objects:
                if isinstance(item.object, Provider):
                    _restore_provider_key(item.object, ciphertexts.get(item.object.pk, ""))
                item.save()
        connection.check_constraints(table_names=[m._meta.db_table for m in models])
        statements = connection.ops.sequence_reset_sql(no_style(), models)
        if statements:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
    return len(objects)


def _upsert_provider(entry: schemas.ProviderEntry) -> Provider:
    provider = Provider.objects.filter(name=entry.name).first() or Provider(name=entry.name)
    provider.kind = entry.kind
    provider.base_url = entry.base_url
    provider.models = entry.models
    provider.is_active = entry.is_active
    _restore_provider_key(provider, entry.api_key_encrypted)
    provider.full_clean(exclude=["api_key"])
    provider.save()
    return provider


def _upsert_route(entry: schemas.RouteEntry) -> None:
    Route = apps.get_model("routing", "Route")
    route = Route.objects.filter(name=entry.name).first() or Route(name=entry.name)
    route.mode = entry.mode
    route.is_active = entry.is_active
    route.config = entry.config
    route.full_clean()
    route.save()
    route.nodes.all().delete()
    for node in entry.nodes:
        created = route.nodes.model(
            route=route,
            provider=Provider.objects.get(name=node.provider),
            models=node.models,
            strategy=node.strategy,
            priority=node.priority,
            weight=node.weight,
            metadata=node.metadata,
        )
        created.full_clean()
        created.save()


def _routes_installed() -> bool:
    try:
        apps.get_model("routing", "Route")
    except LookupError:
        return False
    return True


def load_config(backup: schemas.ConfigBackup) -> dict[str, int]:
    """Create or update the backup's providers and routes by name (others are left as
    they are); the keys keep their ciphertext."""
    routes = backup.routes if _routes_installed() else []
    try:
        with transaction.atomic():
            for entry in backup.providers:
                _upsert_provider(entry)
            for route in routes:
                _upsert_route(route)
    except ValidationError as exc:
        raise RestoreRefused(f"invalid backup content: {'; '.join(exc.messages)}") from exc
    return {"providers": len(backup.providers), "routes": len(routes)}


# --- restoring ---------------------------------------------------------------------------


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A private copy beside the backups, so validation never touches the caller's file
    and a half-read upload never reaches the live database."""
    fd, name = tempfile.mkstemp(dir=backups_dir(), prefix=".restore-", suffix=".tmp")
    staged = Path(name)
    try:
        with open(fd, "wb") as handle, path.open("rb") as source:
            shutil.copyfileobj(source, handle)
        yield staged
    finally:
        staged.unlink(missing_ok=True)


def _is_sqlite_file(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == SQLITE_HEADER


def _safety_backup() -> Path:
    try:
        return create_backup(prefix=SAFETY_PREFIX)
    except BackupFailed as exc:
        raise RestoreRefused(f"could not take the safety backup first: {exc}") from exc


def restore(path: Path) -> RestoreResult:
    """Restore a .db (SQLite), a JSON data export or a JSON config backup."""
    if not path.is_file():
        raise RestoreRefused(f"no such file: {path}")
    with _staged(path) as staged:
        if _is_sqlite_file(staged):
            return _restore_sqlite(staged)
        if path.suffix == ".db":
            raise RestoreRefused("not a SQLite database (the file header is wrong).")
        payload = read_json(staged)
    if payload.get("format") == CONFIG_FORMAT:
        return restore_config(payload)
    if payload.get("format") == DATA_FORMAT:
        backup = validate_data(payload)
        with during_maintenance():
            safety = _safety_backup()
            count = _load_data(backup)
            _refresh_derived_state()
        return RestoreResult("data", safety.name, {"objects": count})
    raise RestoreRefused(
        f"unknown backup format {payload.get('format')!r}: expected "
        f"'{DATA_FORMAT}' or '{CONFIG_FORMAT}'."
    )


def _restore_sqlite(staged: Path) -> RestoreResult:
    if not is_sqlite():
        raise RestoreRefused(
            f"a SQLite backup cannot be restored into {connection.vendor}; "
            "restore a JSON export instead."
        )
    validate_sqlite(staged)
    with during_maintenance():
        safety = _safety_backup()
        _swap_sqlite(staged)
        _refresh_derived_state()
    return RestoreResult("sqlite", safety.name, {})


def restore_config(payload: dict[str, Any]) -> RestoreResult:
    backup = validate_config(payload)
    with during_maintenance():
        safety = _safety_backup()
        counts = load_config(backup)
        _refresh_derived_state()
    return RestoreResult("config", safety.name, counts)


def restore_config_file(path: Path | None = None) -> RestoreResult:
    """Providers and routes from DATA_DIR/config_backup.json (or the given file)."""
    from providers.config_backup import backup_path

    source = path or backup_path()
    if not source.is_file():
        raise RestoreRefused(f"no config backup at {source.name}.")
    payload = read_json(source)
    if payload.get("format") != CONFIG_FORMAT:
        raise RestoreRefused(f"not a config backup: format must be '{CONFIG_FORMAT}'.")
    return restore_config(payload)
