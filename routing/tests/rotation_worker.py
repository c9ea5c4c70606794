"""A second process for the shared-rotation test: selects on command, prints the provider.

It rebuilds the parent's snapshot from JSON (the parent's test database is not visible to
other processes) and selects through the real engine and Redis counters.
Run as: python -m routing.tests.rotation_worker '<json>'; each stdin line asks for one
selection.
"""

from __future__ import annotations

import json
import random
import sys
from types import MappingProxyType

import django


def pin_namespace(namespace: str) -> None:
    """Use the parent's counter namespace instead of reading this process's database."""
    import time

    from coordination import changes

    changes.signal._token = changes.Token(0, namespace)
    changes.signal._checked_at = time.monotonic()
    changes.signal.check_seconds = float("inf")


def main() -> None:
    django.setup()
    from django.utils import timezone

    from routing import counters, engine
    from routing.snapshot import NodeSnap, ProviderSnap, RouteSnap, Snapshot

    data = json.loads(sys.argv[1])
    pin_namespace(data["namespace"])
    providers = [
        ProviderSnap(
            p["id"],
            p["name"],
            "openai_compatible",
            "http://x",
            "",
            tuple(p["models"]),
            True,
            True,
            None,
        )
        for p in data["providers"]
    ]
    r = data["route"]
    nodes = tuple(
        NodeSnap(
            n["id"],
            n["provider_id"],
            tuple(n["models"]),
            n["strategy"],
            n["priority"],
            n["weight"],
            MappingProxyType({}),
        )
        for n in r["nodes"]
    )
    route = RouteSnap(r["id"], r["name"], r["mode"], True, MappingProxyType({}), nodes)
    snap = Snapshot(
        providers=MappingProxyType({p.id: p for p in providers}),
        providers_by_name=MappingProxyType({p.name: p for p in providers}),
        routes_by_name=MappingProxyType({route.name: route}),
        routes_by_id=MappingProxyType({route.id: route}),
    )
    print("ready", flush=True)
    for _ in sys.stdin:
        found = engine.plan(
            snap,
            route.name,
            limit=1,
            counter=counters.incr,
            rng=random.Random(),
            now=timezone.now(),
        )
        print(found[0].provider.name, flush=True)


if __name__ == "__main__":
    main()
