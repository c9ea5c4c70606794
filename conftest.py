"""Suite-wide setup: a throwaway DATA_DIR before Django reads its settings."""

from __future__ import annotations

import os
import tempfile

# Settings are imported lazily by pytest-django after conftest files load, so this
# directory is what config.settings sees as DATA_DIR.
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="switchboard-test-")
os.environ.setdefault("LOG_FORMAT", "json")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test writes into its own DATA_DIR and starts with an empty cache."""
    from django.core.cache import cache

    settings.DATA_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(django_user_model):  # type: ignore[no-untyped-def]
    """A regular (non-staff) console user."""
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def bob(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_user("bob", password="bob-password")


@pytest.fixture
def staff(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("root", password="root-password")


@pytest.fixture
def admin_key(db) -> str:  # type: ignore[no-untyped-def]
    """A raw gateway key with the admin and chat scopes."""
    from chat.models import ApiKey

    return ApiKey.issue("ops", scopes=["chat", "admin"])[1]


@pytest.fixture
def chat_key(db) -> str:  # type: ignore[no-untyped-def]
    from chat.models import ApiKey

    return ApiKey.issue("app", scopes=["chat"])[1]


@pytest.fixture
def api(client, admin_key):  # type: ignore[no-untyped-def]
    """A Django test client that sends the admin key on every request."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {admin_key}"
    return client
