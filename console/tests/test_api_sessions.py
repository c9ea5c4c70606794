from __future__ import annotations

import json

from console import conversations
from console.models import Session


def post(client, path, body=None):  # type: ignore[no-untyped-def]
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def patch(client, path, body):  # type: ignore[no-untyped-def]
    return client.patch(path, json.dumps(body), content_type="application/json")


def test_it_needs_a_login(client, db):  # type: ignore[no-untyped-def]
    assert client.get("/api/sessions").status_code == 401
    assert post(client, "/api/sessions").status_code == 401


def test_a_user_creates_a_session_with_defaults(as_alice, alice):  # type: ignore[no-untyped-def]
    response = post(as_alice, "/api/sessions")
    assert response.status_code == 201
    body = response.json()
    assert body["session_type"] == "chat"
    assert body["title"] == "New chat"
    assert Session.objects.get(pk=body["id"]).user == alice


def test_a_session_takes_type_profile_model_and_overrides(as_alice, terse):  # type: ignore[no-untyped-def]
    response = post(
        as_alice,
        "/api/sessions",
        {
            "title": "Code",
            "session_type": "code",
            "profile_id": terse.id,
            "model": "fake/echo",
            "overrides": {"temperature": 0.1},
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["session_type"], body["profile_id"], body["model"]) == (
        "code",
        terse.id,
        "fake/echo",
    )
    assert body["overrides"] == {"temperature": 0.1}


def test_bad_session_fields_are_named(as_alice):  # type: ignore[no-untyped-def]
    response = post(as_alice, "/api/sessions", {"session_type": "poetry"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("session_type")
    response = post(as_alice, "/api/sessions", {"profile_id": 999})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("profile_id")
    response = post(as_alice, "/api/sessions", {"overrides": {"colour": "red"}})
    assert response.status_code == 422
    assert "colour" in response.json()["detail"]


def test_the_list_is_paged_with_items_and_count_newest_first(as_alice, alice):  # type: ignore[no-untyped-def]
    for n in range(3):
        Session.objects.create(user=alice, title=f"s{n}")
    body = as_alice.get("/api/sessions?limit=2").json()
    assert body["count"] == 3
    assert [s["title"] for s in body["items"]] == ["s2", "s1"]
    body = as_alice.get("/api/sessions?limit=2&offset=2").json()
    assert [s["title"] for s in body["items"]] == ["s0"]
    assert as_alice.get("/api/sessions?limit=501").status_code == 422


def test_each_user_sees_only_their_own_sessions(as_alice, as_bob, alices_chat):  # type: ignore[no-untyped-def]
    assert as_bob.get("/api/sessions").json() == {"items": [], "count": 0}
    assert as_alice.get("/api/sessions").json()["count"] == 1


def test_another_users_session_answers_404_everywhere(as_bob, alices_chat):  # type: ignore[no-untyped-def]
    sid = alices_chat.id
    assert as_bob.get(f"/api/sessions/{sid}").status_code == 404
    assert patch(as_bob, f"/api/sessions/{sid}", {"title": "mine"}).status_code == 404
    assert as_bob.delete(f"/api/sessions/{sid}").status_code == 404
    assert post(as_bob, f"/api/sessions/{sid}/clone").status_code == 404
    assert as_bob.get(f"/api/sessions/{sid}/messages").status_code == 404
    assert post(as_bob, f"/api/sessions/{sid}/messages", {"content": "hi"}).status_code == 404
    assert as_bob.get(f"/api/sessions/{sid}/export?format=json").status_code == 404
    assert Session.objects.get(pk=sid).title == "Alice's chat"


def test_a_malformed_session_id_is_a_404(as_alice):  # type: ignore[no-untyped-def]
    response = as_alice.get("/api/sessions/not-a-uuid")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_rename_and_delete(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    response = patch(as_alice, f"/api/sessions/{alices_chat.id}", {"title": "Renamed"})
    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert as_alice.delete(f"/api/sessions/{alices_chat.id}").status_code == 204
    assert as_alice.get(f"/api/sessions/{alices_chat.id}").status_code == 404


def test_switching_the_profile_and_clearing_it(as_alice, alices_chat, terse):  # type: ignore[no-untyped-def]
    url = f"/api/sessions/{alices_chat.id}"
    assert patch(as_alice, url, {"profile_id": terse.id}).json()["profile_id"] == terse.id
    assert patch(as_alice, url, {"profile_id": None}).json()["profile_id"] is None


def test_search_covers_titles_and_message_text(as_alice, alice, alices_chat):  # type: ignore[no-untyped-def]
    other = Session.objects.create(user=alice, title="Recipes")
    conversations.append(alices_chat, role="user", content="How do ZEBRAS sleep?")
    assert [s["title"] for s in as_alice.get("/api/sessions?search=zebra").json()["items"]] == [
        "Alice's chat"
    ]
    assert [s["id"] for s in as_alice.get("/api/sessions?search=recip").json()["items"]] == [
        str(other.id)
    ]


def test_search_never_finds_another_users_messages(as_bob, alices_chat):  # type: ignore[no-untyped-def]
    conversations.append(alices_chat, role="user", content="secret plans")
    assert as_bob.get("/api/sessions?search=secret").json()["count"] == 0


def test_clone_copies_messages_in_order(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    for n in range(3):
        conversations.append(alices_chat, role="user", content=f"m{n}")
    response = post(as_alice, f"/api/sessions/{alices_chat.id}/clone")
    assert response.status_code == 201
    copy = response.json()
    assert copy["id"] != str(alices_chat.id)
    assert copy["title"] == "Alice's chat (copy)"
    assert copy["message_count"] == 3
    items = as_alice.get(f"/api/sessions/{copy['id']}/messages").json()["items"]
    assert [m["content"] for m in items] == ["m0", "m1", "m2"]


def test_totals_add_up_tokens_and_cost(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    conversations.append(
        session=alices_chat,
        role="assistant",
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd="0.25",
    )
    conversations.append(
        session=alices_chat, role="assistant", prompt_tokens=1, completion_tokens=1, cost_usd="0.5"
    )
    body = as_alice.get(f"/api/sessions/{alices_chat.id}").json()
    assert (body["message_count"], body["total_tokens"], body["total_cost_usd"]) == (2, 17, 0.75)


def test_export_as_markdown_and_json(as_alice, alices_chat):  # type: ignore[no-untyped-def]
    conversations.append(alices_chat, role="user", content="Hello?")
    conversations.append(alices_chat, role="assistant", content="**Hi**", model="m1")
    response = as_alice.get(f"/api/sessions/{alices_chat.id}/export?format=md")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode()
    assert "# Alice's chat" in text and "## user" in text and "**Hi**" in text
    response = as_alice.get(f"/api/sessions/{alices_chat.id}/export?format=json")
    body = json.loads(response.content)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert body["title"] == "Alice's chat"
    assert as_alice.get(f"/api/sessions/{alices_chat.id}/export?format=pdf").status_code == 422


def test_an_admin_key_has_sessions_of_its_own(api, alices_chat):  # type: ignore[no-untyped-def]
    created = post(api, "/api/sessions", {"title": "ops"}).json()
    assert api.get(f"/api/sessions/{created['id']}").status_code == 200
    assert api.get(f"/api/sessions/{alices_chat.id}").status_code == 404
    assert [s["title"] for s in api.get("/api/sessions").json()["items"]] == ["ops"]


def test_a_chat_only_key_is_refused(client, chat_key):  # type: ignore[no-untyped-def]
    response = client.get("/api/sessions", HTTP_AUTHORIZATION=f"Bearer {chat_key}")
    assert response.status_code == 403


def test_profile_may_be_given_as_profile_or_profile_id(as_alice, terse):  # type: ignore[no-untyped-def]
    body = post(as_alice, "/api/sessions", {"profile": terse.id}).json()
    assert body["profile_id"] == body["profile"] == terse.id
    url = f"/api/sessions/{body['id']}"
    assert patch(as_alice, url, {"profile_id": None}).json()["profile"] is None


def test_unknown_fields_are_named(as_alice):  # type: ignore[no-untyped-def]
    response = post(as_alice, "/api/sessions", {"colour": "red"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("colour")
