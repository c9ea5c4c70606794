"""The routing app's module functions: what other apps call to choose providers.

`select` / `aselect` turn a client's `model` into candidates for successive attempts
(see routing.engine); neither touches the database once the snapshot is built.
Imports happen inside the functions: this package is imported while apps load.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing.engine import Candidate
    from routing.snapshot import RouteSnap, Snapshot

# Weighted picks need no reproducibility in production; tests pass their own seeded rng
# to routing.engine directly.
_rng = random.Random()


def select(model_name: str, *, limit: int = 1) -> list[Candidate]:
    """Raises routing.engine.RoutingError when nothing can serve `model_name`."""
    from django.utils import timezone

    from routing import counters, engine, snapshot

    return engine.plan(
        snapshot.current(),
        model_name,
        limit=limit,
        counter=counters.incr,
        rng=_rng,
        now=timezone.now(),
    )


async def aselect(model_name: str, *, limit: int) -> list[Candidate]:
    """The hot path: an in-memory snapshot and, for round-robin, one cache round trip."""
    from django.utils import timezone

    from routing import counters, engine, snapshot

    resolution = engine.resolve(await snapshot.acurrent(), model_name, now=timezone.now())
    positions = await counters.aincr_many(engine.counter_keys(resolution, limit=max(limit, 1)))
    return engine.order(
        resolution,
        limit=max(limit, 1),
        counter=lambda key: positions.get(key, 1),
        rng=_rng,
    )


def _route_snap(route_id: int) -> tuple[Snapshot, RouteSnap]:
    from django.http import Http404

    from routing import snapshot

    current = snapshot.current()
    if route_id not in current.routes_by_id:
        # Perhaps created on another instance within the last second: look again.
        snapshot.store.forget()
        current = snapshot.current()
    route = current.routes_by_id.get(route_id)
    if route is None:
        raise Http404(f"No route with id {route_id}.")
    return current, route


def select_route(route_id: int, *, model: str | None = None, limit: int = 1) -> list[Candidate]:
    """Like `select` for one route by id (the management API's `select`)."""
    from django.utils import timezone

    from routing import counters, engine

    current, route = _route_snap(route_id)
    resolution = engine.resolve_route(current, route, model or None, now=timezone.now())
    return engine.order(resolution, limit=max(limit, 1), counter=counters.incr, rng=_rng)


def rotation_state(route_id: int) -> dict[str, int]:
    """Round-robin positions of a route's rotations, label → selections so far."""
    from routing import counters, engine

    current, route = _route_snap(route_id)
    keys = engine.rotation_keys(current, route)
    positions = counters.peek_many(keys.values())
    # Model-specific rotations only once used; the route-wide ones always.
    return {
        label: positions[key] for label, key in keys.items() if positions[key] or "/" not in label
    }
