"""The one shared upstream HTTP client: an httpx.AsyncClient per running event loop.

httpx keeps the API; on the server's loop the transport underneath is aiohttp's
(httpx-aiohttp), because httpx's own connection pool measured several times slower under
32 concurrent requests (see bench/results.md). Set UPSTREAM_TRANSPORT=httpx to use httpx's
pool everywhere.

Only a loop that announced itself through the ASGI lifespan (`serve_on_this_loop()`) gets
the aiohttp transport: the lifespan's shutdown closes it. Short-lived loops (a task
worker's async_to_sync, a test) get httpx's own pool, which needs no explicit close.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterator

import httpx
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None
_server_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)


def timeout() -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.CONNECT_TIMEOUT_SECONDS,
        read=settings.REQUEST_TIMEOUT_SECONDS,
        write=settings.REQUEST_TIMEOUT_SECONDS,
        pool=settings.CONNECT_TIMEOUT_SECONDS,
    )


def serve_on_this_loop() -> None:
    """The ASGI lifespan's startup: this loop lives as long as the server."""
    _server_loops.add(asyncio.get_running_loop())


def _default_transport() -> httpx.AsyncBaseTransport:
    on_server_loop = asyncio.get_running_loop() in _server_loops
    if settings.UPSTREAM_TRANSPORT == "httpx" or not on_server_loop:
        return httpx.AsyncHTTPTransport(limits=LIMITS)
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(limits=LIMITS)


def get_client() -> httpx.AsyncClient:
    """The keep-alive client for the running loop (created on first use)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        transport = (_transport_factory or _default_transport)()
        client = httpx.AsyncClient(transport=transport, timeout=timeout(), follow_redirects=False)
        _clients[loop] = client
    return client


async def aclose_client() -> None:
    """Close the running loop's client (server shutdown), releasing its connections."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


@contextlib.contextmanager
def use_transport(transport: httpx.AsyncBaseTransport) -> Iterator[None]:
    """Unit tests: route every upstream call through `transport` (an httpx.MockTransport)."""
    global _transport_factory
    previous = _transport_factory
    _transport_factory = lambda: transport  # noqa: E731
    _clients.clear()
    try:
        yield
    finally:
        _transport_factory = previous
        _clients.clear()
