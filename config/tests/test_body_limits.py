"""Request bodies are bounded below Django, before anything reads them."""

from __future__ import annotations

import json

import pytest

from config.body_limits import DEFAULT_MAX_BODY_BYTES, limit_body
from config.tests.asgi_wire import Wire, http_scope


def recording_app(seen: list[str]):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(scope["path"])
        while (await receive()).get("more_body"):
            pass

    return app


async def test_an_ordinary_path_refuses_a_declared_body_over_1_mb_without_reading() -> None:
    seen: list[str] = []
    wire = Wire(2 * DEFAULT_MAX_BODY_BYTES)
    declared = [(b"content-length", str(wire.total).encode())]

    await limit_body(recording_app(seen))(
        http_scope("/api/profiles", declared), wire.receive, wire.send
    )

    assert wire.status == 413
    assert wire.delivered == 0 and seen == []
    assert "larger than" in json.loads(wire.body)["detail"]


async def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    seen: list[str] = []
    wire = Wire(50 * DEFAULT_MAX_BODY_BYTES)

    await limit_body(recording_app(seen))(http_scope("/admin/login/"), wire.receive, wire.send)

    assert wire.status == 413
    assert DEFAULT_MAX_BODY_BYTES < wire.delivered <= DEFAULT_MAX_BODY_BYTES + 65536


async def test_v1_is_refused_in_openai_shape_at_its_own_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.V1_MAX_BODY_BYTES = 3 * DEFAULT_MAX_BODY_BYTES
    seen: list[str] = []
    app = limit_body(recording_app(seen))

    fits = Wire(2 * DEFAULT_MAX_BODY_BYTES)
    await app(http_scope("/v1/chat/completions"), fits.receive, fits.send)
    over = Wire(4 * DEFAULT_MAX_BODY_BYTES)
    await app(http_scope("/v1/chat/completions"), over.receive, over.send)

    assert seen == ["/v1/chat/completions", "/v1/chat/completions"]
    assert over.status == 413
    assert json.loads(over.body)["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("path", ["/api/chat/stream", "/api/sessions/abc/messages"])
async def test_console_chat_bodies_may_carry_images(settings, path) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    wire = Wire(4 * DEFAULT_MAX_BODY_BYTES)
    await limit_body(recording_app(seen))(http_scope(path), wire.receive, wire.send)
    assert seen == [path] and wire.delivered == wire.total


def test_a_live_server_refuses_an_oversized_form_post(live_gateway) -> None:  # type: ignore[no-untyped-def]
    import httpx

    def body():  # type: ignore[no-untyped-def]
        for _ in range(64):
            yield b"x" * 65536

    response = httpx.post(live_gateway + "/api/profiles", content=body(), timeout=15)
    assert response.status_code == 413
