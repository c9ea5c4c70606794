"""The selection engine over hand-built snapshots: no database, no cache."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from routing import engine
from routing.engine import RoutingError
from routing.snapshot import NodeSnap, ProviderSnap, RouteSnap, Snapshot

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def provider(pid: int, name: str, models: tuple[str, ...] = ("m",), **state: Any) -> ProviderSnap:
    fields: dict[str, Any] = {
        "is_active": True,
        "is_healthy": True,
        "cooldown_until": None,
    } | state
    return ProviderSnap(
        id=pid,
        name=name,
        kind="openai_compatible",
        base_url=f"http://{name}.test/v1",
        api_key=f"key-{name}",
        models=models,
        **fields,
    )


def node(
    nid: int,
    provider_id: int,
    models: tuple[str, ...] = (),
    strategy: str = "round-robin",
    priority: int = 0,
    weight: float = 1.0,
) -> NodeSnap:
    return NodeSnap(nid, provider_id, models, strategy, priority, weight, MappingProxyType({}))


def route(
    name: str, nodes: list[NodeSnap], mode: str = "auto", active: bool = True, rid: int = 1
) -> RouteSnap:
    ordered = tuple(sorted(nodes, key=lambda n: (n.priority, n.id)))
    return RouteSnap(rid, name, mode, active, MappingProxyType({}), ordered)


def snapshot(providers: list[ProviderSnap], routes: list[RouteSnap] = ()) -> Snapshot:  # type: ignore[assignment]
    return Snapshot(
        providers=MappingProxyType({p.id: p for p in providers}),
        providers_by_name=MappingProxyType({p.name: p for p in providers}),
        routes_by_name=MappingProxyType({r.name: r for r in routes}),
        routes_by_id=MappingProxyType({r.id: r for r in routes}),
    )


def counting() -> Callable[[str], int]:
    """A counter like the cache's: 1, 2, 3... per key."""
    seen: Counter[str] = Counter()

    def incr(key: str) -> int:
        seen[key] += 1
        return seen[key]

    return incr


def pick(snap: Snapshot, model: str, *, limit: int = 1, **kwargs: Any) -> list[tuple[str, str]]:
    options: dict[str, Any] = {"counter": counting(), "rng": random.Random(7), "now": NOW} | kwargs
    found = engine.plan(snap, model, limit=limit, **options)
    return [(c.provider.name, c.model) for c in found]


def picks(snap: Snapshot, model: str, times: int, **kwargs: Any) -> list[str]:
    counter = counting()
    rng = random.Random(42)
    return [
        engine.plan(snap, model, limit=1, counter=counter, rng=rng, now=NOW, **kwargs)[
            0
        ].provider.name
        for _ in range(times)
    ]


THREE = [provider(1, "a"), provider(2, "b"), provider(3, "c")]


def three_node_route(strategy: str, mode: str = "auto", **kw: Any) -> RouteSnap:
    return route("team", [node(i, i, ("m",), strategy, **kw) for i in (1, 2, 3)], mode=mode)


# --- resolving -----------------------------------------------------------------------


def test_a_route_name_resolves_to_its_nodes() -> None:
    snap = snapshot(THREE, [three_node_route("failover")])
    found = engine.plan(snap, "team", limit=3, counter=counting(), rng=random.Random(), now=NOW)
    assert [(c.provider.name, c.model, c.route_name) for c in found] == [
        ("a", "m", "team"),
        ("b", "m", "team"),
        ("c", "m", "team"),
    ]


def test_provider_slash_model_uses_that_provider_even_for_unlisted_models() -> None:
    snap = snapshot(THREE)
    assert pick(snap, "b/some-new-model", limit=3) == [("b", "some-new-model")]


def test_a_listed_model_fails_over_across_providers_in_name_order() -> None:
    snap = snapshot([provider(1, "zeta", ("gpt",)), provider(2, "alpha", ("gpt", "x"))])
    found = engine.plan(snap, "gpt", limit=3, counter=counting(), rng=random.Random(), now=NOW)
    assert [(c.provider.name, c.route_name) for c in found] == [("alpha", None), ("zeta", None)]


def test_a_route_wins_over_a_provider_model_of_the_same_name() -> None:
    snap = snapshot([provider(1, "a", ("team",)), provider(2, "b")], [route("team", [node(1, 2)])])
    assert pick(snap, "team") == [("b", "m")]


def test_model_ids_with_slashes_resolve_from_provider_listings() -> None:
    snap = snapshot([provider(1, "openrouter", ("meta-llama/llama-3-8b",))])
    assert pick(snap, "meta-llama/llama-3-8b") == [("openrouter", "meta-llama/llama-3-8b")]


