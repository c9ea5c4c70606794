"""Two `serve` instances on one PostgreSQL database and one Redis agree: keys, providers,
round-robin, rpm limits and budgets; a fresh database on the same Redis starts every
counter at zero. Runs in the suite's PostgreSQL + Redis pass (CI's second run)."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chat.tests.upstreams import FakeOpenAI, Reply
from coordination.tests.instances import Deployment, Instance
from coordination.tests.traffic import (
    SETUP_ROUTE,
    chat,
    not_near_a_minute_boundary,
    provider_of,
    within,
)

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not (
            os.environ.get("DATABASE_URL", "").startswith("postgres")
            and os.environ.get("REDIS_URL")
        ),
        reason="two instances share a PostgreSQL database and a Redis: the PostgreSQL + Redis pass",
    ),
]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    first, second = FakeOpenAI().start(), FakeOpenAI().start()
    for fake in (first, second):
        fake.default = Reply(text="ok", usage=(10, 5))
    yield first, second
    first.stop()
    second.stop()


def new_deployment(root: Path) -> Deployment:
    return Deployment(
        root, database_url=os.environ["DATABASE_URL"], redis_url=os.environ["REDIS_URL"]
    )


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, fakes: tuple[FakeOpenAI, FakeOpenAI]
) -> Iterator[tuple[Deployment, Instance, Instance]]:
    deployment = new_deployment(tmp_path_factory.mktemp("two-instances"))
    try:
        first, second = fakes
        deployment.python(
            SETUP_ROUTE.format(
                route="team", upstreams=[("a", first.base_url), ("b", second.base_url)]
            )
        )
        one = deployment.start("--no-worker")
        two = deployment.start()
        yield deployment, one, two
    finally:
        deployment.close()


def createkey(deployment: Deployment, name: str, *options: str) -> str:
    done = deployment.manage("createkey", name, *options)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def everywhere(instances: tuple[Instance, ...], key: str, status: int) -> bool:
    return all(chat(i.url, key).status_code == status for i in instances)


def test_keys_change_on_both_instances_within_2_s(
    pair: tuple[Deployment, Instance, Instance],
) -> None:
    deployment, *instances = pair
    both = tuple(instances)
    key = createkey(deployment, "shared-key")
    assert within(2, lambda: everywhere(both, key, 200)) < 2
    deployment.python(
        "from chat.models import ApiKey; k = ApiKey.objects.get(name='shared-key')\n"
        "k.is_active = False; k.save()"
    )
    assert within(2, lambda: everywhere(both, key, 401)) < 2


def test_a_provider_deactivated_elsewhere_leaves_both_rotations(
    pair: tuple[Deployment, Instance, Instance],
) -> None:
    deployment, one, two = pair
    key = createkey(deployment, "steer-both")
    within(2, lambda: everywhere((one, two), key, 200))

    def only_b() -> bool:
        return {provider_of(chat(i.url, key)) for i in (one, two, one, two)} == {"b"}

    deployment.python(
        "from providers.models import Provider; Provider.objects.filter(name='a')"
        ".update(is_active=False)"
    )
    try:
        assert within(2, only_b) < 2
    finally:
        deployment.python(
            "from providers.models import Provider; Provider.objects.filter(name='a')"
            ".update(is_active=True)"
        )
    within(2, lambda: not only_b())


def test_round_robin_alternating_between_instances_never_repeats(
    pair: tuple[Deployment, Instance, Instance],
) -> None:
    deployment, one, two = pair
    key = createkey(deployment, "rotation-both")
    within(2, lambda: everywhere((one, two), key, 200))
    with httpx.Client(timeout=10) as client:
        seen = []
        for instance in itertools.islice(itertools.cycle((one, two)), 300):
            response = client.post(
                f"{instance.url}/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": "team", "messages": [{"role": "user", "content": "hi"}]},
            )
            seen.append(provider_of(response))
    repeats = sum(1 for x, y in itertools.pairwise(seen) if x == y)
    assert repeats == 0, seen


def test_an_rpm_limit_holds_across_both_instances(
    pair: tuple[Deployment, Instance, Instance],
) -> None:
    deployment, one, two = pair
    key = createkey(deployment, "rpm-both", "--rpm", "10")
    later = createkey(deployment, "after-rpm-both")
    within(2, lambda: everywhere((one, two), later, 200))
    not_near_a_minute_boundary()
    targets = list(itertools.islice(itertools.cycle((one, two)), 30))
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = Counter(pool.map(lambda i: chat(i.url, key).status_code, targets))
    assert codes == {200: 10, 429: 20}, codes


def budgeted(deployment: Deployment, name: str, requests_worth: int) -> str:
    return deployment.python(
        "from decimal import Decimal\n"
        "from chat.models import ApiKey\n"
        "from providers.models import ModelInfo, Provider\n"
        "for p in Provider.objects.filter(name__in=['a', 'b']):\n"
        "    ModelInfo.objects.update_or_create(provider=p, model_id='m', defaults=dict(\n"
        "        name='m', prompt_price=Decimal(0), completion_price=Decimal('0.001')))\n"
        f"key, raw = ApiKey.issue({name!r}, budget_usd=Decimal('0.005') * {requests_worth})\n"
        "print(raw)"
    )


def test_a_budget_holds_across_both_instances(
    pair: tuple[Deployment, Instance, Instance],
) -> None:
    deployment, one, two = pair
    n = 4
    serial = budgeted(deployment, "budget-both-serial", n)
    parallel = budgeted(deployment, "budget-both-parallel", n)
    within(2, lambda: everywhere((one, two), serial, 404) or True)
    within(2, lambda: chat(one.url, parallel, model="none").status_code == 404)
    within(2, lambda: chat(two.url, parallel, model="none").status_code == 404)
    targets = list(itertools.islice(itertools.cycle((one, two)), 5 * n))
    codes = Counter(chat(i.url, serial, max_tokens=5).status_code for i in targets)
    assert n <= codes[200] <= n + 1, codes
    targets = list(itertools.islice(itertools.cycle((one, two)), 10 * n))
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = Counter(
            pool.map(lambda i: chat(i.url, parallel, max_tokens=5).status_code, targets)
        )
    assert 1 <= codes[200] <= n + 1, codes


def test_a_fresh_database_on_the_same_redis_starts_every_counter_at_zero(
    pair: tuple[Deployment, Instance, Instance],
    tmp_path: Path,
    fakes: tuple[FakeOpenAI, FakeOpenAI],
) -> None:
    deployment, one, _ = pair
    used = createkey(deployment, "before-fresh", "--rpm", "3")
    within(2, lambda: chat(one.url, used).status_code == 200)
    fresh = new_deployment(tmp_path)
    try:
        first, second = fakes
        route_id = fresh.python(
            SETUP_ROUTE.format(
                route="team", upstreams=[("a", first.base_url), ("b", second.base_url)]
            )
        )
        admin = createkey(fresh, "ops", "--admin")
        instance = fresh.start("--no-worker")
        state = httpx.get(
            f"{instance.url}/api/model-routes/{route_id}/state",
            headers={"authorization": f"Bearer {admin}"},
        ).json()
        assert set(state["state"]["round_robin_indices"].values()) == {0}, state
        budget = budgeted(fresh, "fresh-budget", 2)
        within(2, lambda: chat(instance.url, budget, model="none").status_code == 404)
        assert chat(instance.url, budget, max_tokens=5).status_code == 200
    finally:
        fresh.close()
