"""The scheduled probe steers a running `serve`: HEALTH_CHECK_INTERVAL_SECONDS holds to the
second, a failing probe takes a provider out of rotation and a passing one brings it
back, within interval × threshold + 2 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.tests.upstreams import FakeOpenAI, Reply
from coordination.tests.instances import Deployment, Instance, deployment_for_suite
from coordination.tests.traffic import SETUP_ROUTE, chat, provider_of, within

pytestmark = pytest.mark.timeout(300)

INTERVAL = 5
THRESHOLD = 1
BOUND = INTERVAL * THRESHOLD + 2


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    first, second = FakeOpenAI().start(), FakeOpenAI().start()
    for fake in (first, second):
        fake.default = Reply(text="ok", usage=(10, 5))
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="module")
def probed(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_template: Path,
    fakes: tuple[FakeOpenAI, FakeOpenAI],
) -> Iterator[tuple[Deployment, Instance, str]]:
    deployment = deployment_for_suite(tmp_path_factory.mktemp("probed"), migrated_template)
    try:
        first, second = fakes
        deployment.python(
            SETUP_ROUTE.format(
                route="team", upstreams=[("a", first.base_url), ("b", second.base_url)]
            )
        )
        key = deployment.manage("createkey", "probed").stdout.strip().splitlines()[-1]
        instance = deployment.start(
            "--no-worker",
            HEALTH_CHECK_INTERVAL_SECONDS=str(INTERVAL),
            HEALTH_CHECK_FAILURE_THRESHOLD=str(THRESHOLD),
            HEALTH_CHECK_TIMEOUT_SECONDS="2",
        )
        yield deployment, instance, key
    finally:
        deployment.close()


def test_probes_run_every_interval_to_the_second(
    probed: tuple[Deployment, Instance, str], fakes: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    first, _ = fakes
    first.model_requests.clear()
    time.sleep(INTERVAL * 3 + 1)
    # One round per interval across the instance (a lease), not one a minute.
    assert 3 <= len(first.model_requests) <= 4, len(first.model_requests)


def test_a_failing_probe_takes_a_provider_out_and_a_passing_one_brings_it_back(
    probed: tuple[Deployment, Instance, str], fakes: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    _, instance, key = probed
    first, _ = fakes

    def served_by() -> set[str]:
        return {provider_of(chat(instance.url, key)) for _ in range(4)}

    assert served_by() == {"a", "b"}
    first.models_status = 500
    assert within(BOUND, lambda: served_by() == {"b"}, step=0.3) < BOUND
    first.models_status = 200
    assert within(BOUND, lambda: served_by() == {"a", "b"}, step=0.3) < BOUND
