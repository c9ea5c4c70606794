from __future__ import annotations

import json

from console.models import Profile


def post(client, path, body):  # type: ignore[no-untyped-def]
    return client.post(path, json.dumps(body), content_type="application/json")


def patch(client, path, body):  # type: ignore[no-untyped-def]
    return client.patch(path, json.dumps(body), content_type="application/json")


def test_it_needs_a_login(client, db):  # type: ignore[no-untyped-def]
    assert client.get("/api/profiles").status_code == 401


def test_any_logged_in_user_lists_shared_profiles_as_a_plain_array(as_alice, terse):  # type: ignore[no-untyped-def]
    response = as_alice.get("/api/profiles")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert body[0]["name"] == "terse"
    assert body[0]["shared"] is True
    assert body[0]["temperature"] == 0.2


def test_an_admin_key_creates_a_shared_profile_with_defaults(api):  # type: ignore[no-untyped-def]
    response = post(api, "/api/profiles", {"name": "default"})
    assert response.status_code == 201
    body = response.json()
    assert (body["temperature"], body["max_tokens"], body["shared"]) == (0.7, 2048, True)
    assert api.get(f"/api/profiles/{body['id']}").json()["name"] == "default"


def test_a_user_creates_a_profile_of_their_own(as_alice, as_bob, alice):  # type: ignore[no-untyped-def]
    response = post(as_alice, "/api/profiles", {"name": "mine", "system_prompt": "Be kind."})
    assert response.status_code == 201
    profile = Profile.objects.get(pk=response.json()["id"])
    assert profile.owner == alice
    assert as_bob.get(f"/api/profiles/{profile.id}").status_code == 404
    assert [p["name"] for p in as_bob.get("/api/profiles").json()] == []


def test_a_user_edits_and_deletes_their_profile(as_alice):  # type: ignore[no-untyped-def]
    created = post(as_alice, "/api/profiles", {"name": "mine"}).json()
    response = patch(as_alice, f"/api/profiles/{created['id']}", {"temperature": 1.1})
    assert response.status_code == 200
    assert response.json()["temperature"] == 1.1
    assert as_alice.delete(f"/api/profiles/{created['id']}").status_code == 204
    assert not Profile.objects.exists()


def test_only_staff_change_shared_profiles(as_alice, as_staff, terse):  # type: ignore[no-untyped-def]
    assert patch(as_alice, f"/api/profiles/{terse.id}", {"name": "x"}).status_code == 403
    assert as_alice.delete(f"/api/profiles/{terse.id}").status_code == 403
    assert patch(as_staff, f"/api/profiles/{terse.id}", {"name": "brief"}).status_code == 200
    assert post(as_alice, "/api/profiles", {"name": "s", "shared": True}).status_code == 403


def test_bad_values_name_the_field(as_alice):  # type: ignore[no-untyped-def]
    response = post(as_alice, "/api/profiles", {"name": "hot", "temperature": 5})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("temperature")
    response = post(as_alice, "/api/profiles", {"name": ""})
    assert response.json()["detail"].startswith("name")


def test_another_users_profile_answers_404_and_so_does_garbage(as_bob, as_alice):  # type: ignore[no-untyped-def]
    created = post(as_alice, "/api/profiles", {"name": "mine"}).json()
    assert patch(as_bob, f"/api/profiles/{created['id']}", {"name": "x"}).status_code == 404
    assert as_bob.get("/api/profiles/not-a-number").status_code == 404


def test_session_auth_needs_csrf(alice, db):  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = post(client, "/api/profiles", {"name": "mine"})
    assert response.status_code in (401, 403)


def test_the_default_model_is_accepted_under_either_name(api):  # type: ignore[no-untyped-def]
    body = post(api, "/api/profiles", {"name": "coder", "default_model": "gpt-4o"}).json()
    assert body["model"] == body["default_model"] == "gpt-4o"
    body = patch(api, f"/api/profiles/{body['id']}", {"model": "claude"}).json()
    assert body["default_model"] == "claude"
