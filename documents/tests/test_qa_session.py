"""Questions asked in a documents session are kept there: the question as a user message,
the answer as an assistant message with its citations, tokens and cost (or its failure)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient, Client

from console.models import Session
from documents import qa
from documents.models import Chunk
from documents.tests.conftest import HANDBOOK, upload
from documents.tests.test_qa import (  # noqa: F401 - a fixture
    REMOTE_QUESTION,
    _file,
    stream,
    thread_connections_closed,
)
from providers.models import ModelInfo, Provider
from usage.models import UsageLog


@pytest.fixture
def provider(db, fake_openai) -> Provider:  # type: ignore[no-untyped-def]
    provider = Provider.objects.create(
        name="fake", base_url=fake_openai.base_url, api_key="sk-test", models=["m"]
    )
    ModelInfo.objects.create(
        provider=provider, model_id="m", prompt_price="0.000001", completion_price="0.000002"
    )
    return provider


def documents_session(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"session_type": "documents", **fields}
    response = client.post("/api/sessions", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def ask(client: Client, document_id: int, **payload: Any) -> Any:
    return client.post(
        f"/api/documents/{document_id}/qa",
        {"question": REMOTE_QUESTION, **payload},
        content_type="application/json",
    )


def conversation(client: Client, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/sessions/{session_id}/messages")
    assert response.status_code == 200
    return response.json()["items"]


@pytest.mark.django_db
def test_the_question_and_its_cited_answer_are_messages_of_the_session(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    session = documents_session(as_alice)
    fake_openai.reply("Three days per week [1].", usage=(40, 6))

    response = ask(as_alice, handbook["id"], session_id=session["id"])

    assert response.status_code == 200, response.content
    body = response.json()
    question, answer = conversation(as_alice, session["id"])
    assert (question["role"], question["content"]) == ("user", REMOTE_QUESTION)
    assert (answer["role"], answer["content"]) == ("assistant", "Three days per week [1].")
    assert (answer["id"], question["id"]) == (body["message_id"], body["prompt_message_id"])
    assert answer["parent_id"] == question["id"]
    assert answer["status"] == "ok" and answer["model"] == "m"
    assert (answer["prompt_tokens"], answer["completion_tokens"]) == (40, 6)
    assert answer["cost_usd"] == pytest.approx(40 * 0.000001 + 6 * 0.000002)
    [citation] = answer["citations"]
    assert citation == {
        "number": 1,
        "document_id": handbook["id"],
        "document_title": "handbook.md",
        "chunk_id": body["citations"][0]["chunk_id"],
        "page_or_section": "Remote work",
        "quote": "Staff may work remotely three days per week.",
    }
    fresh = as_alice.get(f"/api/sessions/{session['id']}").json()
    assert fresh["message_count"] == 2 and fresh["total_tokens"] == 46
    assert fresh["title"] == REMOTE_QUESTION
    [log] = UsageLog.objects.filter(source="documents")
    assert str(log.session_id) == session["id"]


@pytest.mark.django_db
def test_without_a_session_nothing_is_kept(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    session = documents_session(as_alice)
    fake_openai.reply("Three days [1].")

    assert ask(as_alice, handbook["id"]).status_code == 200

    assert conversation(as_alice, session["id"]) == []
    assert UsageLog.objects.filter(source="documents").count() == 1


@pytest.mark.django_db
def test_another_users_session_answers_404_and_keeps_nothing(
    as_alice: Client, as_bob: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    bobs = documents_session(as_bob)

    response = ask(as_alice, handbook["id"], session_id=bobs["id"])

    assert response.status_code == 404
    assert conversation(as_bob, bobs["id"]) == []
    assert fake_openai.requests == []
    assert ask(as_alice, handbook["id"], session_id="not-a-uuid").status_code == 404


@pytest.mark.django_db
def test_a_chat_session_is_refused_naming_the_field(
    as_alice: Client, handbook: dict[str, Any], provider: Provider
) -> None:
    chat = as_alice.post("/api/sessions", {}, content_type="application/json").json()

    response = ask(as_alice, handbook["id"], session_id=chat["id"])

    assert response.status_code in (400, 422)
    assert "session_id" in response.content.decode()
    assert conversation(as_alice, chat["id"]) == []


@pytest.mark.django_db
def test_a_failed_answer_is_kept_as_an_error_with_its_code(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    session = documents_session(as_alice)
    fake_openai.fail(400, {"error": {"message": "bad things", "type": "invalid_request_error"}})

    response = ask(as_alice, handbook["id"], session_id=session["id"])

    assert response.status_code == 400
    question, answer = conversation(as_alice, session["id"])
    assert question["content"] == REMOTE_QUESTION
    assert answer["status"] == "error" and answer["error_code"]
    assert answer["error"] and answer["citations"] == []


@pytest.mark.django_db
def test_nothing_found_is_kept_as_the_answer(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    session = documents_session(as_alice)

    ask(as_alice, handbook["id"], question="quantum chromodynamics", session_id=session["id"])

    question, answer = conversation(as_alice, session["id"])
    assert answer["content"] == qa.NOTHING_FOUND and answer["status"] == "ok"
    assert fake_openai.requests == []


@pytest.mark.django_db
def test_the_sessions_model_answers_when_the_question_names_none(
    as_alice: Client, handbook: dict[str, Any], fake_openai
) -> None:  # type: ignore[no-untyped-def]
    for name in ("a-first", "b-second"):
        Provider.objects.create(
            name=name, base_url=fake_openai.base_url, api_key="sk-test", models=[name]
        )
    session = documents_session(as_alice, model="b-second/b-second")
    fake_openai.reply("Three days [1].")

    ask(as_alice, handbook["id"], session_id=session["id"])

    assert fake_openai.requests[-1]["json"]["model"] == "b-second"


@pytest.mark.django_db
def test_one_citation_per_distinct_passage(
    as_alice: Client, handbook: dict[str, Any], provider: Provider, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    # The same sentence in a second document: two chunks, one passage.
    copy = upload(as_alice, "copy.md", HANDBOOK.replace("# Staff handbook", "# Copy").encode())
    ids = [handbook["id"], copy.json()["id"]]
    fake_openai.reply("Three days [1][2][3][4].")

    response = as_alice.post(
        "/api/documents/qa",
        {"question": REMOTE_QUESTION, "document_ids": ids},
        content_type="application/json",
    )

    citations = response.json()["citations"]
    quotes = [c["quote"] for c in citations]
    assert quotes.count("Staff may work remotely three days per week.") == 1
    assert len(quotes) == len(set(quotes)) and len({c["chunk_id"] for c in citations}) == len(
        quotes
    )


def test_distinct_passages_compare_quotes_without_case_spacing_or_cut_mark() -> None:
    found = [
        {"chunk_id": 1, "quote": "Staff may work  remotely…"},
        {"chunk_id": 2, "quote": "staff may work remotely"},
        {"chunk_id": 1, "quote": "Another sentence of chunk one."},
        {"chunk_id": 3, "quote": "Something else."},
    ]

    assert [c["chunk_id"] for c in qa.distinct_passages(found)] == [1, 3]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("thread_connections_closed")
async def test_a_streamed_answer_is_kept_with_its_citations(alice, fake_openai) -> None:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(alice)
    await Provider.objects.acreate(
        name="fake", base_url=fake_openai.base_url, api_key="sk-test", models=["m"]
    )
    document = (await client.post("/api/documents/upload", {"file": _file()})).json()
    session = await Session.objects.acreate(user=alice, session_type="documents")
    fake_openai.stream(["Three ", "days ", "[1]."])

    _, got = await stream(
        client,
        "/api/documents/qa/stream",
        {
            "question": REMOTE_QUESTION,
            "document_ids": [document["id"]],
            "session_id": str(session.id),
        },
    )

    done = got[-1][1]
    assert got[-1][0] == "done"
    messages = [m async for m in session.messages.order_by("id")]
    assert [(m.role, m.content) for m in messages] == [
        ("user", REMOTE_QUESTION),
        ("assistant", "Three days [1]."),
    ]
    answer = messages[1]
    assert (done["message_id"], done["prompt_message_id"]) == (answer.id, messages[0].id)
    assert answer.ttft_ms is not None and answer.completion_tokens > 0
    chunk = await Chunk.objects.aget(pk=answer.citations[0]["chunk_id"])
    assert chunk.section == "Remote work"
    await session.arefresh_from_db()
    assert session.current_leaf_id == answer.id and session.message_count == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("thread_connections_closed")
async def test_a_stream_that_fails_midway_keeps_the_partial_answer_as_an_error(
    alice, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    from chat.tests.canary import in_stream_error

    client = AsyncClient()
    await client.aforce_login(alice)
    await Provider.objects.acreate(
        name="fake", base_url=fake_openai.base_url, api_key="sk-test", models=["m"]
    )
    document = (await client.post("/api/documents/upload", {"file": _file()})).json()
    session = await Session.objects.acreate(user=alice, session_type="documents")
    fake_openai.stream(["Three ", in_stream_error("openai")], delay_between=0.1)

    _, got = await stream(
        client,
        f"/api/documents/{document['id']}/qa/stream",
        {"question": REMOTE_QUESTION, "session_id": str(session.id)},
    )

    assert got[-1][0] == "error" and got[-1][1]["message_id"]
    answer = await session.messages.aget(role="assistant")
    assert answer.status == "error" and answer.error_code == got[-1][1]["code"]
    assert answer.content == "Three "
