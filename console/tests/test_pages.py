from __future__ import annotations


def test_pages_need_a_login(client, db):  # type: ignore[no-untyped-def]
    for path in ("/", "/usage/", "/keys/", "/status/"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_the_chat_and_usage_pages_render_for_any_user(as_alice):  # type: ignore[no-untyped-def]
    chat = as_alice.get("/")
    assert chat.status_code == 200
    assert b"console/chat.js" in chat.content
    assert "csrftoken" in chat.cookies
    assert as_alice.get("/usage/").status_code == 200


def test_the_keys_page_renders_for_any_user_without_secrets(as_alice, alice, fake_provider):  # type: ignore[no-untyped-def]
    from chat.models import ApiKey

    _, raw = ApiKey.issue("laptop", owner=alice)
    page = as_alice.get("/keys/")
    assert page.status_code == 200
    assert b"console/keys.js" in page.content
    assert f'data-user="{alice.id}"'.encode() in page.content
    assert b'data-model="fake/' in page.content  # the snippets name a real model
    assert raw.encode() not in page.content
    assert "csrftoken" in page.cookies


def test_the_status_page_is_for_staff(as_alice, as_staff, fake_provider):  # type: ignore[no-untyped-def]
    assert as_alice.get("/status/").status_code == 302
    page = as_staff.get("/status/")
    assert page.status_code == 200
    assert f'data-provider="{fake_provider.id}"'.encode() in page.content
    assert b"sk-fake-upstream" not in page.content


def test_the_model_picker_lists_catalog_models_without_secrets(as_alice, fake_provider):  # type: ignore[no-untyped-def]
    entries = as_alice.get("/api/chat/models").json()
    vision = next(e for e in entries if e["id"] == "fake/vision")
    assert vision["vision"] is True and vision["context_length"] == 8192
    assert vision["prompt_price"] == 0.000001
    assert "sk-fake-upstream" not in str(entries) and "base_url" not in str(entries)


def test_vendored_libraries_are_served(client, db):  # type: ignore[no-untyped-def]
    for name in ("marked.esm.js", "purify.es.mjs", "highlight.min.js"):
        response = client.get(f"/static/vendor/{name}")
        assert response.status_code == 200, name


def test_the_admin_lists_sessions_and_profiles(as_staff, alices_chat, terse):  # type: ignore[no-untyped-def]
    assert as_staff.get("/admin/console/session/").status_code == 200
    assert as_staff.get(f"/admin/console/session/{alices_chat.id}/change/").status_code == 200
    assert as_staff.get("/admin/console/profile/").status_code == 200
