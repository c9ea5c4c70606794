"""Key rotation: old ciphertext still opens with [new, old]; rotate_keys moves every
stored key to the new first key, or changes nothing when one cannot be opened."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from providers.config_backup import backup_path, write_config_backup
from providers.models import Provider

pytestmark = pytest.mark.django_db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
STRANGER = Fernet.generate_key().decode()


def stored_ciphertext(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT api_key FROM {Provider._meta.db_table} WHERE name = %s", [name])
        (token,) = cursor.fetchone()
    return str(token)


def store(settings: object, keys: list[str], name: str, secret: str) -> None:
    settings.FIELD_ENCRYPTION_KEYS = keys  # type: ignore[attr-defined]
    Provider.objects.create(name=name, base_url="https://api.openai.com/v1", api_key=secret)


def test_a_key_under_the_old_key_decrypts_with_new_and_old(settings: object) -> None:
    store(settings, [OLD], "openai", "prov-secret-under-old")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # type: ignore[attr-defined]
    assert Provider.objects.get().api_key == "prov-secret-under-old"


def test_rotate_keys_re_encrypts_under_the_new_key(settings: object) -> None:
    store(settings, [OLD], "openai", "prov-secret-under-old")
    store(settings, [OLD], "anthropic", "prov-second-secret")
    before = stored_ciphertext("openai")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # type: ignore[attr-defined]

    call_command("rotate_keys", stdout=(out := StringIO()))

    assert "Re-encrypted 2 provider key(s)" in out.getvalue()
    after = stored_ciphertext("openai")
    assert after != before
    assert Fernet(NEW.encode()).decrypt(after.encode()) == b"prov-secret-under-old"
    with pytest.raises(InvalidToken):
        Fernet(OLD.encode()).decrypt(after.encode())
    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # type: ignore[attr-defined]  # the old key dropped
    assert {p.name: p.api_key for p in Provider.objects.all()} == {
        "openai": "prov-secret-under-old",
        "anthropic": "prov-second-secret",
    }


def test_rotate_keys_rewrites_the_config_backup_under_the_new_key(settings: object) -> None:
    store(settings, [OLD], "openai", "prov-secret-under-old")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # type: ignore[attr-defined]
    call_command("rotate_keys", stdout=StringIO())
    (entry,) = json.loads(backup_path().read_text())["providers"]
    assert Fernet(NEW.encode()).decrypt(entry["api_key_encrypted"].encode()) == (
        b"prov-secret-under-old"
    )


def test_a_token_no_key_opens_fails_clearly_and_changes_nothing(settings: object) -> None:
    store(settings, [OLD], "a-readable", "prov-readable")
    store(settings, [STRANGER], "b-lost", "prov-lost")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # type: ignore[attr-defined]
    before = {name: stored_ciphertext(name) for name in ("a-readable", "b-lost")}
    backup_before = write_config_backup().read_bytes()

    with pytest.raises(CommandError, match="b-lost.*none of FIELD_ENCRYPTION_KEYS"):
        call_command("rotate_keys")

    # "a-readable" was rotated first inside the transaction; it is rolled back too.
    assert {name: stored_ciphertext(name) for name in before} == before
    assert backup_path().read_bytes() == backup_before


def test_a_provider_without_a_key_is_left_alone(settings: object) -> None:
    store(settings, [OLD], "ollama", "")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # type: ignore[attr-defined]
    call_command("rotate_keys", stdout=StringIO())
    assert stored_ciphertext("ollama") == ""
