from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from console import backup
from providers import crypto
from providers.models import Provider
from usage.models import UsageLog

SECRET = "sk-proj-backup-test-PLAINTEXT-9876"
NAME = re.compile(r"^console_backup_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(_\d+)?\.(db|json)$")

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite file backups (PostgreSQL exports JSON)"
)


def backups(settings) -> list[str]:  # type: ignore[no-untyped-def]
    folder = Path(settings.DATA_DIR) / "backups"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def provider(name: str = "openai-main", key: str = SECRET) -> Provider:
    return Provider.objects.create(name=name, base_url="https://api.openai.com/v1", api_key=key)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_command_writes_a_checked_sqlite_copy_and_the_config_export(settings, capsys) -> None:  # type: ignore[no-untyped-def]
    provider()
    call_command("backup")
    (name,) = backups(settings)
    assert NAME.match(name) and name.endswith(".db")
    assert name in capsys.readouterr().out

    with closing(sqlite3.connect(Path(settings.DATA_DIR) / "backups" / name)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (token,) = copy.execute("SELECT api_key FROM providers_provider").fetchone()
    assert SECRET not in token and crypto.decrypt(token) == SECRET
    exported = json.loads((Path(settings.DATA_DIR) / "config_backup.json").read_text())
    assert [p["name"] for p in exported["providers"]] == ["openai-main"]


@pytest.mark.django_db(transaction=True)
def test_output_writes_where_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider()
    target = tmp_path / "elsewhere" / "mine.json"
    call_command("backup", "--output", str(target))
    exported = json.loads(target.read_text())
    assert exported["format"] == "switchboard-data"
    (entry,) = [o for o in exported["objects"] if o["model"] == "providers.provider"]
    # dumpdata would decrypt through the model field; the export keeps the ciphertext.
    assert entry["fields"]["api_key"] != SECRET
    assert crypto.decrypt(entry["fields"]["api_key"]) == SECRET
    assert SECRET not in target.read_text()


@pytest.mark.django_db(transaction=True)
def test_the_json_export_holds_all_switchboard_data(tmp_path, alice) -> None:  # type: ignore[no-untyped-def]
    from chat.models import ApiKey

    provider()
    ApiKey.issue("ci")
    UsageLog.objects.create(request_id="r-1", provider="openai-main", model="gpt-4o-mini")
    exported = backup.export_data()
    models = {o["model"] for o in exported["objects"]}
    assert {"providers.provider", "chat.apikey", "usage.usagelog", "auth.user"} <= models
    assert "providers" in exported["migrations"]


@pytest.mark.django_db(transaction=True)
def test_retention_keeps_the_newest_backups_of_each_kind(settings) -> None:  # type: ignore[no-untyped-def]
    settings.BACKUP_KEEP = 2
    written = [backup.create_backup().name for _ in range(4)]
    backup.create_backup(prefix=backup.SAFETY_PREFIX)
    names = backups(settings)
    regular = [n for n in names if NAME.match(n)]
    assert len(regular) == 2
    assert len([n for n in names if n.startswith(backup.SAFETY_PREFIX)]) == 1
    # Backups within one second are told apart by _2, _3...: the newest two survive.
    assert regular == sorted(written[-2:])


def test_the_daily_backup_is_scheduled(db) -> None:  # type: ignore[no-untyped-def]
    from django_q.models import Schedule

    from console.schedules import ensure_schedules

    ensure_schedules()
    ensure_schedules()  # idempotent
    (daily,) = Schedule.objects.filter(func="console.tasks.backup")
    assert daily.schedule_type == Schedule.DAILY


@pytest.mark.django_db(transaction=True)
def test_the_task_runs_a_backup(settings) -> None:  # type: ignore[no-untyped-def]
    from console.tasks import backup as backup_task

    written = Path(backup_task())
    assert written.name in backups(settings)


# --- a backup while the server keeps writing ------------------------------------------


def usage_row(request_id: str) -> tuple[str, list[object]]:
    """An INSERT for one UsageLog built from the model, so it follows the schema."""
    log = UsageLog(request_id=request_id, provider="p", model="m", created_at=timezone.now())
    fields = [f for f in UsageLog._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(log, add=True), connection) for f in fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    marks = ", ".join("?" for _ in fields)
    return f'INSERT INTO "{UsageLog._meta.db_table}" ({columns}) VALUES ({marks})', values


def keep_writing(path: Path, committed: list[str], stop: threading.Event) -> None:
    with closing(sqlite3.connect(path, timeout=20)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        number = 0
        while not stop.is_set():
            number += 1
            sql, values = usage_row(f"w-{number}")
            writer.execute(sql, values)
            writer.commit()
            committed.append(f"w-{number}")


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_backup_taken_while_another_thread_writes_restores_consistently(tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider()
    # A real database file with Switchboard's schema: the in-memory test database, copied.
    live_file = tmp_path / "server.sqlite3"
    connection.ensure_connection()
    with closing(sqlite3.connect(live_file)) as target:
        connection.connection.backup(target)

    committed: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=keep_writing, args=(live_file, committed, stop))
    writer.start()
    try:
        deadline = time.monotonic() + 20
        while len(committed) < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        before = list(committed)  # committed before the backup started
        with closing(sqlite3.connect(live_file, timeout=20)) as source:
            copy = backup.copy_sqlite(source, tmp_path / "copy.db")
        during = len(committed)
    finally:
        stop.set()
        writer.join()
    assert len(before) >= 50
    assert len(committed) > during or len(committed) >= len(before)

    result = backup.restore(copy)
    assert result.kind == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA integrity_check")
        assert cursor.fetchone() == ("ok",)
    restored = set(UsageLog.objects.values_list("request_id", flat=True))
    assert set(before) <= restored
    # Nothing half-written: the copy is a prefix of what the writer committed.
    assert restored <= set(committed)
    assert Provider.objects.get().api_key == SECRET


# --- the API and the admin page --------------------------------------------------------


def download(client: Client) -> bytes:  # type: ignore[no-untyped-def]
    response = client.get("/api/admin/backup")
    assert response.status_code == 200, response.content
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment") and "console_backup_" in disposition
    return b"".join(response.streaming_content)


def sessions_in(content: bytes, tmp_path: Path) -> int:
    """How many django_session rows a downloaded backup holds (either format)."""
    if not content.startswith(backup.SQLITE_HEADER):
        exported = json.loads(content)["objects"]
        return sum(1 for entry in exported if entry["model"] == "sessions.session")
    copy = tmp_path / "downloaded.db"
    copy.write_bytes(content)
    with closing(sqlite3.connect(copy)) as db:
        return db.execute("SELECT COUNT(*) FROM django_session").fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_api_streams_a_fresh_backup_and_lists_stored_ones(api, settings) -> None:  # type: ignore[no-untyped-def]
    provider()
    content = download(api)
    if connection.vendor == "sqlite":
        assert content.startswith(backup.SQLITE_HEADER)
    else:
        assert json.loads(content)["format"] == "switchboard-data"
    assert SECRET.encode() not in content

    call_command("backup")
    listed = api.get("/api/admin/backups").json()
    assert [b["name"] for b in listed] == backups(settings)
    assert listed[0]["size"] > 0 and listed[0]["created"]
    again = api.get(f"/api/admin/backups/{listed[0]['name']}")
    assert b"".join(again.streaming_content).startswith(content[:16])


@pytest.mark.django_db(transaction=True)
def test_a_fresh_download_changes_nothing_on_the_server(api, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BACKUP_KEEP = 1
    folder = Path(settings.DATA_DIR) / "backups"
    folder.mkdir()
    old = [f"console_backup_2020-01-0{day}_00-00-00.db" for day in (1, 2, 3)]
    for name in old:
        (folder / name).write_bytes(b"kept")
    before = sorted(p.name for p in Path(settings.DATA_DIR).iterdir())
    download(api)
    assert backups(settings) == old  # none added, none pruned
    assert sorted(p.name for p in Path(settings.DATA_DIR).iterdir()) == before


@pytest.mark.django_db(transaction=True)
def test_a_downloaded_backup_carries_no_login_sessions(staff, tmp_path) -> None:  # type: ignore[no-untyped-def]
    browser = Client()
    browser.force_login(staff)  # one live django_session row
    assert browser.get("/api/admin/backups").status_code == 200
    from django.contrib.sessions.models import Session as LoginSession

    assert LoginSession.objects.count() >= 1
    content = download(browser)
    assert sessions_in(content, tmp_path) == 0
    key = browser.cookies["sessionid"].value
    assert key.encode() not in content


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_stored_backups_carry_no_login_sessions(staff, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    browser = Client()
    browser.force_login(staff)
    call_command("backup")
    (name,) = backups(settings)
    content = (Path(settings.DATA_DIR) / "backups" / name).read_bytes()
    assert sessions_in(content, tmp_path) == 0
    assert browser.cookies["sessionid"].value.encode() not in content


@pytest.mark.django_db
def test_only_stored_backups_can_be_downloaded_by_name(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/api/admin/backups/..%2Fsecret_key").status_code == 404
    assert api.get("/api/admin/backups/config_backup.json").status_code == 404
    assert api.get("/api/admin/backups/console_backup_2020-01-01_00-00-00.db").status_code == 404


@pytest.mark.django_db
def test_backups_need_an_admin(chat_key) -> None:  # type: ignore[no-untyped-def]
    assert Client().get("/api/admin/backups").status_code == 401
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {chat_key}")
    assert keyed.get("/api/admin/backup").status_code == 403
    assert keyed.post("/api/admin/restore").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_admin_backups_page_lists_and_takes_backups(staff, settings) -> None:  # type: ignore[no-untyped-def]
    browser = Client()
    browser.force_login(staff)
    response = browser.post("/admin/backups/create/", follow=True)
    assert response.status_code == 200
    (name,) = backups(settings)
    page = response.content.decode()
    assert name in page and "Backup written" in page
    assert f"/admin/backups/{name}/" in page and 'name="file"' in page
    download = browser.get(f"/admin/backups/{name}/")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_the_admin_backups_page_is_for_staff(alice) -> None:  # type: ignore[no-untyped-def]
    browser = Client()
    assert browser.get("/admin/backups/").status_code == 302
    browser.force_login(alice)
    assert browser.get("/admin/backups/").status_code == 302  # to the admin login
