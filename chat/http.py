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
import socket
import weakref
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from django.conf import settings

from providers import url_policy

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
                limit=MAX_CONNECTIONS,
                keepalive_timeout=KEEPALIVE_SECONDS,
                resolver=PolicyResolver(),
            ),
            timeout=timeout(),
            middlewares=(refuse_literal_hosts,),
        )
        _sessions[loop] = (session, _close_with_loop(loop, session))
        return session
    return entry[0]


class PolicyResolver(AbstractResolver):
    """The default resolver, with every address a name resolves to checked against
    PROVIDER_URL_POLICY (DNS rebinding included: aiohttp's DNS cache holds only answers
    that passed). A refusal is an OSError, which aiohttp reports as a connection error."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        url_policy.check_host(host)
        results = await self._inner.resolve(host, port, family)
        url_policy.check_addresses(host, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


async def refuse_literal_hosts(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """IP literals never reach the resolver: judge every host here too (a verdict cached
    per host and settings, so this costs a dictionary lookup per request)."""
    try:
        url_policy.check_host(request.url.raw_host or "")
    except url_policy.URLRefused as exc:
        raise aiohttp.ClientConnectorError(request.connection_key, exc) from exc
    return await handler(request)


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
