"""Suite-wide fixtures. The throwaway DATA_DIR is chosen in config/settings_test.py:
pytest-django reads the settings before this file is imported."""

from __future__ import annotations

import pytest

# Under CI a skipped browser test fails the run (console/tests/browser_required.py).
pytest_plugins = ["console.tests.browser_required"]


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test writes into its own DATA_DIR and starts with an empty cache, fresh
    counters and no remembered change version. In-process live servers run no health
    probe loop unless a test turns it on."""
    from django.core.cache import cache

    settings.DATA_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HEALTH_CHECK_ENABLED = False
    _forget_process_state()
    cache.clear()
    yield
    cache.clear()
    _forget_process_state()


def _forget_process_state() -> None:
    from chat import keys
    from coordination import changes, counters
    from routing import snapshot
    from usage import quotas, recording, spend

    changes.signal.forget()
    counters.shared.reset_local()
    spend.prices.clear()
    recording.key_use.forget()
    keys.store.forget()
    quotas.store.forget()
    snapshot.store.forget()


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


def _logged_in(user):  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice):  # type: ignore[no-untyped-def]
    """A test client of its own, logged in as alice (as_bob and as_staff likewise)."""
    return _logged_in(alice)


@pytest.fixture
def as_bob(bob):  # type: ignore[no-untyped-def]
    return _logged_in(bob)


@pytest.fixture
def as_staff(staff):  # type: ignore[no-untyped-def]
    return _logged_in(staff)


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


@pytest.fixture
def live_gateway(transactional_db):  # type: ignore[no-untyped-def]
    """The real ASGI application (config.asgi) served by uvicorn on 127.0.0.1 in a thread.

    Yields its base URL. Needs committed data (transactional_db): the server's threads use
    their own database connections.
    """
    import socket
    import threading
    import time

    import uvicorn

    from config.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            lifespan="on",
            log_level="warning",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    import usage

    server.should_exit = True
    thread.join(timeout=10)  # in-flight requests finish and queue their usage records
    sock.close()
    usage.flush()  # before the test's rows are flushed away


@pytest.fixture
def usage_logs():  # type: ignore[no-untyped-def]
    """Wait (up to 5 s) until `count` usage records exist, then return all of them, oldest
    first. /v1 writes its records after the response is sent, through a batching writer."""
    import time

    import usage
    from usage.models import UsageLog

    def wait(count: int = 1) -> list[UsageLog]:
        deadline = time.monotonic() + 5
        while True:
            usage.flush()
            logs = list(UsageLog.objects.order_by("id"))
            if len(logs) >= count or time.monotonic() > deadline:
                time.sleep(0.1)  # a record beyond `count` would show up now
                usage.flush()
                return list(UsageLog.objects.order_by("id"))
            time.sleep(0.02)

    return wait


@pytest.fixture
def read_logs():  # type: ignore[no-untyped-def]
    """A function returning what the product's log file received since the test started
    (the lines as written: JSON, after redaction)."""
    from config.logging import log_file_path

    path = log_file_path()
    assert path is not None, "no log file handler is configured"
    start = path.stat().st_size if path.exists() else 0

    def read() -> str:
        if not path.exists():
            return ""
        with path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    return read
