"""A Redis outage is not a gateway outage: a running `serve` keeps answering /v1 while
its Redis is down, says so once in its log and in /api/health, and shares its counters
again once Redis is back."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chat.tests.upstreams import FakeOpenAI, Reply
from config.tests.processes import free_port
from coordination.tests.instances import Deployment
from coordination.tests.traffic import SETUP_ROUTE, chat, within

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary"),
]


class RedisServer:
    """A throwaway redis-server on a free port, stopped and started again by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        within(10, self.answers)

    def answers(self) -> bool:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
        )
        return done.stdout.strip() == "PONG"

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_serving_goes_on_while_redis_is_down(
    tmp_path: Path, migrated_template: Path, redis_server: RedisServer
) -> None:
    fakes = [FakeOpenAI().start(), FakeOpenAI().start()]
    deployment = Deployment(
        tmp_path, template=migrated_template, redis_url=f"redis://127.0.0.1:{redis_server.port}/0"
    )
    try:
        for fake in fakes:
            fake.default = Reply(text="ok", usage=(10, 5))
        deployment.python(
            SETUP_ROUTE.format(
                route="team", upstreams=[("a", fakes[0].base_url), ("b", fakes[1].base_url)]
            )
        )
        key = deployment.manage("createkey", "outage", "--rpm", "1000").stdout.split()[-1]
        instance = deployment.start("--no-worker")

        def health() -> dict[str, object]:
            return httpx.get(f"{instance.url}/api/health", timeout=5).json()

        assert chat(instance.url, key).status_code == 200
        assert health()["status"] == "ok"

        redis_server.stop()
        codes = [chat(instance.url, key).status_code for _ in range(10)]
        assert codes == [200] * 10
        assert health()["status"] == "degraded"
        assert instance.output().count("Redis is unreachable") == 1

        redis_server.start()
        assert within(10, lambda: health()["status"] == "ok") < 10
        assert chat(instance.url, key).status_code == 200
    finally:
        deployment.close()
        for fake in fakes:
            fake.stop()
