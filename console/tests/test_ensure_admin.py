"""ensure_admin, run by `make run`: the first superuser, created once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("ADMIN_USERNAME", raising=False)


def ensure_admin() -> str:
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_it_uses_admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "correct-horse-battery")
    output = ensure_admin()
    admin = get_user_model().objects.get()
    assert admin.username == "admin"
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password("correct-horse-battery")
    assert "correct-horse-battery" not in output  # the operator chose it; no need to echo


def test_a_generated_password_is_printed_once_and_works() -> None:
    output = ensure_admin()
    password = output.split("with password: ", 1)[1].split()[0]
    assert len(password) >= 12
    assert get_user_model().objects.get().check_password(password)
    assert password not in ensure_admin()  # the second run prints nothing about it


def test_it_creates_one_superuser_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_admin()
    monkeypatch.setenv("ADMIN_PASSWORD", "another-password-1")
    assert "ADMIN_PASSWORD is ignored" in ensure_admin()
    admin = get_user_model().objects.get()
    assert not admin.check_password("another-password-1")  # an existing admin is untouched


def test_an_existing_superuser_means_nothing_is_created(staff: object) -> None:
    assert ensure_admin() == ""
    assert get_user_model().objects.count() == 1


def test_a_regular_user_does_not_count_as_the_admin(alice: object) -> None:
    ensure_admin()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_the_username_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_USERNAME", "operator")
    ensure_admin()
    assert get_user_model().objects.get().username == "operator"


def test_a_regular_user_named_admin_is_not_promoted(django_user_model: type) -> None:
    django_user_model.objects.create_user("admin", password="user-password-1")
    with pytest.raises(CommandError, match="ADMIN_USERNAME"):
        ensure_admin()
    assert not django_user_model.objects.get().is_superuser


def test_a_second_run_says_admin_password_is_ignored_and_how_to_reset_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "first-password-here")
    ensure_admin()
    monkeypatch.setenv("ADMIN_PASSWORD", "another-password-now")

    output = ensure_admin()

    assert "ADMIN_PASSWORD is ignored" in output
    assert "manage.py changepassword admin" in output
    assert "another-password-now" not in output
    assert get_user_model().objects.get().check_password("first-password-here")


def test_a_second_run_without_admin_password_says_nothing() -> None:
    ensure_admin()
    assert ensure_admin() == ""
