"""Calls to a running instance's /v1, as a client would, for the cross-process tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

SETUP_ROUTE = """
from providers.models import Provider
from routing.models import Route, RouteNode
route = Route.objects.create(name={route!r}, mode="auto")
for name, url in {upstreams!r}:
    provider = Provider.objects.create(
        name=name, base_url=url, api_key="sk-" + name + "-upstream", models=["m"],
        kind="openai_compatible",
    )
    RouteNode.objects.create(route=route, provider=provider, models=["m"])
print(route.id)
"""


def chat(
    base_url: str, key: str, model: str = "team", timeout: float = 10, **body: object
) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], **body},
        timeout=timeout,
    )


def provider_of(response: httpx.Response) -> str:
    return response.headers.get("x-switchboard-provider", "")


def within(seconds: float, condition: Callable[[], bool], step: float = 0.1) -> float:
    """Seconds until `condition()` held; fails when it did not within `seconds`."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(step)


def not_near_a_minute_boundary(margin: float = 8.0) -> None:
    """rpm windows are calendar minutes: start a counted burst well inside one."""
    if time.time() % 60 > 60 - margin:
        time.sleep(60 - time.time() % 60 + 0.5)
