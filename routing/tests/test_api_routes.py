from __future__ import annotations

import json
from typing import Any

import pytest

from providers.models import Provider
from routing.models import Route

pytestmark = pytest.mark.django_db


def post(api, path: str, body: Any = None):  # type: ignore[no-untyped-def]
    return api.post(path, json.dumps(body or {}), content_type="application/json")


def patch(api, path: str, body: Any):  # type: ignore[no-untyped-def]
    return api.patch(path, json.dumps(body), content_type="application/json")


def seed(trio: list[Provider], **overrides: Any) -> dict[str, Any]:
    return {
        "name": "team",
        "mode": "auto",
        "is_active": True,
        "config": {"note": "three ways"},
        "nodes": [
            {
                "api_id": provider.pk,
                "models": ["m"],
                "strategy": "round-robin",
                "priority": 0,
                "weight": 1,
                "metadata": {"region": "eu"},
            }
            for provider in trio
        ],
    } | overrides


def create(api, trio: list[Provider], **overrides: Any):  # type: ignore[no-untyped-def]
    return post(api, "/api/model-routes", seed(trio, **overrides))


def test_create_echoes_the_route_with_provider_names(api, trio: list[Provider]) -> None:
    response = create(api, trio)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "team"
    assert body["mode"] == "auto"
    assert body["is_active"] is True
    assert body["config"] == {"note": "three ways"}
    assert [(n["api_id"], n["provider_name"]) for n in body["nodes"]] == [
        (p.pk, p.name) for p in trio
    ]
    first = body["nodes"][0]
    assert first["models"] == ["m"]
    assert first["strategy"] == "round-robin"
    assert (first["priority"], first["weight"], first["metadata"]) == (0, 1, {"region": "eu"})
    assert "secret" not in response.content.decode()


def test_create_defaults_fill_in_a_minimal_payload(api, trio: list[Provider]) -> None:
    response = post(api, "/api/model-routes", {"name": "bare", "nodes": [{"api_id": trio[0].pk}]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["mode"], body["is_active"], body["config"]) == ("auto", True, {})
    assert body["nodes"][0]["models"] == []
    assert body["nodes"][0]["weight"] == 1


def test_nodes_come_back_ordered_by_priority(api, trio: list[Provider]) -> None:
    body = seed(trio, mode="multi")
    for node, priority in zip(body["nodes"], (5, 0, 2), strict=True):
        node["priority"] = priority
    created = post(api, "/api/model-routes", body).json()
    assert [n["provider_name"] for n in created["nodes"]] == ["b", "c", "a"]


def test_list_is_a_plain_array(api, trio: list[Provider]) -> None:
    create(api, trio)
    create(api, trio, name="another", nodes=[])
    listed = api.get("/api/model-routes").json()
    assert isinstance(listed, list)
    assert [route["name"] for route in listed] == ["another", "team"]
    assert len(listed[1]["nodes"]) == 3


def test_get_patch_delete(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    assert api.get(f"/api/model-routes/{route_id}").json()["name"] == "team"

    patched = patch(api, f"/api/model-routes/{route_id}", {"mode": "multi", "is_active": False})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["mode"], patched.json()["is_active"]) == ("multi", False)
    assert len(patched.json()["nodes"]) == 3  # untouched without "nodes"

    assert api.delete(f"/api/model-routes/{route_id}").status_code == 204
    assert api.get(f"/api/model-routes/{route_id}").status_code == 404
    assert api.delete(f"/api/model-routes/{route_id}").status_code == 404


def test_patch_replaces_the_nodes_as_a_whole(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    new_nodes = [{"api_id": trio[2].pk, "models": ["m"], "strategy": "failover"}]
    patched = patch(api, f"/api/model-routes/{route_id}", {"nodes": new_nodes})
    assert patched.status_code == 200, patched.content
    assert [(n["provider_name"], n["strategy"]) for n in patched.json()["nodes"]] == [
        ("c", "failover")
    ]
    assert patch(api, f"/api/model-routes/{route_id}", {"nodes": []}).json()["nodes"] == []


def test_a_failed_patch_changes_nothing(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    response = patch(
        api, f"/api/model-routes/{route_id}", {"name": "renamed", "nodes": [{"api_id": 99999}]}
    )
    assert response.status_code == 400
    route = api.get(f"/api/model-routes/{route_id}").json()
    assert route["name"] == "team"
    assert len(route["nodes"]) == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "random"}, "mode"),
        ({"name": ""}, "name"),
        ({"config": ["not", "an", "object"]}, "config"),
    ],
)
def test_invalid_route_fields_are_named(api, trio: list[Provider], change, field) -> None:  # type: ignore[no-untyped-def]
    response = create(api, trio, **change)
    assert response.status_code in (400, 422)
    assert response.json()["detail"].startswith(f"{field}:"), response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "fastest"}, "nodes.1.strategy"),
        ({"priority": -1}, "nodes.1.priority"),
        ({"weight": 0}, "nodes.1.weight"),
        ({"weight": -2.5}, "nodes.1.weight"),
        ({"models": "m"}, "nodes.1.models"),
        ({"models": [""]}, "nodes.1.models"),
        ({"api_id": "b"}, "nodes.1.api_id"),
    ],
)
def test_invalid_node_fields_are_named(api, trio: list[Provider], change, field) -> None:  # type: ignore[no-untyped-def]
    body = seed(trio)
    body["nodes"][1] |= change
    response = post(api, "/api/model-routes", body)
    assert response.status_code in (400, 422)
    assert response.json()["detail"].startswith(f"{field}"), response.json()
    assert not Route.objects.exists()


