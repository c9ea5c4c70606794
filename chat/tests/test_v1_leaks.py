"""Provider keys never leave through upstream error text (DESIGN.md "Security").

Hostile upstreams on 127.0.0.1 quote the provider key back in every error they can send:
status errors (400/404/422/500, JSON and plain text) and errors inside a stream, for each
wire format. The canary has no recognisable shape, so only the configured-key scrub can
catch it; a second provider's key is quoted too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from chat.models import ApiKey
from chat.tests.canary import (
    CANARY,
    OTHER_CANARY,
    PLAIN_ECHO,
    assert_no_canary,
    echo_body,
    in_stream_error,
)
from providers.models import Provider

KINDS = ["openai", "anthropic", "gemini"]
STATUSES = [400, 404, 422, 500]


@pytest.fixture(params=KINDS)
def leaky(request: pytest.FixtureRequest, live_gateway: str) -> Any:
    """A fake upstream of each kind behind a provider whose key is the canary, next to a
    second provider whose key is the other canary."""
    kind = request.param
    server = request.getfixturevalue(f"fake_{kind}")
    Provider.objects.create(
        name="leaky", kind=kind, base_url=server.base_url, api_key=CANARY, models=["m"]
    )
    Provider.objects.create(
        name="other", kind="openai", base_url="http://127.0.0.1:9/v1", api_key=OTHER_CANARY
    )
    server.kind_name = kind
    return server


@pytest.fixture
def http(live_gateway: str) -> Iterator[httpx.Client]:
    key = ApiKey.issue("tests", scopes=["chat"])[1]
    with httpx.Client(
        base_url=live_gateway, headers={"Authorization": f"Bearer {key}"}, timeout=15
    ) as client:
        yield client


def ask(http: httpx.Client, stream: bool = False) -> httpx.Response:
    body = {"model": "leaky/m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return http.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", STATUSES)
def test_status_errors_quoting_the_key_are_scrubbed(leaky, http, read_logs, status, stream) -> None:  # type: ignore[no-untyped-def]
    leaky.fail(status, echo_body(leaky.kind_name, status))
    leaky.fail(status, PLAIN_ECHO)

    for _ in range(2):  # the JSON body, then the plain-text one
        response = ask(http, stream)
        assert response.status_code >= 400
        assert_no_canary(response.text)
        assert response.json()["error"]["message"]

    assert len(leaky.requests) == 2
    assert_no_canary(read_logs())


def test_the_scrubbed_message_says_what_happened(leaky, http) -> None:  # type: ignore[no-untyped-def]
    leaky.fail(400, echo_body(leaky.kind_name, 400))

    message = ask(http).json()["error"]["message"]

    assert "Incorrect API key provided: [redacted]" in message
    assert "x-api-key: [redacted]" in message


def test_a_long_upstream_message_is_cut_to_500_characters(leaky, http) -> None:  # type: ignore[no-untyped-def]
    leaky.fail(400, "x" * 5000 + CANARY)
    assert len(ask(http).json()["error"]["message"]) <= 500


def test_an_in_stream_error_after_the_first_token_is_scrubbed(leaky, http, read_logs) -> None:  # type: ignore[no-untyped-def]
    leaky.stream(["Hello", in_stream_error(leaky.kind_name)], delay_between=0.2)

    response = ask(http, stream=True)

    assert response.status_code == 200
    assert "Hello" in response.text
    assert '"error"' in response.text and "[DONE]" not in response.text
    assert_no_canary(response.text)
    assert_no_canary(read_logs())


def test_an_in_stream_error_before_the_first_token_is_scrubbed(leaky, http) -> None:  # type: ignore[no-untyped-def]
    leaky.stream([in_stream_error(leaky.kind_name)])

    response = ask(http, stream=True)

    assert response.status_code == 502
    assert_no_canary(response.text)


def test_the_openai_sdk_sees_no_key_in_any_error(leaky, live_gateway) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.issue("sdk", scopes=["chat"])[1]
    client = openai.OpenAI(base_url=live_gateway + "/v1", api_key=key, max_retries=0, timeout=15)
    leaky.fail(422, echo_body(leaky.kind_name, 422))
    leaky.stream(["Hi", in_stream_error(leaky.kind_name)], delay_between=0.2)
    messages = [{"role": "user", "content": "hi"}]

    with pytest.raises(openai.APIStatusError) as status_error:
        client.chat.completions.create(model="leaky/m", messages=messages)
    with pytest.raises(openai.APIError) as stream_error:
        for _chunk in client.chat.completions.create(
            model="leaky/m", messages=messages, stream=True
        ):
            pass

    for error in (status_error.value, stream_error.value):
        assert_no_canary(f"{error} {error.body}")
