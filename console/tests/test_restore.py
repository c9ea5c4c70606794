from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from console import backup
from providers import crypto
from providers.models import Provider
from routing.models import Route, RouteNode

SECRET = "sk-ant-api03-restore-test-PLAINTEXT-5555"
OTHER_SECRET = "sk-proj-second-provider-key-7777"

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite file restores (PostgreSQL restores JSON)"
)
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def configured() -> Route:
    """Two providers and a route over both."""
    anthropic = Provider.objects.create(
        name="anthropic", base_url="https://api.anthropic.com/v1", api_key=SECRET
    )
    openai = Provider.objects.create(
        name="openai", base_url="https://api.openai.com/v1", api_key=OTHER_SECRET
    )
    route = Route.objects.create(name="smart", mode="multi", config={"note": "x"})
    RouteNode.objects.create(route=route, provider=anthropic, models=["claude"], priority=0)
    RouteNode.objects.create(route=route, provider=openai, models=["gpt-4o"], priority=1)
    return route


def live_state() -> dict[str, object]:
    """What must be untouched by a refused restore."""
    providers = {p.name: (p.base_url, p.api_key, p.models) for p in Provider.objects.all()}
    routes = {
        r.name: sorted((n.provider.name, n.priority) for n in r.nodes.all())
        for r in Route.objects.prefetch_related("nodes__provider")
    }
    return {"providers": providers, "routes": routes}


def safety_backups(settings) -> list[str]:  # type: ignore[no-untyped-def]
    folder = Path(settings.DATA_DIR) / "backups"
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(backup.SAFETY_PREFIX))


def forget_everything() -> None:
    Route.objects.all().delete()
    Provider.objects.all().delete()


def foreign_ciphertext(plaintext: str) -> str:
    return Fernet(Fernet.generate_key()).encrypt(plaintext.encode()).decode()


# --- refusals ---------------------------------------------------------------------------


def sqlite_file(path: Path, *statements: str) -> Path:
    with closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()
    return path


def corrupt_file(tmp_path: Path) -> Path:
    path = sqlite_file(
        tmp_path / "corrupt.db",
        "CREATE TABLE t (x TEXT)",
        *[f"INSERT INTO t VALUES ('{'y' * 500}')" for _ in range(50)],
    )
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, past the 100-byte header
    path.write_bytes(bytes(data))
    return path


def wrong_schema_file(tmp_path: Path) -> Path:
    return sqlite_file(tmp_path / "notes.db", "CREATE TABLE notes (id INTEGER, body TEXT)")


def older_schema_file(tmp_path: Path) -> Path:
    copy = backup.create_backup(output=tmp_path / "older.db")
    with closing(sqlite3.connect(copy)) as db:
        db.execute("DELETE FROM django_migrations WHERE app = 'providers'")
        db.commit()
    return copy


def not_sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.db"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    return path


def foreign_keys_config(tmp_path: Path) -> Path:
    exported = json.loads(backup.write_config_backup().read_text())
    for entry in exported["providers"]:
        entry["api_key_encrypted"] = foreign_ciphertext("sk-from-another-instance-000")
    path = tmp_path / "from-elsewhere" / "config_backup.json"  # not DATA_DIR's own file
    path.parent.mkdir()
    path.write_text(json.dumps(exported))
    return path


def foreign_keys_data(tmp_path: Path) -> Path:
    exported = backup.export_data()
    for entry in exported["objects"]:
        if entry["model"] == "providers.provider":
            entry["fields"]["api_key"] = foreign_ciphertext("sk-from-another-instance-000")
    path = tmp_path / "data.json"
    path.write_text(json.dumps(exported))
    return path


def unknown_json(tmp_path: Path) -> Path:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "litellm-config", "model_list": []}))
    return path


