from __future__ import annotations

import json

from console import conversations
from console.models import Message


def post(client, path, body):  # type: ignore[no-untyped-def]
    return client.post(path, json.dumps(body), content_type="application/json")


def fill(session, n):  # type: ignore[no-untyped-def]
    return [
        conversations.append(
            session=session, role="user" if i % 2 == 0 else "assistant", content=f"m{i}"
        )
        for i in range(n)
    ]


def test_each_message_is_its_own_row(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    post(as_alice, f"/api/sessions/{alices_chat.id}/messages", {"content": "one"})
    post(as_alice, f"/api/sessions/{alices_chat.id}/messages", {"content": "two"})
    assert Message.objects.filter(session=alices_chat).count() == 2


def test_adding_a_message_returns_it(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    response = post(as_alice, f"/api/sessions/{alices_chat.id}/messages", {"content": "hello"})
    assert response.status_code == 201
    body = response.json()
    assert (body["role"], body["content"], body["session_id"]) == (
        "user",
        "hello",
        str(alices_chat.id),
    )
    assert body["tokens"] == 0 and body["stopped"] is False


def test_an_empty_message_or_bad_role_is_refused_by_name(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    url = f"/api/sessions/{alices_chat.id}/messages"
    response = post(as_alice, url, {"content": "  "})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("content")
    response = post(as_alice, url, {"content": "x", "role": "wizard"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("role")
    response = post(as_alice, url, {"content": "x", "images": ["http://example.com/cat.png"]})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("images")


def test_messages_page_with_limit_and_offset_in_order(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    fill(alices_chat, 5)
    body = as_alice.get(f"/api/sessions/{alices_chat.id}/messages?limit=2&offset=1").json()
    assert body["count"] == 5
    assert [m["content"] for m in body["items"]] == ["m1", "m2"]


def test_the_newest_page_and_older_pages_by_cursor(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    messages = fill(alices_chat, 7)
    url = f"/api/sessions/{alices_chat.id}/messages"
    newest = as_alice.get(f"{url}?limit=3&newest=true").json()["items"]
    assert [m["content"] for m in newest] == ["m4", "m5", "m6"]
    older = as_alice.get(f"{url}?limit=3&before={newest[0]['id']}").json()["items"]
    assert [m["content"] for m in older] == ["m1", "m2", "m3"]
    oldest = as_alice.get(f"{url}?limit=3&before={messages[1].id}").json()["items"]
    assert [m["content"] for m in oldest] == ["m0"]


def test_the_messages_list_by_session_query(as_alice, as_bob, alices_chat):  # type: ignore[no-untyped-def]
    fill(alices_chat, 2)
    assert as_alice.get(f"/api/messages?session_id={alices_chat.id}").json()["count"] == 2
    assert as_bob.get(f"/api/messages?session_id={alices_chat.id}").status_code == 404


def test_editing_and_deleting_a_message(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    message = fill(alices_chat, 1)[0]
    response = as_alice.patch(
        f"/api/messages/{message.id}",
        json.dumps({"content": "better"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["content"] == "better"
    assert as_alice.get(f"/api/messages/{message.id}").json()["content"] == "better"
    assert as_alice.delete(f"/api/messages/{message.id}").status_code == 204
    assert not Message.objects.exists()


def test_another_users_message_answers_404(as_bob, alices_chat):  # type: ignore[no-untyped-def]
    message = fill(alices_chat, 1)[0]
    assert as_bob.get(f"/api/messages/{message.id}").status_code == 404
    response = as_bob.patch(
        f"/api/messages/{message.id}", json.dumps({"content": "x"}), content_type="application/json"
    )
    assert response.status_code == 404
    assert as_bob.delete(f"/api/messages/{message.id}").status_code == 404
    assert Message.objects.get(pk=message.id).content == "m0"
