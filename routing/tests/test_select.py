"""routing.select / aselect over the database, the snapshot and the shared counters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

import routing
from coordination import changes
from coordination.models import State
from providers.models import Provider
from providers.signals import provider_state_changed
from routing import counters, snapshot
from routing.engine import RoutingError
from routing.models import Route, RouteNode

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def chosen(model: str = "team", times: int = 1) -> list[str]:
    return [routing.select(model)[0].provider.name for _ in range(times)]


def test_thirty_selects_over_three_round_robin_providers_give_ten_each(team: Route) -> None:
    assert Counter(chosen(times=30)) == {"a": 10, "b": 10, "c": 10}


def test_select_returns_the_decrypted_key_and_route(team: Route) -> None:
    candidate = routing.select("team")[0]
    assert candidate.provider.api_key == "sk-a-secret"
    assert candidate.model == "m"
    assert candidate.route_name == "team"


def test_select_limits_the_candidates(team: Route) -> None:
    assert len(routing.select("team", limit=2)) == 2
    assert len(routing.select("team", limit=10)) == 3


def test_repeated_selection_reads_no_database(team: Route, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    routing.select("team")
    with django_assert_num_queries(0):
        for _ in range(20):
            routing.select("team")
            routing.select("a/a-only")
            routing.select("m", limit=3)


def test_another_processs_bump_is_seen_once_the_interval_passes(
    team: Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "a" in chosen(times=3)
    # As another process would: change the row and the version row, nothing in this one.
    Provider.objects.filter(name="a").update_quietly(is_healthy=False)
    State.objects.filter(pk=1).update(version=12345)
    assert "a" in chosen(times=3)  # within the check interval: the picture it has
    monkeypatch.setattr(changes.signal, "check_seconds", 0.0)
    assert "a" not in chosen(times=6)


def test_saving_a_provider_rebuilds_the_snapshot(team: Route) -> None:
    chosen()
    provider = Provider.objects.get(name="b")
    provider.is_active = False
    provider.save()
    assert "b" not in chosen(times=6)


def test_the_health_signal_rebuilds_the_snapshot(team: Route) -> None:
    chosen()
    cooling = Provider.objects.filter(name="c")
    cooling.update(cooldown_until=timezone.now() + timedelta(hours=1))
    provider_state_changed.send(sender=Provider, provider_id=cooling.get().pk)
    assert "c" not in chosen(times=6)


def test_route_and_node_changes_rebuild_the_snapshot(team: Route) -> None:
    chosen()
    team.nodes.exclude(provider__name="a").delete()
    assert chosen(times=3) == ["a", "a", "a"]
    team.is_active = False
    team.save()
    with pytest.raises(RoutingError) as caught:
        routing.select("team")
    assert caught.value.reason == "route_inactive"


def test_a_forgotten_store_is_rebuilt(team: Route) -> None:
    chosen()
    Provider.objects.filter(name="a").update_quietly(is_healthy=False)  # no signal
    snapshot.store.forget()  # as the per-test settings change does
    assert "a" not in chosen(times=3)


def test_a_cooldown_expires_with_time(team: Route) -> None:
    start = timezone.now()
    Provider.objects.filter(name__in=["a", "b"]).update(
        cooldown_until=start + timedelta(seconds=30)
    )
    snapshot.bump()
    with time_machine.travel(start, tick=False):
        assert set(chosen(times=3)) == {"c"}
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert set(chosen(times=3)) == {"a", "b", "c"}


def test_the_snapshot_holds_no_undecryptable_ciphertext(team: Route, settings) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert routing.select("team")[0].provider.api_key == ""


def test_route_changes_rewrite_the_config_backup(
    trio: list[Provider], django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        route = Route.objects.create(name="backed-up", mode="multi", config={"x": 1})
        RouteNode.objects.create(route=route, provider=trio[1], models=["m"], priority=2, weight=3)
    saved = json.loads((Path(settings.DATA_DIR) / "config_backup.json").read_text())
    assert saved["routes"] == [
        {
            "name": "backed-up",
            "mode": "multi",
            "is_active": True,
            "config": {"x": 1},
            "nodes": [
                {
                    "provider": "b",
                    "models": ["m"],
                    "strategy": "round-robin",
                    "priority": 2,
                    "weight": 3.0,
                    "metadata": {},
                }
            ],
        }
    ]
    with django_capture_on_commit_callbacks(execute=True):
        route.delete()
    assert json.loads((Path(settings.DATA_DIR) / "config_backup.json").read_text())["routes"] == []


def test_counters_are_exact_under_threads() -> None:
    values: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [counters.incr("threads") for _ in range(50)]
        with lock:
            values.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(values) == list(range(1, 401))
    assert counters.peek_many(["threads", "unused"]) == {"threads": 400, "unused": 0}


def test_counters_restart_in_a_new_namespace() -> None:
    counters.incr("reset-me")
    assert counters.incr("reset-me") == 2
    changes.renew_namespace()  # what a restore does
    assert counters.incr("reset-me") == 1


@pytest.mark.django_db(transaction=True)
async def test_aselect_rotates_evenly_and_fails_over(team_committed: Route) -> None:
    names = [(await routing.aselect("team", limit=1))[0].provider.name for _ in range(30)]
    assert Counter(names) == {"a": 10, "b": 10, "c": 10}
    found = await routing.aselect("team", limit=3)
    assert sorted(c.provider.name for c in found) == ["a", "b", "c"]
    with pytest.raises(RoutingError) as caught:
        await routing.aselect("nothing", limit=3)
    assert caught.value.reason == "model_not_found"


@pytest.mark.django_db(transaction=True)
async def test_sync_and_async_selects_share_one_rotation(team_committed: Route) -> None:
    names = []
    for i in range(30):
        if i % 2:
            names.append((await routing.aselect("team", limit=1))[0].provider.name)
        else:
            names.append((await sync_to_async(chosen)())[0])
    assert Counter(names) == {"a": 10, "b": 10, "c": 10}


@pytest.fixture
async def thread_connections() -> AsyncIterator[None]:
    """Closes the connection the snapshot rebuild opened in sync_to_async's thread, so
    the test database can be dropped afterwards."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def team_committed(transactional_db, thread_connections) -> Route:  # type: ignore[no-untyped-def]
    providers = [
        Provider.objects.create(name=name, base_url=f"http://{name}.test/v1", models=["m"])
        for name in "abc"
    ]
    route = Route.objects.create(name="team")
    for provider in providers:
        RouteNode.objects.create(route=route, provider=provider, models=["m"])
    return route


