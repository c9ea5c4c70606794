"""While a restore holds the instance in maintenance, /v1 and /api answer 503
`maintenance` with Retry-After (each in its own error shape), the console pages still
load, and the restorer waits for the web workers that are still draining."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from coordination import changes, leases
from lifecycle import maintenance

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_maintenance() -> None:
    changes.set_maintenance(timezone.now() + timedelta(seconds=30))


@pytest.mark.usefixtures("in_maintenance")
def test_v1_answers_503_maintenance_in_openai_shape(live_gateway: str, chat_key: str) -> None:
    response = httpx.post(
        f"{live_gateway}/v1/chat/completions",
        headers={"authorization": f"Bearer {chat_key}"},
        json={"model": "any", "messages": [{"role": "user", "content": "hi"}]},
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "maintenance"
    assert response.json()["error"]["type"] == "server_error"
    assert 1 <= int(response.headers["retry-after"]) <= 30


@pytest.mark.usefixtures("in_maintenance")
def test_api_answers_503_maintenance_and_console_pages_still_load(as_alice: Client) -> None:
    response = as_alice.get("/api/profiles")

    assert response.status_code == 503
    assert response.json()["code"] == "maintenance"
    assert int(response["Retry-After"]) >= 1
    assert as_alice.get("/login/").status_code == 200
    assert as_alice.get("/api/docs").status_code == 200


def test_everything_answers_again_once_maintenance_ends(as_alice: Client) -> None:
    changes.set_maintenance(timezone.now() + timedelta(seconds=30))
    assert as_alice.get("/api/profiles").status_code == 503

    changes.set_maintenance(None)

    assert as_alice.get("/api/profiles").status_code == 200


def test_the_restorer_waits_for_a_worker_still_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's marker held for a second (console/tests/test_serve.py drains real
    ones); the restore begins only once it is released."""
    monkeypatch.setattr(maintenance, "SETTLE_SECONDS", 0.2)
    seen: list[str] = []
    asked: list[str] = []
    released_at = time.monotonic() + 1.0

    def held(prefix: str) -> list[str]:
        asked.append(prefix)
        if time.monotonic() < released_at:
            return ["worker-1"]
        seen.append("drained")
        return []

    monkeypatch.setattr(leases, "held", held)
    with maintenance.during_maintenance():
        seen.append("restoring")
        until = changes.current().maintenance_until
        assert until is not None and changes.current().in_maintenance()

    assert seen == ["drained", "restoring"]
    assert set(asked) == {maintenance._stamp(until)}  # only this maintenance's markers
    assert not changes.current().in_maintenance()


def test_a_marker_is_held_until_released_or_expired() -> None:
    until = timezone.now() + timedelta(seconds=30)
    leases.hold("drain x worker-1", until, "worker-1")
    leases.hold("drain x worker-2", timezone.now() - timedelta(seconds=1), "worker-2")

    assert leases.held("drain x ") == ["worker-1"]
    leases.release("drain x worker-1")
    assert leases.held("drain x ") == []


def test_a_failed_restore_still_ends_maintenance() -> None:
    with pytest.raises(RuntimeError), maintenance.during_maintenance():
        raise RuntimeError("the swap failed")

    assert not changes.current().in_maintenance()
