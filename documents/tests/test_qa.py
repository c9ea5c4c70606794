"""Q&A against a real fake upstream (HTTP on 127.0.0.1) through the gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import AsyncClient, Client

from chat.tests.canary import (
    CANARY,
    OTHER_CANARY,
    assert_no_canary,
    echo_body,
    in_stream_error,
)
from documents import ingestion, qa
from documents.tests.conftest import HANDBOOK, upload
from documents.tests.files import make_pdf
from providers.models import Provider

REMOTE_QUESTION = "How many days per week can staff work remotely?"


@pytest.fixture
def provider(db, fake_openai) -> Provider:  # type: ignore[no-untyped-def]
    return Provider.objects.create(
        name="fake", base_url=fake_openai.base_url, api_key="sk-test", models=["m"]
    )


def ask(client: Client, document_id: int, question: str, **extra: Any) -> Any:
    return client.post(
        f"/api/documents/{document_id}/qa",
        {"question": question, **extra},
        content_type="application/json",
    )


@pytest.mark.django_db
def test_it_answers_from_a_grounded_prompt_with_citations(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    fake_openai.reply("Staff may work remotely three days per week [1].")

    response = ask(as_alice, handbook["id"], REMOTE_QUESTION)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["answer"] == "Staff may work remotely three days per week [1]."
    first = body["citations"][0]
    assert len(body["citations"]) == 1
    assert first["document_id"] == handbook["id"]
    assert first["page_or_section"] == "Remote work"
    assert first["quote"] == "Staff may work remotely three days per week."
    assert isinstance(first["chunk_id"], int)

    sent = fake_openai.requests[-1]["json"]
    assert sent["model"] == "m"
    system, user = sent["messages"]
    assert system["role"] == "system" and "only the numbered excerpts" in system["content"]
    assert user["content"].startswith(
        "Excerpts:\n\n[1] (handbook.md, Remote work)\nRemote work\n\n"
    )
    assert "Staff may work remotely three days per week." in user["content"]
    assert user["content"].endswith(f"Question: {REMOTE_QUESTION}")
    # Only retrieved excerpts reach the model, never the whole document.
    assert "Dental" not in user["content"]


@pytest.mark.django_db
def test_uncited_answers_cite_every_excerpt_given(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    fake_openai.reply("Three days.")

    body = ask(as_alice, handbook["id"], "remote work days per week").json()

    user = fake_openai.requests[-1]["json"]["messages"][1]["content"]
    assert len(body["citations"]) == user.count("\n\n[") == qa.TOP_K


@pytest.mark.django_db
def test_when_nothing_is_relevant_it_says_so_without_calling_the_model(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    response = ask(as_alice, handbook["id"], "What is quantum chromodynamics?")

    assert response.status_code == 200
    assert response.json() == {
        "answer": qa.NOTHING_FOUND,
        "citations": [],
        "model": None,
        "provider": None,
        "prompt_message_id": None,
        "message_id": None,
    }
    assert fake_openai.requests == []


@pytest.mark.django_db
def test_it_answers_across_several_documents_citing_pages(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    pdf = upload(
        as_alice,
        "fleet.pdf",
        make_pdf(["Fleet overview.", "Every van gets an oil change each 15000 kilometres."]),
    ).json()
    fake_openai.reply("Every 15000 km [1].")

    response = as_alice.post(
        "/api/documents/qa",
        {
            "question": "How often do vans get an oil change?",
            "document_ids": [handbook["id"], pdf["id"]],
        },
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    citation = response.json()["citations"][0]
    assert (citation["document_id"], citation["page_or_section"]) == (pdf["id"], "page 2")
    assert "(fleet.pdf, page 2)" in fake_openai.requests[-1]["json"]["messages"][1]["content"]


@pytest.mark.django_db
def test_another_users_documents_answer_404(
    as_bob: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    single = ask(as_bob, handbook["id"], REMOTE_QUESTION)
    multi = as_bob.post(
        "/api/documents/qa",
        {"question": REMOTE_QUESTION, "document_ids": [handbook["id"]]},
        content_type="application/json",
    )

    assert (single.status_code, multi.status_code) == (404, 404)
    assert fake_openai.requests == []


@pytest.mark.django_db
def test_a_document_still_processing_answers_409(
    as_alice: Client, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingestion, "INLINE_MAX_BYTES", 10)
    pending = upload(as_alice, "h.md", HANDBOOK.encode()).json()

    response = ask(as_alice, pending["id"], REMOTE_QUESTION)

    assert response.status_code == 409
    assert "pending" in response.json()["detail"]


@pytest.mark.django_db
def test_without_any_model_to_default_to_it_names_the_model_field(
    as_alice: Client, handbook: dict[str, Any]
) -> None:
    response = ask(as_alice, handbook["id"], REMOTE_QUESTION)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("model:")


@pytest.mark.django_db
def test_the_default_model_is_the_first_active_providers_first_model(
    provider: Provider,
) -> None:
    Provider.objects.create(name="zzz", base_url="http://127.0.0.1:9", models=["other"])
    Provider.objects.create(name="aaa", base_url="http://127.0.0.1:9", models=[], is_active=True)

    assert qa.default_model() == "m"


@pytest.mark.django_db
def test_an_upstream_error_is_a_plain_json_error_without_the_key(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai, read_logs
) -> None:  # type: ignore[no-untyped-def]
    provider.api_key = CANARY
    provider.save()
    Provider.objects.create(name="other", base_url="http://127.0.0.1:9/v1", api_key=OTHER_CANARY)
    fake_openai.fail(400, echo_body("openai", 400))

    response = ask(as_alice, handbook["id"], REMOTE_QUESTION, model="m")

    assert response.status_code == 400
    assert response.json()["detail"] == "The provider refused the request (400)."
    assert_no_canary(response.content.decode())
    assert "Incorrect API key provided: [redacted]" in read_logs()
    assert_no_canary(read_logs())


@pytest.mark.django_db
def test_an_empty_question_names_the_field(as_alice: Client, handbook: dict[str, Any]) -> None:
    response = ask(as_alice, handbook["id"], "   ")

    assert response.status_code == 422
    assert "question" in response.json()["detail"]


# --- streaming (the console) ---------------------------------------------------------


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    parsed = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


@pytest.fixture
async def thread_connections_closed() -> Any:
    """Async views reach the ORM through sync_to_async's worker thread; with
    CONN_MAX_AGE its PostgreSQL connection would outlive the test and block the
    test database's teardown."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


