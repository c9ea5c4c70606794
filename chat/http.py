"""The one shared upstream HTTP client: an aiohttp ClientSession per running event loop.

Measured by `make bench` (bench/results.md, "Upstream client"): against an instant
upstream at 32 concurrent requests on one core, aiohttp's own client served about three
times the requests of httpx over the httpx-aiohttp transport, and httpx's own pool far
fewer still. The issue's rule was to keep httpx's API if it came within 10% of aiohttp; it
did not, so the /v1 hot path talks aiohttp directly. (Health probes, off the hot path,
keep httpx.)

A session lives as long as its loop: the server's loop closes it in the ASGI lifespan
shutdown, and any loop closes it when it finalizes its async generators
(`loop.shutdown_asyncgens()`, which asyncio.run, asgiref's async_to_sync and pytest-asyncio
all call), through the started generator `_close_with_loop` leaves behind.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator

import aiohttp
from django.conf import settings

MAX_CONNECTIONS = 1000
KEEPALIVE_SECONDS = 30

_sessions: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncIterator[None]]
] = weakref.WeakKeyDictionary()


def timeout() -> aiohttp.ClientTimeout:
    """Connect within CONNECT_TIMEOUT_SECONDS; then each read (a response, or the next
    stream event) within REQUEST_TIMEOUT_SECONDS. No cap on a whole stream's length."""
    return aiohttp.ClientTimeout(
        total=None,
        sock_connect=settings.CONNECT_TIMEOUT_SECONDS,
        sock_read=settings.REQUEST_TIMEOUT_SECONDS,
    )


def get_session() -> aiohttp.ClientSession:
    """The keep-alive session for the running loop (created on first use)."""
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is None or entry[0].closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS
            ),
            timeout=timeout(),
        )
        _sessions[loop] = (session, _close_with_loop(loop, session))
        return session
    return entry[0]


def _close_with_loop(
    loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession
) -> AsyncIterator[None]:
    async def closer() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await session.close()

    generator = closer()
    # Starting it registers it with the loop, which aclose()s it at shutdown_asyncgens().
    loop.create_task(generator.__anext__())  # type: ignore[arg-type]
    return generator


async def aclose_session() -> None:
    """Close the running loop's session (server shutdown), releasing its connections."""
    entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry[0].close()
