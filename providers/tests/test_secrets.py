"""The plaintext provider key is written nowhere: not in the database file, API
responses, admin pages, the JSON config backup or the logs."""

from __future__ import annotations

import json
import logging
import logging.handlers
import textwrap
from pathlib import Path

import pytest
from django.test import Client

from config.tests import processes
from config.tests.processes import copy_data_dir, manage
from providers import crypto
from providers.config_backup import backup_path
from providers.models import Provider

# A fixture: a DATA_DIR migrated once for this module's tests.
migrated_template = processes.migrated_template

# Shaped like no known key format, so only encryption and the registered-secret
# redaction can keep it out; a pattern match would hide a leak.
SECRET = "prov-PLAINTEXT-7f3a9c1e5b2d"
NEW_SECRET = "prov-REPLACED-0d4e8a6c2f1b"

STORE_THROUGH_THE_ORM = textwrap.dedent(
    f"""
    import logging
    from providers.models import Provider
    p = Provider.objects.create(
        name="leak-probe", base_url="https://api.openai.com/v1", api_key="{SECRET}",
        models=["gpt-4o-mini"],
    )
    p.api_key = "{NEW_SECRET}"
    p.save()
    stored = Provider.objects.get(pk=p.pk).api_key
    assert stored == "{NEW_SECRET}", stored
    logging.getLogger("switchboard.probe").warning("upstream refused key %s", stored)
    print("stored", p.pk)
    """
)


def provider_payload(**overrides: object) -> str:
    body = {
        "name": "openai-main",
        "base_url": "https://api.openai.com/v1",
        "api_key": SECRET,
        "models": ["gpt-4o-mini"],
        "is_active": True,
    } | overrides
    return json.dumps(body)


def assert_no_plaintext(data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for secret in (SECRET, NEW_SECRET):
        assert secret.encode() not in raw


def test_the_sqlite_file_holds_only_ciphertext(migrated_template: Path, tmp_path: Path) -> None:
    data_dir = copy_data_dir(migrated_template, tmp_path / "data")
    stored = manage("shell", "-c", STORE_THROUGH_THE_ORM, data_dir=data_dir)
    assert stored.returncode == 0, stored.stderr
    assert "stored" in stored.stdout

    files = sorted(data_dir.glob("db.sqlite3*"))  # the database, its -wal and -shm
    database = b"".join(path.read_bytes() for path in files)
    assert b"leak-probe" in database  # the row really is in these bytes
    assert b"gAAAAA" in database  # ...with a Fernet token for its key
    assert_no_plaintext(database)

    backup = (data_dir / "config_backup.json").read_bytes()
    assert b"leak-probe" in backup
    assert_no_plaintext(backup)

    log_text = "".join(p.read_text() for p in (data_dir / "logs").glob("switchboard.log*"))
    assert "upstream refused key [REDACTED]" in log_text
    assert_no_plaintext(log_text)
    assert_no_plaintext(stored.stdout + stored.stderr)


@pytest.mark.django_db
def test_no_api_response_carries_the_key(api: Client) -> None:
    created = api.post("/api/providers", provider_payload(), content_type="application/json")
    assert created.status_code == 201, created.content
    provider_id = created.json()["id"]
    responses = [
        created,
        api.get("/api/providers"),
        api.get(f"/api/providers/{provider_id}"),
        api.patch(
            f"/api/providers/{provider_id}",
            json.dumps({"api_key": NEW_SECRET}),
            content_type="application/json",
        ),
        api.get(f"/api/providers/{provider_id}"),
    ]
    for response in responses:
        assert response.status_code == 200 or response.status_code == 201
        assert_no_plaintext(response.content)
    body = responses[-1].json()
    assert body["api_key_set"] is True
    assert body["api_key_hint"] == "…" + NEW_SECRET[-4:]
    assert Provider.objects.get().api_key == NEW_SECRET


@pytest.mark.django_db
def test_refused_payloads_do_not_echo_the_key(api: Client) -> None:
    api.post("/api/providers", provider_payload(), content_type="application/json")
    refused = [
        api.post(
            "/api/providers",
            provider_payload(name="other", base_url="ftp://x"),
            content_type="application/json",
        ),
        api.post("/api/providers", provider_payload(), content_type="application/json"),
        api.post(
            "/api/providers",
            provider_payload(name="m", models="gpt"),
            content_type="application/json",
        ),
    ]
    for response in refused:
        assert 400 <= response.status_code < 500, response.content
        assert response["Content-Type"].startswith("application/json")
        assert_no_plaintext(response.content)


@pytest.mark.django_db
def test_the_admin_change_page_never_renders_the_key(client: Client, staff: object) -> None:
    provider = Provider.objects.create(
        name="openai-main", base_url="https://api.openai.com/v1", api_key=SECRET
    )
    client.force_login(staff)  # type: ignore[arg-type]
    pages = [
        client.get(f"/admin/providers/provider/{provider.pk}/change/"),
        client.get("/admin/providers/provider/"),
        client.get(f"/admin/providers/provider/{provider.pk}/history/"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert_no_plaintext(page.content)
    assert "…" + SECRET[-4:] in pages[0].content.decode()  # the hint says a key is stored


@pytest.mark.django_db
def test_the_config_backup_holds_only_ciphertext(
    api: Client, django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        created = api.post("/api/providers", provider_payload(), content_type="application/json")
    assert created.status_code == 201
    raw = backup_path().read_bytes()
    assert_no_plaintext(raw)
    (entry,) = json.loads(raw)["providers"]
    assert crypto.decrypt(entry["api_key_encrypted"]) == SECRET


def root_log_files() -> list[Path]:
    return [
        Path(handler.baseFilename)
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.handlers.RotatingFileHandler)
    ]


@pytest.mark.django_db
def test_the_logs_never_carry_the_key(api: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    created = api.post("/api/providers", provider_payload(), content_type="application/json")
    provider_id = created.json()["id"]
    api.patch(
        f"/api/providers/{provider_id}",
        json.dumps({"api_key": NEW_SECRET}),
        content_type="application/json",
    )
    api.post("/api/providers", provider_payload(base_url="nope"), content_type="application/json")
    api.delete(f"/api/providers/{provider_id}")
    for record in caplog.records:
        assert_no_plaintext(record.getMessage())

    # Code that carelessly logs a key, in a message or an exception, is redacted on write.
    logger = logging.getLogger("switchboard.probe")
    logger.warning("upstream refused %s", NEW_SECRET)
    try:
        raise RuntimeError(f"bad credential {SECRET}")
    except RuntimeError:
        logger.exception("probe failed")
    (log_file,) = root_log_files()
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = log_file.read_text()
    assert "upstream refused [REDACTED]" in written
    assert "bad credential [REDACTED]" in written
    assert_no_plaintext(written)
