from __future__ import annotations

import pytest

from providers.models import Provider
from routing.models import Route, RouteNode


@pytest.fixture
def trio(db) -> list[Provider]:  # type: ignore[no-untyped-def]
    """Three active, healthy providers serving model "m" (and "a-only" for the first)."""
    return [
        Provider.objects.create(
            name=name, base_url=f"http://{name}.test/v1", api_key=f"sk-{name}-secret", models=models
        )
        for name, models in (("a", ["m", "a-only"]), ("b", ["m"]), ("c", ["m"]))
    ]


@pytest.fixture
def team(trio: list[Provider]) -> Route:
    """An auto route over the trio, round-robin."""
    route = Route.objects.create(name="team", mode="auto")
    for provider in trio:
        RouteNode.objects.create(route=route, provider=provider, models=["m"])
    return route