async def stream(client: AsyncClient, url: str, payload: dict[str, Any]) -> Any:
    response = await client.post(url, payload, content_type="application/json")
    raw = b"".join([part async for part in response.streaming_content])
    return response, events(raw)


@pytest.mark.django_db(transaction=True)
async def test_it_streams_tokens_then_citations_and_done(
    alice, fake_openai, thread_connections_closed
) -> None:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(alice)
    await Provider.objects.acreate(
        name="fake", base_url=fake_openai.base_url, api_key="sk-test", models=["m"]
    )
    document = (await client.post("/api/documents/upload", {"file": _file()})).json()
    fake_openai.stream(["Three ", "days ", "[1]."])

    response, got = await stream(
        client, f"/api/documents/{document['id']}/qa/stream", {"question": REMOTE_QUESTION}
    )

    assert response["content-type"] == "text/event-stream"
    names = [name for name, _ in got]
    assert names == ["token", "token", "token", "citations", "usage", "done"]
    assert "".join(data["text"] for name, data in got if name == "token") == "Three days [1]."
    done = got[-1][1]
    assert done["answer"] == "Three days [1]."
    assert done["citations"][0]["page_or_section"] == "Remote work"
    assert fake_openai.requests[-1]["json"]["stream"] is True


@pytest.mark.django_db(transaction=True)
async def test_a_stream_with_nothing_relevant_says_so_without_calling_the_model(
    alice, fake_openai, thread_connections_closed
) -> None:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(alice)
    await Provider.objects.acreate(
        name="fake", base_url=fake_openai.base_url, api_key="sk-test", models=["m"]
    )
    document = (await client.post("/api/documents/upload", {"file": _file()})).json()

    _, got = await stream(
        client,
        "/api/documents/qa/stream",
        {"question": "quantum chromodynamics", "document_ids": [document["id"]]},
    )

    assert [name for name, _ in got] == ["token", "citations", "done"]
    assert got[0][1]["text"] == qa.NOTHING_FOUND
    assert fake_openai.requests == []


def _file() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("handbook.md", HANDBOOK.encode())


@pytest.mark.django_db(transaction=True)
async def test_a_mid_stream_error_reaches_the_console_plain_and_without_the_key(
    alice, fake_openai, thread_connections_closed, read_logs
) -> None:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(alice)
    await Provider.objects.acreate(
        name="fake", base_url=fake_openai.base_url, api_key=CANARY, models=["m"]
    )
    await Provider.objects.acreate(
        name="other", base_url="http://127.0.0.1:9/v1", api_key=OTHER_CANARY
    )
    document = (await client.post("/api/documents/upload", {"file": _file()})).json()
    fake_openai.stream(["Three ", in_stream_error("openai")], delay_between=0.2)

    _, got = await stream(
        client, f"/api/documents/{document['id']}/qa/stream", {"question": REMOTE_QUESTION}
    )

    name, data = got[-1]
    assert name == "error" and data["code"] == "upstream_auth_failed"
    assert_no_canary(json.dumps(got))
    assert_no_canary(read_logs())


@pytest.mark.django_db
def test_questions_spend_the_users_quota(
    as_alice: Client, alice: Any, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    from usage.models import UserQuota

    UserQuota.objects.create(user=alice, rpm_limit=1)
    assert ask(as_alice, handbook["id"], REMOTE_QUESTION).status_code == 200
    refused = ask(as_alice, handbook["id"], REMOTE_QUESTION)
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert "requests per minute" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 60
    stream = as_alice.post(
        f"/api/documents/{handbook['id']}/qa/stream",
        {"question": REMOTE_QUESTION},
        content_type="application/json",
    )
    assert stream.status_code == 429 and stream.json()["code"] == "quota_exceeded"
    assert len(fake_openai.requests) == 1