def test_inactive_providers_do_not_make_a_model_exist() -> None:
    snap = snapshot([provider(1, "a", ("gpt",), is_active=False)])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "gpt")
    assert caught.value.reason == "model_not_found"
    assert caught.value.status == 404
    assert "gpt" in caught.value.message


def test_an_unknown_model_is_model_not_found() -> None:
    with pytest.raises(RoutingError) as caught:
        pick(snapshot(THREE), "nope")
    assert (caught.value.reason, caught.value.status) == ("model_not_found", 404)
    assert "'nope'" in caught.value.message


def test_an_empty_model_is_model_not_found() -> None:
    with pytest.raises(RoutingError) as caught:
        pick(snapshot(THREE), "  ")
    assert caught.value.reason == "model_not_found"


def test_an_inactive_route_says_so() -> None:
    snap = snapshot(THREE, [route("team", [node(1, 1)], active=False)])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "team")
    assert (caught.value.reason, caught.value.status) == ("route_inactive", 404)
    assert "'team'" in caught.value.message
    with pytest.raises(RoutingError) as hinted:
        pick(snap, "team/m")
    assert hinted.value.reason == "route_inactive"


def test_an_inactive_route_gives_way_to_a_provider_model_of_that_name() -> None:
    snap = snapshot([provider(1, "a", ("team",))], [route("team", [node(1, 1)], active=False)])
    assert pick(snap, "team") == [("a", "team")]


def test_a_route_without_nodes_has_no_healthy_provider() -> None:
    with pytest.raises(RoutingError) as caught:
        pick(snapshot(THREE, [route("team", [])]), "team")
    assert (caught.value.reason, caught.value.status) == ("no_healthy_provider", 503)


# --- health ----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["round-robin", "failover", "weighted"])
@pytest.mark.parametrize("mode", ["auto", "multi"])
@pytest.mark.parametrize(
    "state", [{"is_healthy": False}, {"is_active": False}, {"cooldown_until": NOW + timedelta(1)}]
)
def test_unusable_providers_are_skipped(strategy: str, mode: str, state: dict[str, Any]) -> None:
    providers = [provider(1, "a"), provider(2, "b", **state), provider(3, "c")]
    snap = snapshot(providers, [three_node_route(strategy, mode)])
    assert "b" not in picks(snap, "team", 30)
    assert {name for name, _ in pick(snap, "team", limit=3)} == {"a", "c"}


def test_no_usable_provider_is_no_healthy_provider_naming_why() -> None:
    providers = [
        provider(1, "a", is_healthy=False),
        provider(2, "b", is_active=False),
        provider(3, "c", cooldown_until=NOW + timedelta(minutes=5)),
    ]
    snap = snapshot(providers, [three_node_route("round-robin")])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "team")
    error = caught.value
    assert (error.reason, error.status) == ("no_healthy_provider", 503)
    assert "'team'" in error.message
    assert "a is unhealthy" in error.message
    assert "b is inactive" in error.message
    assert "c is cooling down until" in error.message


def test_an_unusable_named_provider_is_no_healthy_provider() -> None:
    snap = snapshot([provider(1, "a", is_healthy=False)])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "a/m")
    assert caught.value.reason == "no_healthy_provider"
    assert "a/m" in caught.value.message


def test_a_listed_model_without_usable_providers_is_no_healthy_provider() -> None:
    snap = snapshot([provider(1, "a", ("gpt",), cooldown_until=NOW + timedelta(seconds=30))])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "gpt")
    assert caught.value.reason == "no_healthy_provider"


def test_a_cooldown_ends_on_time() -> None:
    until = NOW + timedelta(seconds=30)
    snap = snapshot(
        [provider(1, "a", cooldown_until=until), provider(2, "b")],
        [route("team", [node(1, 1, ("m",), "failover"), node(2, 2, ("m",), "failover")])],
    )
    assert pick(snap, "team", now=until - timedelta(seconds=1)) == [("b", "m")]
    assert pick(snap, "team", now=until) == [("a", "m")]


# --- strategies ----------------------------------------------------------------------


def test_round_robin_cycles_evenly_in_node_order() -> None:
    snap = snapshot(THREE, [three_node_route("round-robin")])
    assert picks(snap, "team", 6) == ["a", "b", "c", "a", "b", "c"]


def test_round_robin_candidates_continue_the_rotation_for_failover() -> None:
    snap = snapshot(THREE, [three_node_route("round-robin")])
    counter = counting()
    counter("1:all")  # one request already went to "a"
    found = engine.plan(snap, "team", limit=3, counter=counter, rng=random.Random(), now=NOW)
    assert [c.provider.name for c in found] == ["b", "c", "a"]


def test_round_robin_stays_even_over_the_usable_nodes() -> None:
    providers = [provider(1, "a"), provider(2, "b", is_healthy=False), provider(3, "c")]
    snap = snapshot(providers, [three_node_route("round-robin")])
    assert Counter(picks(snap, "team", 30)) == {"a": 15, "c": 15}


