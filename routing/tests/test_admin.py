from __future__ import annotations

import pytest

from providers.models import Provider
from routing.models import Route

pytestmark = pytest.mark.django_db


def inline_form(rows: list[dict[str, str]], initial: int = 0) -> dict[str, str]:
    data = {
        "nodes-TOTAL_FORMS": str(len(rows)),
        "nodes-INITIAL_FORMS": str(initial),
        "nodes-MIN_NUM_FORMS": "0",
        "nodes-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data |= {f"nodes-{index}-{field}": value for field, value in row.items()}
    return data


def node_row(provider: Provider, priority: int, **extra: str) -> dict[str, str]:
    return {
        "provider": str(provider.pk),
        "models": '["m"]',
        "strategy": "failover",
        "priority": str(priority),
        "weight": "1",
        "metadata": "{}",
    } | extra


def test_the_route_pages_render_with_nodes_inline(client, staff, team: Route) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff)
    assert client.get("/admin/routing/route/").status_code == 200
    assert client.get("/admin/routing/route/add/").status_code == 200
    page = client.get(f"/admin/routing/route/{team.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "nodes-TOTAL_FORMS" in html
    assert "sk-a-secret" not in html


def test_nodes_are_edited_on_their_route_and_listed_by_priority(
    client, staff, trio: list[Provider]
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff)
    form = {"name": "admin-made", "mode": "multi", "is_active": "on", "config": "{}"}
    form |= inline_form([node_row(trio[0], 5), node_row(trio[1], 1)])
    response = client.post("/admin/routing/route/add/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    route = Route.objects.get(name="admin-made")
    assert [n.provider.name for n in route.nodes.all()] == ["b", "a"]
    page = client.get(f"/admin/routing/route/{route.pk}/change/").content.decode()
    assert page.index(f'value="{trio[1].pk}" selected') < page.index(
        f'value="{trio[0].pk}" selected'
    )


def test_the_admin_refuses_a_bad_node(client, staff, trio: list[Provider]) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff)
    form = {"name": "bad", "mode": "auto", "is_active": "on", "config": "{}"}
    form |= inline_form([node_row(trio[0], -1, weight="0")])
    response = client.post("/admin/routing/route/add/", form)
    assert response.status_code == 200
    assert not Route.objects.filter(name="bad").exists()
    assert "greater than 0" in response.content.decode()