REFUSALS = [
    pytest.param(corrupt_file, "corrupt", marks=sqlite_only, id="corrupt"),
    pytest.param(not_sqlite_file, "not a SQLite database", id="not-sqlite"),
    pytest.param(wrong_schema_file, "no django_migrations table", marks=sqlite_only, id="schema"),
    pytest.param(
        older_schema_file, "wrong schema: migration providers.", marks=sqlite_only, id="old"
    ),
    pytest.param(foreign_keys_config, "other FIELD_ENCRYPTION_KEYS", id="keys-config"),
    pytest.param(foreign_keys_data, "other FIELD_ENCRYPTION_KEYS", id="keys-data"),
    pytest.param(unknown_json, "unknown backup format 'litellm-config'", id="unknown-json"),
]


@pytest.mark.parametrize(("make", "reason"), REFUSALS)
def test_the_command_refuses_a_bad_backup_and_changes_nothing(
    configured, tmp_path, settings, make, reason
) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    before = live_state()
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(path))
    assert "nothing changed" in str(refused.value)
    assert reason in str(refused.value)
    assert live_state() == before
    assert safety_backups(settings) == []  # refused before anything was done


@pytest.mark.parametrize(("make", "reason"), REFUSALS)
def test_the_api_refuses_a_bad_upload_with_its_reason(
    configured, api, tmp_path, make, reason
) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    before = live_state()
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    response = api.post("/api/admin/restore", {"file": upload})
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert live_state() == before


