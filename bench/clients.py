"""The upstream-client comparison behind chat/http.py's choice of aiohttp: the same
instant upstream, 32 requests in flight, through aiohttp's own client, through httpx over
the httpx-aiohttp transport, and through httpx's own pool. Run in a child process pinned
to the server's core, so each client gets one core as the gateway does."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"Authorization": "Bearer sk-bench-upstream"}


async def rate(
    call: Callable[[], Awaitable[None]], total: int = 5000, concurrency: int = 32
) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    for _ in range(100):
        await call()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def measure(url: str) -> dict[str, float]:
    results: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:

        async def with_aiohttp() -> None:
            async with session.post(url, json=BODY, headers=HEADERS) as response:
                json.loads(await response.read())

        results["aiohttp"] = await rate(with_aiohttp)
    for name, transport in (
        ("httpx + httpx-aiohttp transport", AiohttpTransport()),
        ("httpx (own pool)", httpx.AsyncHTTPTransport()),
    ):
        async with httpx.AsyncClient(transport=transport) as client:

            async def with_httpx(client: httpx.AsyncClient = client) -> None:
                (await client.post(url, json=BODY, headers=HEADERS)).json()

            results[name] = await rate(with_httpx)
    return results


def main() -> None:
    import uvloop

    uvloop.install()
    print(json.dumps(asyncio.run(measure(sys.argv[1]))))


if __name__ == "__main__":
    main()