def test_an_unknown_provider_id_is_named(api, trio: list[Provider]) -> None:
    body = seed(trio)
    body["nodes"][2]["api_id"] = 424242
    response = post(api, "/api/model-routes", body)
    assert response.status_code == 400
    assert response.json()["detail"] == "nodes.2.api_id: No provider with id 424242."
    assert not Route.objects.exists()


def test_a_duplicate_name_is_refused(api, trio: list[Provider]) -> None:
    create(api, trio)
    response = create(api, trio)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("name:")


def test_select_rotates_and_names_provider_and_model(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    picks = [post(api, f"/api/model-routes/{route_id}/select").json() for _ in range(2)]
    picks.append(api.post(f"/api/model-routes/{route_id}/select").json())  # no body at all
    assert picks == [{"provider_id": p.pk, "provider_name": p.name, "model": "m"} for p in trio]


def test_state_shows_the_round_robin_position(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    state = api.get(f"/api/model-routes/{route_id}/state").json()
    assert state == {
        "route_id": route_id,
        "route_name": "team",
        "state": {"round_robin_indices": {"all": 0}},
    }
    for _ in range(4):
        post(api, f"/api/model-routes/{route_id}/select")
    indices = api.get(f"/api/model-routes/{route_id}/state").json()["state"]["round_robin_indices"]
    assert indices == {"all": 4}


def test_state_of_a_multi_route_has_one_rotation_per_priority(api, trio: list[Provider]) -> None:
    body = seed(trio, mode="multi")
    body["nodes"][2]["priority"] = 1
    route_id = post(api, "/api/model-routes", body).json()["id"]
    post(api, f"/api/model-routes/{route_id}/select")
    post(api, f"/api/model-routes/{route_id}/select?model=m")
    indices = api.get(f"/api/model-routes/{route_id}/state").json()["state"]["round_robin_indices"]
    assert indices == {"priority-0": 1, "priority-1": 0, "priority-0/m": 1}


def test_select_with_a_model_hint_on_a_specific_route(api, trio: list[Provider]) -> None:
    body = seed(trio, mode="specific")
    body["nodes"][0]["models"] = ["a-only"]
    route_id = post(api, "/api/model-routes", body).json()["id"]
    picked = post(api, f"/api/model-routes/{route_id}/select?model=a-only").json()
    assert picked == {"provider_id": trio[0].pk, "provider_name": "a", "model": "a-only"}
    in_body = post(api, f"/api/model-routes/{route_id}/select", {"model": "a-only"}).json()
    assert in_body == picked
    bad = post(api, f"/api/model-routes/{route_id}/select", {"model": 5})
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("model:")
    missing = post(api, f"/api/model-routes/{route_id}/select?model=zzz")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "model_not_found"
    assert "zzz" in missing.json()["detail"]


def test_select_without_a_usable_provider_is_503(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    for provider in trio:
        provider.is_healthy = False
        provider.save()
    response = post(api, f"/api/model-routes/{route_id}/select")
    assert response.status_code == 503
    assert response.json()["reason"] == "no_healthy_provider"
    assert "team" in response.json()["detail"]


def test_select_on_an_inactive_route_says_so(api, trio: list[Provider]) -> None:
    route_id = create(api, trio, is_active=False).json()["id"]
    response = post(api, f"/api/model-routes/{route_id}/select")
    assert response.status_code == 404
    assert response.json()["reason"] == "route_inactive"


def test_select_and_state_of_a_missing_route_are_404(api, db) -> None:  # type: ignore[no-untyped-def]
    assert post(api, "/api/model-routes/999/select").status_code == 404
    assert api.get("/api/model-routes/999/state").status_code == 404


def test_deleting_a_provider_removes_its_nodes(api, trio: list[Provider]) -> None:
    route_id = create(api, trio).json()["id"]
    assert api.delete(f"/api/providers/{trio[0].pk}").status_code == 204
    nodes = api.get(f"/api/model-routes/{route_id}").json()["nodes"]
    assert [n["provider_name"] for n in nodes] == ["b", "c"]
    picks = {post(api, f"/api/model-routes/{route_id}/select").json()["provider_name"]}
    assert picks <= {"b", "c"}


def test_routes_need_an_admin(client, chat_key, trio: list[Provider]) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/model-routes").status_code == 401
    as_chat = client.get("/api/model-routes", HTTP_AUTHORIZATION=f"Bearer {chat_key}")
    assert as_chat.status_code == 403


def test_a_staff_session_may_manage_routes(client, staff, trio: list[Provider]) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff)
    assert client.get("/api/model-routes").status_code == 200
