"""Failed logins are throttled per (username, address) on both login pages (django-axes)."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

PAGES = [
    pytest.param("/login/", id="console"),
    pytest.param("/admin/login/?next=/admin/", id="admin"),
]


def attempt(client: Client, page: str, username: str, password: str, address: str) -> int:
    response = client.post(page, {"username": username, "password": password}, REMOTE_ADDR=address)
    return response.status_code


@pytest.mark.parametrize("page", PAGES)
def test_ten_failures_throttle_the_eleventh_even_with_the_right_password(staff, page: str) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    answers = [attempt(client, page, "root", f"wrong-{n}", "10.0.0.1") for n in range(10)]
    assert 429 not in answers[:9]  # the form answered, with its error
    right = client.post(
        page, {"username": "root", "password": "root-password"}, REMOTE_ADDR="10.0.0.1"
    )
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("page", PAGES)
def test_the_lock_is_per_user_and_address(staff, django_user_model, page: str) -> None:  # type: ignore[no-untyped-def]
    django_user_model.objects.create_user("ops", password="ops-password", is_staff=True)
    client = Client()
    for n in range(10):
        attempt(client, page, "root", f"wrong-{n}", "10.0.0.1")
    assert attempt(client, page, "root", "root-password", "10.0.0.1") == 429
    # Another address for the same user, and another user from the same address, log in.
    assert attempt(Client(), page, "root", "root-password", "10.0.0.2") == 302
    assert attempt(Client(), page, "ops", "ops-password", "10.0.0.1") == 302


def test_the_lock_cools_off_after_fifteen_minutes(staff, settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    client = Client()
    for n in range(10):
        attempt(client, "/login/", "root", f"wrong-{n}", "10.0.0.1")
    assert attempt(client, "/login/", "root", "root-password", "10.0.0.1") == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME, tick=False):
        assert attempt(Client(), "/login/", "root", "root-password", "10.0.0.1") == 302


def test_nine_failures_then_the_right_password_logs_in_and_resets(staff) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    for n in range(9):
        attempt(client, "/login/", "root", f"wrong-{n}", "10.0.0.1")
    assert attempt(client, "/login/", "root", "root-password", "10.0.0.1") == 302
    for n in range(9):
        attempt(Client(), "/login/", "root", f"again-{n}", "10.0.0.1")
    assert attempt(Client(), "/login/", "root", "root-password", "10.0.0.1") == 302
