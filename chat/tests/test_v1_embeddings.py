"""/v1/embeddings: the official openai SDK against a running Switchboard with loopback
OpenAI-format and Gemini upstreams; Anthropic-only routes are refused."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from chat.models import ApiKey
from chat.tests.upstreams import fake_vector
from providers.catalog import Listed, apply_listed, parse_entry
from providers.models import ModelInfo, Provider
from routing.models import Route, RouteNode


@pytest.fixture
def client(live_gateway: str) -> openai.OpenAI:
    key = ApiKey.issue("rag", scopes=["chat"])[1]
    return openai.OpenAI(base_url=f"{live_gateway}/v1", api_key=key, max_retries=0, timeout=15)


def provider(name: str, kind: str, base_url: str, model: str) -> Provider:
    return Provider.objects.create(
        name=name, kind=kind, base_url=base_url, api_key=f"sk-{name}", models=[model]
    )


def route(name: str, *providers: Provider) -> Route:
    created = Route.objects.create(name=name, mode="auto")
    for priority, member in enumerate(providers):
        RouteNode.objects.create(
            route=created, provider=member, models=[member.models[0]], strategy="failover",
            priority=priority,
        )  # fmt: skip
    return created


def unpack(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_openai_format_embeddings_with_dimensions(client, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url, "text-embedding-3-small")

    result = client.embeddings.create(
        model="compat/text-embedding-3-small", input=["one", "three"], dimensions=4
    )

    assert [item.embedding for item in result.data] == [
        fake_vector(0, "one", 4),
        fake_vector(1, "three", 4),
    ]
    [sent] = fake_openai.requests
    assert sent["path"] == "/v1/embeddings"
    assert sent["json"]["model"] == "text-embedding-3-small"
    assert (sent["json"]["input"], sent["json"]["dimensions"]) == (["one", "three"], 4)
    [log] = usage_logs()
    assert (log.source, log.status, log.provider, log.estimated) == (
        "embeddings", "ok", "compat", False
    )  # fmt: skip
    assert log.prompt_tokens == result.usage.prompt_tokens > 0


def test_base64_and_token_arrays_through_an_openai_upstream(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url, "text-embedding-3-small")

    result = client.embeddings.create(
        model="compat/text-embedding-3-small", input=[[1, 2, 3]], encoding_format="base64"
    )

    assert fake_openai.requests[0]["json"]["input"] == [[1, 2, 3]]
    assert fake_openai.requests[0]["json"]["encoding_format"] == "base64"
    assert unpack(result.data[0].embedding) == fake_vector(0, [1, 2, 3], None)  # type: ignore[arg-type]


def test_gemini_batch_embed_contents(client, fake_gemini, usage_logs) -> None:  # type: ignore[no-untyped-def]
    provider("gem", "gemini", fake_gemini.base_url, "text-embedding-004")

    result = client.embeddings.create(
        model="gem/text-embedding-004", input="hello", dimensions=3, encoding_format="base64"
    )

    assert unpack(result.data[0].embedding) == fake_vector(0, "hello", 3)  # type: ignore[arg-type]
    [sent] = fake_gemini.requests
    assert sent["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert sent["headers"]["x-goog-api-key"] == "sk-gem"
    assert sent["json"] == {
        "requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]},
             "outputDimensionality": 3}
        ]
    }  # fmt: skip
    [log] = usage_logs()
    assert (log.source, log.estimated) == ("embeddings", True)
    # The SDK asks for base64 by default and decodes it: floats come back as sent.
    floats = client.embeddings.create(model="gem/text-embedding-004", input=["a", "bb"])
    assert [item.embedding for item in floats.data] == [
        fake_vector(0, "a", None), fake_vector(1, "bb", None)
    ]  # fmt: skip


def test_gemini_refuses_token_arrays_by_name(client, fake_gemini) -> None:  # type: ignore[no-untyped-def]
    provider("gem", "gemini", fake_gemini.base_url, "text-embedding-004")

    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="gem/text-embedding-004", input=[[1, 2]])

    assert (refused.value.body["code"], refused.value.body["param"]) == (
        "unsupported_parameter", "input[0]"
    )  # fmt: skip
    assert fake_gemini.requests == []


def test_an_anthropic_only_route_is_refused(client, fake_anthropic, usage_logs) -> None:  # type: ignore[no-untyped-def]
    route("claude", provider("claude", "anthropic", fake_anthropic.base_url, "claude-embed"))

    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="claude", input="hello")

    assert (refused.value.body["code"], refused.value.body["param"]) == (
        "model_cannot_embed", "model"
    )  # fmt: skip
    assert fake_anthropic.requests == []
    [log] = usage_logs()
    assert (log.source, log.status, log.error_code) == ("embeddings", "error", "model_cannot_embed")


def test_routing_skips_providers_that_cannot_embed(  # type: ignore[no-untyped-def]
    client, fake_anthropic, fake_openai
) -> None:
    route(
        "mixed",
        provider("claude", "anthropic", fake_anthropic.base_url, "claude-embed"),
        provider("chatonly", "openai_compatible", fake_openai.base_url, "gpt-4o"),
        provider("local", "openai_compatible", fake_openai.base_url, "bge-m3"),
    )
    # The catalog knows better than the name: bge-m3 embeds, as an operator set it.
    ModelInfo.objects.create(provider=Provider.objects.get(name="local"), model_id="bge-m3",
                             name="bge-m3", can_embed=True)  # fmt: skip

    result = client.embeddings.create(model="mixed", input="hello", encoding_format="float")

    assert len(result.data) == 1
    assert [r["json"]["model"] for r in fake_openai.requests] == ["bge-m3"]
    assert fake_anthropic.requests == []


def test_a_chat_model_nobody_embeds_is_400(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url, "gpt-4o")

    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="compat/gpt-4o", input="hello")
    assert fake_openai.requests == []


def test_embeddings_fail_over(client, fake_openai, fake_gemini, usage_logs) -> None:  # type: ignore[no-untyped-def]
    route(
        "embed",
        provider("compat", "openai_compatible", fake_openai.base_url, "text-embedding-3-small"),
        provider("gem", "gemini", fake_gemini.base_url, "text-embedding-004"),
    )
    fake_openai.fail(503)

    result = client.embeddings.create(model="embed", input="x", encoding_format="float")

    assert result.data[0].embedding == fake_vector(0, "x", None)
    [log] = usage_logs()
    assert (log.provider, log.attempts) == ("gem", 2)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "temperature": 1}, "temperature"),
    ],
)
def test_bad_embedding_requests_name_the_field(live_gateway, chat_key, body, param) -> None:  # type: ignore[no-untyped-def]
    import httpx

    reply = httpx.post(
        f"{live_gateway}/v1/embeddings",
        headers={"Authorization": f"Bearer {chat_key}"},
        json={"model": "m", **body},
        timeout=15,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


def test_the_catalog_learns_can_embed() -> None:
    gemini = parse_entry({"name": "models/text-embedding-004",
                          "supportedGenerationMethods": ["embedContent"]})  # fmt: skip
    router = parse_entry({"id": "openai/text-embedding-3-large",
                          "architecture": {"output_modalities": ["embeddings"]}})  # fmt: skip
    chat = parse_entry({"id": "gpt-4o", "architecture": {"output_modalities": ["text"]}})
    assert gemini is not None and gemini.can_embed is True
    assert router is not None and router.can_embed is True
    assert chat is not None and chat.can_embed is False
    row = ModelInfo(model_id="nomic-embed-text")
    apply_listed(row, Listed(model_id="nomic-embed-text"))
    assert row.can_embed is True
