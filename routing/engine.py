"""Selection: which (provider, model) pairs a request should try, in order.

Pure functions over a Snapshot: no ORM, no cache, no settings. The round-robin position
and the random source come in as arguments, so the same code serves the sync path, the
async path (positions fetched ahead, see `counter_keys`) and the tests.

Resolving a `model` (DESIGN.md "Resolving model"):
1. an active route with that name;
2. `route/model`: that route, narrowed to the nodes serving that model;
3. `provider-name/model`: that provider, that model;
4. a model id listed by active providers: those providers, failover in name order.
An inactive route is skipped, so a later rule may still match; when none does the
answer is `route_inactive` rather than `model_not_found`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: this module imports nothing of Django's
    from routing.snapshot import NodeSnap, ProviderSnap, RouteSnap, Snapshot

MODEL_NOT_FOUND = "model_not_found"
NO_HEALTHY_PROVIDER = "no_healthy_provider"
ROUTE_INACTIVE = "route_inactive"

AUTO, SPECIFIC, MULTI = "auto", "specific", "multi"
ROUND_ROBIN, FAILOVER, WEIGHTED = "round-robin", "failover", "weighted"

Counter = Callable[[str], int]


class RoutingError(Exception):
    """Nothing can serve the request. `reason` is machine-readable, `message` a sentence
    naming the model or route, `status` the HTTP status the reason maps to.

    An inactive route answers 404 like an unknown model: DESIGN.md resolves only active
    routes, and switching a route off is an operator's decision that retrying will not
    undo (503 would invite clients to retry)."""

    STATUS = {MODEL_NOT_FOUND: 404, ROUTE_INACTIVE: 404, NO_HEALTHY_PROVIDER: 503}

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = self.STATUS[reason]


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: ProviderSnap
    model: str
    route_name: str | None


@dataclass(frozen=True, slots=True)
class Option:
    """A usable provider and the models it may be asked for, preferred first."""

    provider: ProviderSnap
    models: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Group:
    """Options tried together under one strategy; a later group is a fallback."""

    strategy: str
    options: tuple[Option, ...]
    counter_key: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    route_name: str | None
    groups: tuple[Group, ...]


# --- resolving ---------------------------------------------------------------------


def resolve(snapshot: Snapshot, model_name: str, *, now: datetime) -> Resolution:
    name = model_name.strip()
    if not name:
        raise RoutingError(MODEL_NOT_FOUND, "No model given.")
    inactive: RouteSnap | None = None
    route = snapshot.routes_by_name.get(name)
    if route is not None:
        if route.is_active:
            return resolve_route(snapshot, route, None, now=now)
        inactive = route
    prefix, _, rest = name.partition("/")
    if rest:
        route = snapshot.routes_by_name.get(prefix)
        if route is not None:
            if route.is_active:
                return resolve_route(snapshot, route, rest, now=now)
            inactive = inactive or route
        provider = snapshot.providers_by_name.get(prefix)
        if provider is not None:
            return _resolve_provider(provider, rest, now)
    listing = [p for p in snapshot.providers_by_name.values() if p.is_active and name in p.models]
    if listing:
        return _resolve_listing(sorted(listing, key=lambda p: p.name), name, now)
    if inactive is not None:
        raise RoutingError(ROUTE_INACTIVE, f"The route '{inactive.name}' is inactive.")
    raise RoutingError(MODEL_NOT_FOUND, f"The model '{name}' does not exist.")


def _resolve_provider(provider: ProviderSnap, model: str, now: datetime) -> Resolution:
    if not provider.usable(now):
        raise RoutingError(
            NO_HEALTHY_PROVIDER,
            f"No healthy provider for '{provider.name}/{model}': {_why(provider, now)}.",
        )
    return Resolution(None, (Group(FAILOVER, (Option(provider, (model,)),)),))


def _resolve_listing(providers: list[ProviderSnap], model: str, now: datetime) -> Resolution:
    usable = tuple(Option(p, (model,)) for p in providers if p.usable(now))
    if not usable:
        reasons = "; ".join(_why(p, now) for p in providers)
        raise RoutingError(NO_HEALTHY_PROVIDER, f"No healthy provider for '{model}': {reasons}.")
    return Resolution(None, (Group(FAILOVER, usable),))


def _node_models(node: NodeSnap, provider: ProviderSnap, hint: str | None) -> tuple[str, ...]:
    """What this node may be asked for. A node without models serves its provider's:
    the first one, or the hint when the provider lists it (or lists nothing)."""
    if hint is None:
        return node.models or provider.models[:1]
    offered = node.models or provider.models
    return (hint,) if hint in offered or not offered else ()


def _served_nodes(
    snapshot: Snapshot, route: RouteSnap, hint: str | None
) -> list[tuple[NodeSnap, ProviderSnap, tuple[str, ...]]]:
    served = []
    for node in route.nodes:
        provider = snapshot.providers.get(node.provider_id)
        models = _node_models(node, provider, hint) if provider is not None else ()
        if provider is not None and models:
            served.append((node, provider, models))
    return served


def group_label(route: RouteSnap, priority: int, hint: str | None) -> str:
    """Names one rotation of a route: per priority group in multi mode, and per model
    asked for, so requests for another model never skew this one's rotation."""
    base = f"priority-{priority}" if route.mode == MULTI else "all"
    return f"{base}/{hint}" if hint else base


def counter_key(route: RouteSnap, label: str) -> str:
    return f"{route.id}:{label}"


