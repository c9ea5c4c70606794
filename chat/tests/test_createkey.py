"""manage.py createkey: the key printed once, alone on the last line; only its hash kept."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chat.models import KEY_PREFIX, ApiKey, find_key, hash_key

pytestmark = pytest.mark.django_db


def createkey(*args: str) -> str:
    """Run the command; return the raw key from the last line of stdout."""
    out, err = StringIO(), StringIO()
    call_command("createkey", *args, stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert lines, "createkey printed nothing on stdout"
    return lines[-1]


def test_it_prints_the_key_alone_on_the_last_line() -> None:
    raw = createkey("my-app")
    assert raw.startswith(KEY_PREFIX)
    assert raw == raw.strip() and " " not in raw
    assert len(raw) > 40


def test_only_the_hash_is_stored() -> None:
    raw = createkey("my-app")
    key = ApiKey.objects.get(name="my-app")
    assert key.key_hash == hash_key(raw)
    assert raw.startswith(key.prefix) and len(key.prefix) < len(raw)
    stored = " ".join(str(v) for v in ApiKey.objects.values().get().values())
    assert raw not in stored
    assert find_key(raw) == key


def test_the_default_scope_is_chat() -> None:
    createkey("my-app")
    assert ApiKey.objects.get().scopes == ["chat"]


def test_admin_gives_admin_and_chat() -> None:
    createkey("ops", "--admin")
    assert sorted(ApiKey.objects.get().scopes) == ["admin", "chat"]


def test_budget_and_rpm_are_stored() -> None:
    createkey("team", "--budget", "25.50", "--rpm", "600")
    key = ApiKey.objects.get()
    assert key.budget_usd == Decimal("25.50")
    assert key.rpm_limit == 600


def test_two_keys_differ() -> None:
    assert createkey("a") != createkey("b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--budget", "lots"], "--budget"),
        (["x", "--budget", "-1"], "--budget"),
        (["x", "--budget", "NaN"], "--budget"),
        (["x", "--rpm", "0"], "--rpm"),
        (["x", "--rpm", "fast"], "rpm"),
        (["x", "--budget", "1e20"], "--budget"),
        (["x", "--rpm", str(2**31)], "--rpm"),
        (["   "], "name"),
        (["n" * 101], "name"),
    ],
)
def test_bad_values_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("createkey", *args, stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()
