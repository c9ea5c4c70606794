"""While a restore holds the instance in maintenance, /v1 and /api answer 503
`maintenance` with Retry-After (each in its own error shape), the console pages still
load, and the restorer waits for the web workers that are still draining."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection
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


def test_everything_answers_again_once_maintenance_ends(as_alice: Client) -> None:
    changes.set_maintenance(timezone.now() + timedelta(seconds=30))
    assert as_alice.get("/api/profiles").status_code == 503

    changes.set_maintenance(None)

    assert as_alice.get("/api/profiles").status_code == 200


def test_the_restorer_waits_for_a_worker_still_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance, "SETTLE_SECONDS", 0.2)
    seen: list[str] = []

    def worker_that_drains_for_a_second() -> None:
        # As a web worker's watcher would: hold the marker while its requests finish.
        while not changes.current().in_maintenance():
            time.sleep(0.01)
        until = changes.current().maintenance_until
        assert until is not None
        name = maintenance._stamp(until) + "worker-1"
        leases.hold(name, until, "worker-1")
        time.sleep(1.0)
        seen.append("drained")
        leases.release(name)
        connection.close()  # this thread's own

    worker = threading.Thread(target=worker_that_drains_for_a_second)
    worker.start()
    with maintenance.during_maintenance():
        seen.append("restoring")
        assert changes.current().in_maintenance()
    worker.join(5)

    assert seen == ["drained", "restoring"]
    assert not changes.current().in_maintenance()


def test_a_failed_restore_still_ends_maintenance() -> None:
    with pytest.raises(RuntimeError), maintenance.during_maintenance():
        raise RuntimeError("the swap failed")

    assert not changes.current().in_maintenance()
