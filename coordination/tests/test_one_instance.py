"""A change made in another process reaches a running `serve` within 2 s: keys, providers,
health and cooldowns; limits and budgets hold; usage rows say when requests arrived.

Real processes throughout: `manage.py serve` started here, `manage.py createkey` and
`manage.py shell` children as an operator would run them, fake upstreams on loopback.
On the suite's PostgreSQL + Redis pass the instance runs on its own PostgreSQL database.
"""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.tests.upstreams import FakeOpenAI, Reply
from coordination.tests.instances import Deployment, Instance, deployment_for_suite
from coordination.tests.traffic import (
    SETUP_ROUTE,
    chat,
    not_near_a_minute_boundary,
    provider_of,
    within,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    first, second = FakeOpenAI().start(), FakeOpenAI().start()
    for fake in (first, second):
        fake.default = Reply(text="ok", usage=(10, 5))
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[Deployment]:
    found = deployment_for_suite(tmp_path_factory.mktemp("one-instance"), migrated_template)
    yield found
    found.close()


@pytest.fixture(scope="module")
def served(deployment: Deployment, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> Iterator[Instance]:
    first, second = upstreams
    deployment.python(
        SETUP_ROUTE.format(route="team", upstreams=[("a", first.base_url), ("b", second.base_url)])
    )
    yield deployment.start("--no-worker")


def createkey(deployment: Deployment, name: str, *options: str) -> str:
    done = deployment.manage("createkey", name, *options)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def works(instance: Instance, key: str) -> bool:
    return chat(instance.url, key).status_code == 200


def refused(instance: Instance, key: str) -> bool:
    return chat(instance.url, key).status_code == 401


def test_a_key_created_elsewhere_works_at_once(served: Instance, deployment: Deployment) -> None:
    key = createkey(deployment, "made-by-cli")
    assert within(2, lambda: works(served, key)) < 2


def test_revoking_a_key_elsewhere_stops_it_within_2_s(
    served: Instance, deployment: Deployment
) -> None:
    key = createkey(deployment, "to-revoke")
    within(2, lambda: works(served, key))
    # A bulk update, as in `manage.py shell`: no model signal, still a change.
    deployment.python(
        "from chat.models import ApiKey; ApiKey.objects.filter(name='to-revoke')"
        ".update(is_active=False)"
    )
    assert within(2, lambda: refused(served, key)) < 2


def test_deleting_a_key_elsewhere_stops_it_within_2_s(
    served: Instance, deployment: Deployment
) -> None:
    key = createkey(deployment, "to-delete")
    within(2, lambda: works(served, key))
    deployment.python(
        "from chat.models import ApiKey; ApiKey.objects.get(name='to-delete').delete()"
    )
    assert within(2, lambda: refused(served, key)) < 2


def test_a_key_stops_at_its_expiry(served: Instance, deployment: Deployment) -> None:
    key = deployment.python(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from chat.models import ApiKey\n"
        "key, raw = ApiKey.issue('expiring')\n"
        "key.expires_at = timezone.now() + timedelta(seconds=6)\n"
        "key.save()\n"
        "print(raw)"
    )
    within(2, lambda: works(served, key))  # the key table follows within a second
    assert within(8, lambda: refused(served, key)) < 8


def test_deactivating_and_cooling_a_provider_elsewhere_steers_traffic(
    served: Instance, deployment: Deployment
) -> None:
    key = createkey(deployment, "steering")
    within(2, lambda: works(served, key))

    def only_b() -> bool:
        return {provider_of(chat(served.url, key)) for _ in range(4)} == {"b"}

    def both() -> bool:
        return {provider_of(chat(served.url, key)) for _ in range(4)} == {"a", "b"}

    assert both()
    deployment.python(
        "from providers.models import Provider\n"
        "p = Provider.objects.get(name='a'); p.is_active = False; p.save()"
    )
    assert within(2, only_b) < 2
    deployment.python(
        "from providers.models import Provider\n"
        "Provider.objects.filter(name='a').update(is_active=True)"
    )
    assert within(2, both) < 2
    # A cooldown started by another process (the task worker, another web worker).
    deployment.python(
        "from providers import health; from providers.models import Provider\n"
        "health.start_cooldown(Provider.objects.get(name='a').id, 120)"
    )
    assert within(2, only_b) < 2
    # and the manual override that ends it
    deployment.python(
        "from providers import health; from providers.models import Provider\n"
        "health.set_health(Provider.objects.get(name='a').id, True)"
    )
    assert within(2, both) < 2


def test_round_robin_never_repeats(served: Instance, deployment: Deployment) -> None:
    key = createkey(deployment, "rotation")
    within(2, lambda: works(served, key))
    seen = [provider_of(chat(served.url, key)) for _ in range(40)]
    assert all(x != y for x, y in zip(seen, seen[1:], strict=False)), seen


def test_an_rpm_limit_admits_exactly_that_many(served: Instance, deployment: Deployment) -> None:
    key = createkey(deployment, "limited", "--rpm", "10")
    # A key made after it works: the instance's key table holds both (not a request
    # on the limited key, which would count).
    later = createkey(deployment, "made-after-limited")
    within(2, lambda: works(served, later))
    not_near_a_minute_boundary()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = Counter(pool.map(lambda _: chat(served.url, key).status_code, range(30)))
    assert codes == {200: 10, 429: 20}, codes


def budgeted_key(deployment: Deployment, name: str, requests_worth: int) -> str:
    """A key whose budget pays for `requests_worth` requests: each costs 5 completion
    tokens at $0.001 (the fakes report usage 10 + 5; prompt tokens are free here)."""
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


def test_a_budget_is_never_overspent_back_to_back(served: Instance, deployment: Deployment) -> None:
    key = budgeted_key(deployment, "budget-serial", 4)
    within(2, lambda: chat(served.url, key, model="nothing").status_code == 404)
    codes = Counter(chat(served.url, key, max_tokens=5).status_code for _ in range(20))
    assert 4 <= codes[200] <= 5 and codes[200] + codes[429] == 20, codes
    spent = deployment.python(
        "from usage.models import UsageLog; from django.db.models import Sum\n"
        "print(UsageLog.objects.filter(api_key__name='budget-serial')"
        ".aggregate(s=Sum('cost_usd'))['s'])"
    )
    assert float(spent) <= 0.005 * 5


def test_a_budget_is_never_overspent_concurrently(served: Instance, deployment: Deployment) -> None:
    key = budgeted_key(deployment, "budget-parallel", 4)
    within(2, lambda: chat(served.url, key, model="nothing").status_code == 404)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = Counter(
            pool.map(lambda _: chat(served.url, key, max_tokens=5).status_code, range(40))
        )
    assert 1 <= codes[200] <= 5 and codes[200] + codes[429] == 40, codes


def test_usage_rows_say_when_requests_arrived_and_keys_when_used(
    served: Instance, deployment: Deployment, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    key = createkey(deployment, "stamped")
    within(2, lambda: works(served, key))
    for fake in upstreams:
        fake.delay(1.0)  # each upstream answers the next request a second late
    responses = [chat(served.url, key) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    stamps = deployment.python(
        "import time\n"
        "import usage\n"
        "from chat.models import ApiKey\n"
        "from usage.models import UsageLog\n"
        "time.sleep(1)\n"
        "rows = list(UsageLog.objects.filter(api_key__name='stamped').order_by('created_at'))\n"
        "print(len(rows), (rows[-1].created_at - rows[-2].created_at).total_seconds(),"
        " ApiKey.objects.get(name='stamped').last_used_at is not None)"
    )
    count, gap, stamped = stamps.split()
    # The two slow requests arrived about a second apart, and their rows say so (rows
    # written in one batch would share one timestamp).
    assert int(count) >= 3 and float(gap) >= 0.9 and stamped == "True", stamps