def _description(route: Route) -> str:
    current = snapshot.current()
    snap = current.routes_by_id[route.pk]
    return json.dumps(
        {
            # The counters are namespaced by the database; the worker cannot see this
            # test's database, so it is told the namespace.
            "namespace": changes.current().namespace,
            "providers": [
                {"id": p.id, "name": p.name, "models": list(p.models)}
                for p in current.providers.values()
            ],
            "route": {
                "id": snap.id,
                "name": snap.name,
                "mode": snap.mode,
                "nodes": [
                    {
                        "id": n.id,
                        "provider_id": n.provider_id,
                        "models": list(n.models),
                        "strategy": n.strategy,
                        "priority": n.priority,
                        "weight": n.weight,
                    }
                    for n in snap.nodes
                ],
            },
        }
    )


@pytest.mark.redis
@pytest.mark.timeout(60)
def test_two_processes_sharing_redis_share_the_rotation(team: Route) -> None:
    if not settings.REDIS_URL:
        reason = "REDIS_URL is unset: the two-process rotation test needs a shared Redis"
        print(reason)
        pytest.skip(reason)
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": settings.REDIS_URL,
    }
    names = []
    with subprocess.Popen(
        [sys.executable, "-m", "routing.tests.rotation_worker", _description(team)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "ready"
        for i in range(30):
            if i % 2:
                worker.stdin.write("select\n")
                worker.stdin.flush()
                names.append(worker.stdout.readline().strip())
            else:
                names.append(chosen()[0])
    assert Counter(names) == {"a": 10, "b": 10, "c": 10}
    assert names[:6] == ["a", "b", "c", "a", "b", "c"]
    assert routing.rotation_state(team.pk)["all"] == 30