def resolve_route(
    snapshot: Snapshot, route: RouteSnap, hint: str | None, *, now: datetime
) -> Resolution:
    if not route.is_active:
        raise RoutingError(ROUTE_INACTIVE, f"The route '{route.name}' is inactive.")
    if route.mode == SPECIFIC and not hint:
        raise RoutingError(
            MODEL_NOT_FOUND,
            f"The route '{route.name}' serves specific models: ask for '{route.name}/<model>'.",
        )
    served = _served_nodes(snapshot, route, hint)
    if not served:
        if hint:
            raise RoutingError(
                MODEL_NOT_FOUND, f"The route '{route.name}' has no node serving '{hint}'."
            )
        raise RoutingError(NO_HEALTHY_PROVIDER, f"The route '{route.name}' has no nodes.")

    def priority_of(entry: tuple[NodeSnap, ProviderSnap, tuple[str, ...]]) -> int:
        return entry[0].priority if route.mode == MULTI else 0

    groups = []
    for priority, members in groupby(served, key=priority_of):
        entries = list(members)
        options = tuple(
            Option(provider, models, node.weight)
            for node, provider, models in entries
            if provider.usable(now)
        )
        if options:
            # A group's nodes normally share one strategy; when they differ, the first
            # node's (lowest priority, then id) decides, so the choice is predictable.
            strategy = entries[0][0].strategy
            key = counter_key(route, group_label(route, priority, hint))
            groups.append(Group(strategy, options, key if strategy == ROUND_ROBIN else None))
    if not groups:
        reasons = "; ".join(dict.fromkeys(_why(p, now) for _, p, _ in served))
        raise RoutingError(
            NO_HEALTHY_PROVIDER, f"No healthy provider for the route '{route.name}': {reasons}."
        )
    return Resolution(route.name, tuple(groups))


def _why(provider: ProviderSnap, now: datetime) -> str:
    if not provider.is_active:
        return f"{provider.name} is inactive"
    if not provider.is_healthy:
        return f"{provider.name} is unhealthy"
    if provider.cooling_down(now) and provider.cooldown_until is not None:
        return f"{provider.name} is cooling down until {provider.cooldown_until.isoformat()}"
    return f"{provider.name} is usable"


# --- ordering ----------------------------------------------------------------------


def _rotated(group: Group, counter: Counter) -> list[Option]:
    options = list(group.options)
    if group.counter_key is None:
        return options
    start = (counter(group.counter_key) - 1) % len(options)
    return options[start:] + options[:start]


def _weighted(options: tuple[Option, ...], rng: random.Random) -> list[Option]:
    """A weighted shuffle: each next option drawn with probability ∝ its weight."""
    remaining = list(options)
    ordered = []
    while remaining:
        point = rng.random() * sum(o.weight for o in remaining)
        index = len(remaining) - 1  # float rounding can leave point at the very end
        for i, option in enumerate(remaining):
            point -= option.weight
            if point < 0:
                index = i
                break
        ordered.append(remaining.pop(index))
    return ordered


def _arranged(group: Group, counter: Counter, rng: random.Random) -> list[Option]:
    if group.strategy == WEIGHTED:
        return _weighted(group.options, rng)
    if group.strategy == ROUND_ROBIN:
        return _rotated(group, counter)
    return list(group.options)


def _spread(options: list[Option]) -> Iterator[tuple[ProviderSnap, str]]:
    """Each option's first model, then each one's second...: successive attempts reach
    another provider before asking the same one for another model."""
    depth = max(len(option.models) for option in options)
    for level in range(depth):
        for option in options:
            if level < len(option.models):
                yield option.provider, option.models[level]


def order(
    resolution: Resolution, *, limit: int, counter: Counter, rng: random.Random
) -> list[Candidate]:
    """Up to `limit` distinct candidates; a round-robin group's counter moves only when
    the group is reached."""
    candidates: list[Candidate] = []
    seen: set[tuple[int, str]] = set()
    for group in resolution.groups:
        if len(candidates) >= limit:
            break
        for provider, model in _spread(_arranged(group, counter, rng)):
            if (provider.id, model) in seen:
                continue
            seen.add((provider.id, model))
            candidates.append(Candidate(provider, model, resolution.route_name))
            if len(candidates) >= limit:
                break
    return candidates


def counter_keys(resolution: Resolution, *, limit: int) -> list[str]:
    """The counters `order` will read for this limit, so the async path can fetch them
    in one round trip first. Which groups are reached depends on their sizes only."""
    keys: list[str] = []

    def record(key: str) -> int:
        keys.append(key)
        return 1

    order(resolution, limit=limit, counter=record, rng=random.Random(0))
    return keys


def plan(
    snapshot: Snapshot,
    model_name: str,
    *,
    limit: int,
    counter: Counter,
    rng: random.Random,
    now: datetime,
) -> list[Candidate]:
    """Candidates for successive attempts, usable ones only; RoutingError when none."""
    resolution = resolve(snapshot, model_name, now=now)
    return order(resolution, limit=max(limit, 1), counter=counter, rng=rng)


def rotation_keys(snapshot: Snapshot, route: RouteSnap) -> dict[str, str]:
    """Every rotation a route may have, label → counter key (for its state view)."""
    hints: dict[str, None] = {}
    for node in route.nodes:
        provider = snapshot.providers.get(node.provider_id)
        for model in node.models or (provider.models if provider else ()):
            hints[model] = None
    labels: dict[str, None] = {}
    for priority in sorted({node.priority for node in route.nodes}) or [0]:
        for hint in (None, *hints):
            labels[group_label(route, priority, hint)] = None
    return {label: counter_key(route, label) for label in labels}
