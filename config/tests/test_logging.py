from __future__ import annotations

import json
import logging
import sys

import pytest
from django.test import Client

from config.logging import (
    REDACTED,
    JsonFormatter,
    RedactSecretsFilter,
    RequestIdFilter,
    log_attempt,
    log_file_path,
    redact,
    register_secret,
)

# One of every key shape the project handles.
KEY_SHAPES = {
    "openai": "sk-proj-Abc123def456GHI789jkl012MNO345pqr",
    "openai_legacy": "sk-Abc123def456GHI789jkl012MNO345pqr678",
    "anthropic": "sk-ant-api03-Abc123def456GHI789jkl012MNO345pqr-_xyzAA",
    "openrouter": "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd",
    "gateway": "sk-sb-Q2xhdWRlIGlzIGEgZ29vZCBib3kgYW5kIHdyaXRlcyB0ZXN0cw",
    "gemini": "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
}

# A self-hosted server's key has no recognisable shape: only register_secret catches it.
SHAPELESS_KEY = "ollama-PLAIN-secret-4242zz"


def emit(message: str, *args: object, exc_info: bool = False, **extra: object) -> str:
    """Run a record through the filters and the JSON formatter as a handler would."""
    record = logging.getLogger("test").makeRecord(
        "test", logging.ERROR, __file__, 1, message, args, sys.exc_info() if exc_info else None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    RequestIdFilter().filter(record)
    RedactSecretsFilter().filter(record)
    return JsonFormatter().format(record)


@pytest.mark.parametrize("shape", sorted(KEY_SHAPES))
def test_every_key_shape_is_redacted_in_plain_text(shape: str) -> None:
    key = KEY_SHAPES[shape]
    assert key not in redact(f"calling upstream with {key} now")
    assert REDACTED in redact(f"calling upstream with {key} now")


@pytest.mark.parametrize(
    "template",
    [
        "Authorization: Bearer {key}",
        "authorization=Bearer {key}",
        "x-api-key: {key}",
        "x-goog-api-key: {key}",
        '{{"api_key": "{key}", "model": "gpt"}}',
        "{{'api_key': '{key}'}}",
        "headers=[('x-api-key', '{key}')]",
        'payload="{{\\"api_key\\": \\"{key}\\"}}"',
        "GET /v1beta/models?key={key}&alt=sse api_key={key}",
    ],
)
def test_keys_in_headers_and_fields_are_redacted(template: str) -> None:
    for key in ["opaque-token-123456", *KEY_SHAPES.values()]:
        text = redact(template.format(key=key))
        assert key not in text, text


def test_a_registered_secret_is_redacted_whatever_its_shape() -> None:
    register_secret(SHAPELESS_KEY)
    assert SHAPELESS_KEY not in redact(f"upstream rejected {SHAPELESS_KEY}!")


def test_ordinary_text_is_left_alone() -> None:
    text = "GET /api/providers 200 3.1ms model=gpt-4o-mini tokens=12"
    assert redact(text) == text


def test_arguments_extra_fields_and_tracebacks_are_redacted() -> None:
    key = KEY_SHAPES["anthropic"]
    try:
        raise RuntimeError(f"upstream said: invalid x-api-key {key}")
    except RuntimeError:
        line = emit("failed with %s", key, exc_info=True, headers={"x-api-key": key}, body=key)
    assert key not in line
    entry = json.loads(line)
    assert "RuntimeError" in entry["exc"]
    assert entry["headers"] == {"x-api-key": REDACTED}


def test_json_lines_carry_the_request_id_and_extra_fields() -> None:
    entry = json.loads(emit("hello %s", "world", route="/api/x"))
    assert entry["message"] == "hello world"
    assert entry["level"] == "ERROR"
    assert entry["route"] == "/api/x"
    assert "request_id" in entry and "ts" in entry


def test_log_attempt_writes_provider_model_outcome_and_latency(caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="switchboard.gateway"):
        log_attempt("openai-main", "gpt-4o-mini", "http_503", 812.44, 2)
    record = caplog.records[-1]
    assert record.levelno == logging.WARNING
    assert (record.provider, record.model, record.outcome) == (
        "openai-main",
        "gpt-4o-mini",
        "http_503",
    )
    assert record.latency_ms == 812.4 and record.attempt == 2


def test_the_log_file_is_the_rotating_handler_under_the_startup_data_dir() -> None:
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.RotatingFileHandler)
    )
    assert handler.maxBytes == 10 * 1024 * 1024 and handler.backupCount == 10
    path = log_file_path()
    assert path is not None and path.parent.name == "logs"


# --- end to end: a request carrying a provider key and a gateway key ------------------


def log_text() -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    path = log_file_path()
    assert path is not None
    return path.read_text() if path.exists() else ""


@pytest.fixture
def failing_urls(settings):  # type: ignore[no-untyped-def]
    settings.ROOT_URLCONF = "config.tests.urls_failing"


@pytest.mark.django_db
def test_a_request_with_provider_and_gateway_keys_leaves_no_trace(
    api, admin_key, failing_urls
) -> None:  # type: ignore[no-untyped-def]
    provider_keys = [SHAPELESS_KEY, *KEY_SHAPES.values()]
    for number, key in enumerate(provider_keys):
        response = api.post(
            "/api/providers",
            json.dumps({"name": f"p{number}", "base_url": "http://127.0.0.1:9/v1", "api_key": key}),
            content_type="application/json",
            HTTP_X_API_KEY=key,
        )
        assert response.status_code == 201
    # A view that fails with both keys in its exception message and local variables.
    crashing = Client(raise_request_exception=False)
    response = crashing.post(
        "/boom",
        json.dumps({"api_key": SHAPELESS_KEY}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin_key}",
    )
    assert response.status_code == 500
    logging.getLogger("switchboard.test").error(
        "upstream call failed: headers=%s", {"Authorization": f"Bearer {admin_key}"}
    )

    text = log_text()
    assert "Traceback" in text and "/boom" in text
    served = api.get("/api/admin/logs?limit=1000")
    assert served.status_code == 200
    served_text = served.content.decode()
    assert served.json()["count"] > 0
    for secret in [admin_key, *provider_keys]:
        assert secret not in text
        assert secret not in served_text


@pytest.mark.django_db
def test_admin_logs_returns_parsed_recent_records_newest_first(api) -> None:  # type: ignore[no-untyped-def]
    api.get("/ping", HTTP_X_REQUEST_ID="logs-test-1")
    api.get("/ping", HTTP_X_REQUEST_ID="logs-test-2")
    body = api.get("/api/admin/logs?limit=5").json()
    assert body["count"] == len(body["items"]) <= 5
    access = [r for r in body["items"] if r.get("logger") == "switchboard.access"]
    assert [r["request_id"] for r in access[:2]] == ["logs-test-2", "logs-test-1"]
    assert access[0]["path"] == "/ping" and access[0]["status"] == 200
    assert isinstance(access[0]["duration_ms"], float)


@pytest.mark.django_db
def test_admin_logs_rejects_a_bad_limit(api) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/admin/logs?limit=0")
    assert response.status_code == 422
    assert "limit" in response.json()["detail"]


@pytest.mark.django_db
def test_admin_logs_needs_an_admin(client, chat_key) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/admin/logs").status_code == 401
    response = client.get("/api/admin/logs", HTTP_AUTHORIZATION=f"Bearer {chat_key}")
    assert response.status_code == 403
