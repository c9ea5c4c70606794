"""An immutable, in-process picture of providers and routes for the hot path.

Selecting reads only this snapshot, never the database. It is rebuilt when the change
signal moves (coordination.changes): `bump()` is wired to save/delete signals and to
health changes, and every process compares the version at most once a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from coordination import changes
from coordination.versioned import VersionedStore
from providers.crypto import UndecryptableSecret


@dataclass(frozen=True, slots=True)
class ProviderSnap:
    id: int
    name: str
    kind: str
    base_url: str
    api_key: str
    models: tuple[str, ...]
    is_active: bool
    is_healthy: bool
    cooldown_until: datetime | None

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"ProviderSnap(id={self.id}, name={self.name!r})"

    def usable(self, now: datetime) -> bool:
        return self.is_active and self.is_healthy and not self.cooling_down(now)

    def cooling_down(self, now: datetime) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > now


@dataclass(frozen=True, slots=True)
class NodeSnap:
    id: int
    provider_id: int
    models: tuple[str, ...]
    strategy: str
    priority: int
    weight: float
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RouteSnap:
    id: int
    name: str
    mode: str
    is_active: bool
    config: Mapping[str, Any]
    nodes: tuple[NodeSnap, ...]  # by priority, then id


@dataclass(frozen=True, slots=True)
class Snapshot:
    providers: Mapping[int, ProviderSnap]
    providers_by_name: Mapping[str, ProviderSnap]
    routes_by_name: Mapping[str, RouteSnap]
    routes_by_id: Mapping[int, RouteSnap]


def _frozen(mapping: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(mapping)


def _provider_snap(provider: Any) -> ProviderSnap:
    key = provider.api_key
    return ProviderSnap(
        id=provider.id,
        name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url,
        # Ciphertext no configured key opens is useless upstream; send no key at all.
        api_key="" if isinstance(key, UndecryptableSecret) else key,
        models=tuple(provider.models or ()),
        is_active=provider.is_active,
        is_healthy=provider.is_healthy,
        cooldown_until=provider.cooldown_until,
    )


def _route_snap(route: Any) -> RouteSnap:
    nodes = sorted(route.nodes.all(), key=lambda node: (node.priority, node.id))
    return RouteSnap(
        id=route.id,
        name=route.name,
        mode=route.mode,
        is_active=route.is_active,
        config=_frozen(dict(route.config or {})),
        nodes=tuple(
            NodeSnap(
                id=node.id,
                provider_id=node.provider_id,
                models=tuple(node.models or ()),
                strategy=node.strategy,
                priority=node.priority,
                weight=float(node.weight),
                metadata=_frozen(dict(node.metadata or {})),
            )
            for node in nodes
        ),
    )


def build() -> Snapshot:
    """Read every provider and route (three queries)."""
    from providers.models import Provider
    from routing.models import Route

    providers = [_provider_snap(p) for p in Provider.objects.order_by("name")]
    routes = [_route_snap(r) for r in Route.objects.prefetch_related("nodes").order_by("name")]
    return Snapshot(
        providers=_frozen({p.id: p for p in providers}),
        providers_by_name=_frozen({p.name: p for p in providers}),
        routes_by_name=_frozen({r.name: r for r in routes}),
        routes_by_id=_frozen({r.id: r for r in routes}),
    )


store: VersionedStore[Snapshot] = VersionedStore(lambda: build())


def current() -> Snapshot:
    return store.current()


async def acurrent() -> Snapshot:
    return await store.acurrent()


def bump() -> None:
    """Tell every process (this one at once) that providers or routes changed."""
    changes.bump()