def test_failover_takes_the_first_usable_node_in_order() -> None:
    snap = snapshot(THREE, [three_node_route("failover")])
    assert picks(snap, "team", 5) == ["a"] * 5
    down = snapshot(
        [provider(1, "a", is_healthy=False), *THREE[1:]], [three_node_route("failover")]
    )
    assert picks(down, "team", 5) == ["b"] * 5


def test_failover_orders_nodes_by_priority_then_id() -> None:
    nodes = [
        node(1, 1, ("m",), "failover", 5),
        node(2, 2, ("m",), "failover", 1),
        node(3, 3, ("m",), "failover", 1),
    ]
    snap = snapshot(THREE, [route("team", nodes)])
    assert [name for name, _ in pick(snap, "team", limit=3)] == ["b", "c", "a"]


def test_weighted_picks_follow_the_weights() -> None:
    weights = {1: 1.0, 2: 3.0, 3: 6.0}
    nodes = [node(i, i, ("m",), "weighted", weight=w) for i, w in weights.items()]
    snap = snapshot(THREE, [route("team", nodes)])
    draws = 6000
    seen = Counter(picks(snap, "team", draws))
    expected = {"a": draws * 0.1, "b": draws * 0.3, "c": draws * 0.6}
    chi_square = sum((seen[k] - e) ** 2 / e for k, e in expected.items())
    assert chi_square < 13.8, (seen, chi_square)  # p = 0.001 for 2 degrees of freedom


def test_weighted_failover_candidates_cover_every_node_once() -> None:
    nodes = [node(i, i, ("m",), "weighted", weight=float(i)) for i in (1, 2, 3)]
    snap = snapshot(THREE, [route("team", nodes)])
    for seed in range(20):
        found = pick(snap, "team", limit=5, rng=random.Random(seed))
        assert sorted(found) == [("a", "m"), ("b", "m"), ("c", "m")]


def test_weighted_never_picks_a_skipped_node() -> None:
    nodes = [node(i, i, ("m",), "weighted", weight=100.0 if i == 2 else 1.0) for i in (1, 2, 3)]
    providers = [provider(1, "a"), provider(2, "b", is_healthy=False), provider(3, "c")]
    assert "b" not in picks(snapshot(providers, [route("team", nodes)]), "team", 200)


# --- modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["round-robin", "failover", "weighted"])
def test_auto_mode_uses_every_node(strategy: str) -> None:
    snap = snapshot(THREE, [three_node_route(strategy)])
    assert set(picks(snap, "team", 60)) == ({"a"} if strategy == "failover" else {"a", "b", "c"})
    assert len(pick(snap, "team", limit=3)) == 3


@pytest.mark.parametrize("strategy", ["round-robin", "failover", "weighted"])
def test_specific_mode_takes_the_node_serving_the_hint(strategy: str) -> None:
    providers = [provider(1, "a", ("x", "y")), provider(2, "b", ("y",)), provider(3, "c", ("z",))]
    nodes = [
        node(1, 1, ("x",), strategy),
        node(2, 2, ("y",), strategy),
        node(3, 3, ("z",), strategy),
    ]
    snap = snapshot(providers, [route("team", nodes, mode="specific")])
    assert set(picks(snap, "team/y", 20)) == {"b"}
    assert pick(snap, "team/z") == [("c", "z")]


@pytest.mark.parametrize("strategy", ["round-robin", "failover", "weighted"])
def test_specific_mode_spreads_a_model_served_by_several_nodes(strategy: str) -> None:
    nodes = [node(i, i, ("shared",), strategy) for i in (1, 2, 3)] + [
        node(4, 1, ("other",), strategy)
    ]
    snap = snapshot(THREE, [route("team", nodes, mode="specific")])
    chosen = picks(snap, "team/shared", 60)
    assert set(chosen) == ({"a"} if strategy == "failover" else {"a", "b", "c"})
    if strategy == "round-robin":
        assert Counter(chosen) == {"a": 20, "b": 20, "c": 20}


def test_specific_mode_without_a_hint_is_model_not_found() -> None:
    snap = snapshot(THREE, [three_node_route("failover", mode="specific")])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "team")
    assert caught.value.reason == "model_not_found"
    assert "team/<model>" in caught.value.message


def test_a_hint_no_node_serves_is_model_not_found() -> None:
    snap = snapshot(THREE, [three_node_route("failover", mode="specific")])
    with pytest.raises(RoutingError) as caught:
        pick(snap, "team/unknown")
    assert (caught.value.reason, caught.value.status) == ("model_not_found", 404)
    assert "unknown" in caught.value.message


