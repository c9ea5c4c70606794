"""A gateway key created in the admin is shown once, in the page that created it, and
never travels in a cookie (the messages framework's cookie is signed, not encrypted)."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client
from django.test.client import RequestFactory

from chat.models import ApiKey, find_key

pytestmark = pytest.mark.django_db

KEY = re.compile(r"sk-sb-[A-Za-z0-9_\-]{20,}")


def cookie_messages(value: str) -> list[str]:
    storage = CookieStorage(RequestFactory().get("/"))
    return [str(message) for message in storage._decode(value) or []]


def test_a_new_key_is_shown_once_and_never_in_a_cookie(as_staff: Client) -> None:
    form = {"name": "ci", "scopes": ["chat"], "is_active": "on"}
    created = as_staff.post("/admin/chat/apikey/add/", form)
    assert created.status_code == 200  # the key page itself, not a redirect carrying it
    assert "no-store" in created["Cache-Control"]
    (raw,) = set(KEY.findall(created.content.decode()))
    assert find_key(raw) == ApiKey.objects.get(name="ci")

    for name, morsel in created.cookies.items():
        assert raw not in morsel.OutputString(), name
        if name == "messages":
            assert not any(raw in text for text in cookie_messages(morsel.value))
    session = as_staff.session
    assert raw not in str(dict(session.items()))

    for page in ("/admin/chat/apikey/", f"/admin/chat/apikey/{ApiKey.objects.get().pk}/change/"):
        later = as_staff.get(page)
        assert raw not in later.content.decode()
        assert all(raw not in m.OutputString() for m in later.cookies.values())


def test_editing_a_key_shows_no_secret(as_staff: Client) -> None:
    key, raw = ApiKey.issue("ops", scopes=["chat"])
    form = {"name": "ops-renamed", "scopes": ["chat"], "is_active": "on"}
    response = as_staff.post(f"/admin/chat/apikey/{key.pk}/change/", form)
    assert response.status_code == 302
    assert raw not in as_staff.get(response["Location"]).content.decode()
