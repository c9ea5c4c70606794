"""Hostile sizes are 4xx, never 500: huge integers, deep JSON, long file names."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

HUGE = "2008730652840717774225408"
DEEP = "[" * 1000 + "]" * 1000


def nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        f"/api/sessions?offset={HUGE}",
        f"/api/usage?offset={HUGE}",
        f"/api/documents?offset={HUGE}",
        f"/api/models?offset={HUGE}",
        f"/api/messages?before={HUGE}",
    ],
)
def test_huge_query_integers_are_422_naming_the_parameter(as_staff, url) -> None:  # type: ignore[no-untyped-def]
    response = as_staff.get(url)
    assert response.status_code == 422, response.content
    name = url.split("?")[1].split("=")[0]
    assert response.json()["detail"].startswith(f"query.{name}:")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", [f"/api/providers/{HUGE}", f"/api/model-routes/{HUGE}", f"/api/profiles/{HUGE}"]
)
def test_huge_path_integers_are_4xx(as_staff, url) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= as_staff.get(url).status_code < 500


@pytest.mark.django_db
def test_a_huge_integer_in_a_body_is_400(as_staff) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "r", "mode": "auto", "nodes": [{"provider_id": int(HUGE), "models": []}]}
    response = as_staff.post("/api/model-routes", json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [DEEP, '{"name": "p", "system_prompt": "x", "x": ' + nested(150) + "}"]
)
def test_deep_json_on_api_is_400(as_staff, body) -> None:  # type: ignore[no-untyped-def]
    response = as_staff.post("/api/profiles", body, content_type="application/json")
    assert response.status_code == 400, response.content


@pytest.mark.django_db
def test_a_1000_character_file_name_is_not_a_server_error(as_alice) -> None:  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("n" * 1000 + ".md", b"# Notes\n\nSome text.")
    response = as_alice.post("/api/documents/upload", {"file": upload})
    assert response.status_code == 201, response.content
    assert response.json()["title"].endswith(".md") and len(response.json()["title"]) <= 200


@pytest.mark.django_db
def test_a_1000_character_backup_name_is_404(as_staff) -> None:  # type: ignore[no-untyped-def]
    assert as_staff.get("/api/admin/backups/" + "b" * 1000 + ".db").status_code == 404
