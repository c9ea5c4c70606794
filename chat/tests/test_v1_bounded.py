"""/v1 refuses JSON nested deeper than any request needs (a 400 naming it, not a 500)."""

from __future__ import annotations

import httpx
import pytest

from chat.models import ApiKey
from providers.models import Provider

DEEP = "[" * 1000 + "]" * 1000


def nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        '{"model": "p/m", "messages": [{"role": "user", "content": "hi"}], "metadata": '
        + nested(150)
        + "}",
        '{"model": "p/m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": '
        '"function", "function": {"name": "f", "parameters": ' + nested(900) + "}}]}",
    ],
    ids=["array", "metadata", "tool-schema"],
)
def test_deep_json_on_v1_is_400(live_gateway, fake_openai, body) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.issue("t", scopes=["chat"])[1]
    Provider.objects.create(name="p", kind="openai", base_url=fake_openai.base_url, models=["m"])
    response = httpx.post(
        live_gateway + "/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
        timeout=15,
    )
    assert response.status_code == 400, response.text
    assert "deeper" in response.json()["error"]["message"]
    assert fake_openai.requests == []