@pytest.mark.parametrize("strategy", ["round-robin", "failover", "weighted"])
def test_multi_mode_uses_the_best_group_with_a_usable_node(strategy: str) -> None:
    nodes = [
        node(1, 1, ("m",), strategy, priority=0),
        node(2, 2, ("m",), strategy, priority=0),
        node(3, 3, ("m",), strategy, priority=1),
    ]
    snap = snapshot(THREE, [route("team", nodes, mode="multi")])
    chosen = set(picks(snap, "team", 40))
    assert chosen == ({"a"} if strategy == "failover" else {"a", "b"})

    top_down = [provider(1, "a", is_healthy=False), provider(2, "b", is_active=False), THREE[2]]
    assert set(picks(snapshot(top_down, [route("team", nodes, mode="multi")]), "team", 10)) == {"c"}


@pytest.mark.parametrize("strategy", ["round-robin", "failover", "weighted"])
def test_multi_mode_lists_lower_groups_as_fallbacks(strategy: str) -> None:
    nodes = [
        node(1, 3, ("m",), strategy, priority=9),
        node(2, 1, ("m",), strategy, priority=0),
        node(3, 2, ("m",), strategy, priority=0),
    ]
    snap = snapshot(THREE, [route("team", nodes, mode="multi")])
    names = [name for name, _ in pick(snap, "team", limit=3)]
    assert set(names[:2]) == {"a", "b"}
    assert names[2] == "c"


def test_multi_mode_rotates_each_group_on_its_own() -> None:
    nodes = [
        node(1, 1, ("m",), "round-robin", priority=0),
        node(2, 2, ("m",), "round-robin", priority=0),
        node(3, 3, ("m",), "round-robin", priority=1),
    ]
    snap = snapshot(THREE, [route("team", nodes, mode="multi")])
    counter = counting()
    for _ in range(4):
        engine.plan(snap, "team", limit=1, counter=counter, rng=random.Random(), now=NOW)
    assert counter("1:priority-0") == 5
    assert counter("1:priority-1") == 1  # the fallback group was never reached


# --- node models -------------------------------------------------------------------


def test_a_node_without_models_uses_its_providers_first_model() -> None:
    snap = snapshot([provider(1, "a", ("first", "second"))], [route("team", [node(1, 1)])])
    assert pick(snap, "team") == [("a", "first")]


def test_a_node_without_models_serves_the_hinted_provider_model() -> None:
    snap = snapshot([provider(1, "a", ("first", "second"))], [route("team", [node(1, 1)])])
    assert pick(snap, "team/second") == [("a", "second")]
    with pytest.raises(RoutingError) as caught:
        pick(snap, "team/third")
    assert caught.value.reason == "model_not_found"


def test_a_node_and_provider_without_models_serve_any_hint_but_nothing_unasked() -> None:
    snap = snapshot([provider(1, "a", ())], [route("team", [node(1, 1)])])
    assert pick(snap, "team/anything") == [("a", "anything")]
    with pytest.raises(RoutingError):
        pick(snap, "team")


def test_a_hint_in_auto_mode_narrows_to_the_nodes_serving_it() -> None:
    nodes = [node(1, 1, ("x",), "failover"), node(2, 2, ("y",), "failover")]
    snap = snapshot(THREE, [route("team", nodes)])
    assert pick(snap, "team/y", limit=3) == [("b", "y")]


def test_further_models_of_a_node_come_after_every_providers_first() -> None:
    nodes = [node(1, 1, ("x1", "x2"), "failover"), node(2, 2, ("y1",), "failover")]
    snap = snapshot(THREE, [route("team", nodes)])
    assert pick(snap, "team", limit=5) == [("a", "x1"), ("b", "y1"), ("a", "x2")]


def test_candidates_are_distinct_pairs() -> None:
    nodes = [node(1, 1, ("m",), "failover"), node(2, 1, ("m",), "failover", priority=1)]
    snap = snapshot(THREE, [route("team", nodes)])
    assert pick(snap, "team", limit=3) == [("a", "m")]


def test_counter_keys_name_the_rotations_a_request_reaches() -> None:
    nodes = [
        node(1, 1, ("m",), "round-robin", priority=0),
        node(2, 2, ("m",), "failover", priority=1),
        node(3, 3, ("m",), "round-robin", priority=2),
    ]
    snap = snapshot(THREE, [route("team", nodes, mode="multi")])
    resolution = engine.resolve(snap, "team", now=NOW)
    assert engine.counter_keys(resolution, limit=1) == ["1:priority-0"]
    assert engine.counter_keys(resolution, limit=3) == ["1:priority-0", "1:priority-2"]
    hinted = engine.resolve(snap, "team/m", now=NOW)
    assert engine.counter_keys(hinted, limit=1) == ["1:priority-0/m"]


def test_the_api_key_stays_out_of_the_repr() -> None:
    assert "key-a" not in repr(THREE[0])