def test_an_upload_over_the_limit_is_refused(api, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RESTORE_MAX_BYTES = 1000
    upload = SimpleUploadedFile("big.db", backup.SQLITE_HEADER + b"\x00" * 2000)
    response = api.post("/api/admin/restore", {"file": upload})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("file:")


def test_a_restore_without_a_file_names_the_field(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/admin/restore")
    assert response.status_code == 422
    assert "file" in response.json()["detail"]


def test_a_missing_file_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="no such file"):
        call_command("restore", str(tmp_path / "nothing.db"))


# --- good restores ------------------------------------------------------------------------


def assert_configuration_is_back(route_name: str = "smart") -> None:
    restored = Provider.objects.get(name="anthropic")
    assert restored.api_key == SECRET  # the same key set opens it
    route = Route.objects.get(name=route_name)
    assert route.mode == "multi" and route.config == {"note": "x"}
    nodes = [(n.provider.name, n.models, n.priority) for n in route.nodes.order_by("priority")]
    assert nodes == [("anthropic", ["claude"], 0), ("openai", ["gpt-4o"], 1)]


@sqlite_only
def test_a_database_restore_brings_back_deleted_providers_and_routes(
    configured, tmp_path, settings, capsys
) -> None:  # type: ignore[no-untyped-def]
    copy = backup.create_backup(output=tmp_path / "good.db")
    forget_everything()
    Provider.objects.create(name="added-later", base_url="http://127.0.0.1:1/v1")

    call_command("restore", str(copy))

    assert_configuration_is_back()
    assert not Provider.objects.filter(name="added-later").exists()  # the whole database
    (safety,) = safety_backups(settings)
    assert safety in capsys.readouterr().out
    with closing(sqlite3.connect(Path(settings.DATA_DIR) / "backups" / safety)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM providers_provider")]
    assert names == ["added-later"]  # the state just before the restore


def test_a_json_data_restore_brings_back_deleted_providers_and_routes(
    configured, alice, tmp_path, settings
) -> None:  # type: ignore[no-untyped-def]
    exported = tmp_path / "export.json"
    call_command("backup", "--output", str(exported))
    forget_everything()
    alice.delete()

    call_command("restore", str(exported))

    assert_configuration_is_back()
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="alice").check_password("alice-password")
    assert len(safety_backups(settings)) == 1
    # Sequences follow the restored ids: new rows still insert.
    Provider.objects.create(name="new", base_url="http://127.0.0.1:1/v1")


def test_the_api_restores_an_uploaded_backup(configured, api, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    name = "good.db" if connection.vendor == "sqlite" else "good.json"
    copy = backup.create_backup(output=tmp_path / name)
    forget_everything()
    upload = SimpleUploadedFile(name, copy.read_bytes())
    response = api.post("/api/admin/restore", {"file": upload})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["restored"] == name
    assert body["safety_backup"] in safety_backups(settings)
    assert_configuration_is_back()


def test_providers_and_routes_come_back_from_config_backup_json(configured, api, settings) -> None:  # type: ignore[no-untyped-def]
    saved = backup.write_config_backup()
    good = saved.read_text()
    ciphertext = json.loads(good)["providers"][0]["api_key_encrypted"]
    forget_everything()  # which rewrites config_backup.json: the database was lost, say
    saved.write_text(good)

    response = api.post("/api/admin/providers/restore")
    assert response.status_code == 200, response.content
    assert response.json()["detail"] == {"providers": 2, "routes": 1}
    assert response.json()["safety_backup"] in safety_backups(settings)
    assert_configuration_is_back()
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM providers_provider WHERE name = %s", ["anthropic"])
        assert cursor.fetchone()[0] == ciphertext  # kept as it was, not re-encrypted


def test_a_config_restore_updates_by_name_and_keeps_other_providers(configured, api) -> None:  # type: ignore[no-untyped-def]
    saved = backup.write_config_backup().read_bytes()
    Provider.objects.filter(name="anthropic").update(base_url="https://changed.example/v1")
    Provider.objects.create(name="extra", base_url="http://127.0.0.1:1/v1")
    upload = SimpleUploadedFile("config_backup.json", saved)
    assert api.post("/api/admin/providers/restore", {"file": upload}).status_code == 200
    assert Provider.objects.get(name="anthropic").base_url == "https://api.anthropic.com/v1"
    assert Provider.objects.filter(name="extra").exists()


def test_a_config_restore_under_other_keys_is_refused(configured, api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = foreign_keys_config(tmp_path)
    forget_everything()
    upload = SimpleUploadedFile("config_backup.json", path.read_bytes())
    response = api.post("/api/admin/providers/restore", {"file": upload})
    assert response.status_code == 400
    assert "FIELD_ENCRYPTION_KEYS" in response.json()["detail"]
    assert not Provider.objects.exists()


def test_a_config_restore_with_a_bad_field_names_it(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = {"format": "switchboard-config", "version": 1, "providers": [{"name": "x"}]}
    upload = SimpleUploadedFile("config_backup.json", json.dumps(data).encode())
    response = api.post("/api/admin/providers/restore", {"file": upload})
    assert response.status_code == 400
    assert "providers.0.base_url" in response.json()["detail"]


def test_a_config_restore_without_a_backup_file_says_so(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/admin/providers/restore")
    assert response.status_code == 400
    assert "no config backup" in response.json()["detail"]


def test_restored_keys_still_open_with_the_live_key_set(configured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Keys that open are restored as ciphertext that still opens with the live key set."""
    exported = json.loads(backup.write_config_backup().read_text())
    forget_everything()
    backup.restore_config(exported)
    for name, plain in (("anthropic", SECRET), ("openai", OTHER_SECRET)):
        with connection.cursor() as cursor:
            cursor.execute("SELECT api_key FROM providers_provider WHERE name = %s", [name])
            assert crypto.decrypt(cursor.fetchone()[0]) == plain


def test_the_admin_page_restores_an_upload(configured, staff, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    name = "good.db" if connection.vendor == "sqlite" else "good.json"
    copy = backup.create_backup(output=tmp_path / name)
    forget_everything()
    browser = Client()
    browser.force_login(staff)
    upload = SimpleUploadedFile(name, copy.read_bytes())
    response = browser.post("/admin/backups/restore/", {"file": upload}, follow=True)
    assert response.status_code == 200
    assert "Safety backup" in response.content.decode()
    assert_configuration_is_back()
