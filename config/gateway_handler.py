"""The ASGI handler that serves /v1.

Measured on this gateway, Django's stock ASGI path costs more than the proxying itself:
the default middleware (session, CSRF, messages, auth: MiddlewareMixin classes run through
thread-sensitive sync_to_async) halved throughput, and every request also got a fresh
executor thread (ThreadSensitiveContext) plus two thread hops for the synchronous
request_started/request_finished receivers and response.close(). /v1 does no blocking
work on the request path — keys and routes come from in-memory snapshots, usage records
are queued to a writer thread — so this handler skips all of that: a short list of
async-native middleware, no per-request executor, and response.close() on the loop
(its closers only queue work). config/asgi.py routes requests here by path.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured, RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpResponseBase
from django.utils.module_loading import import_string

from config import cors

# Request id, access line, request stats and HTTP metrics: async-native, no session.
GATEWAY_MIDDLEWARE: list[str] = [
    "config.middleware.RequestObservabilityMiddleware",
    "lifecycle.maintenance.MaintenanceMiddleware",  # 503 while a restore runs
]
GATEWAY_URLCONF = "config.urls_v1"


class GatewayHandler(ASGIHandler):
    middleware = GATEWAY_MIDDLEWARE

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response_async)
        for path in reversed(self.middleware):
            factory = import_string(path)
            if not getattr(factory, "async_capable", False):
                raise ImproperlyConfigured(f"/v1 middleware {path} must be async-capable.")
            handler = convert_exception_to_response(factory(handler))
        self._middleware_chain = handler

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"The /v1 handler serves HTTP only, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                await self.send_response(error_response, send)
                error_response.close()
                return
            request.urlconf = GATEWAY_URLCONF
            response = await self._respond_unless_disconnected(request, receive, send)
            if response is not None:
                response.close()
        finally:
            body_file.close()

    async def _respond_unless_disconnected(
        self, request: Any, receive: Any, send: Any
    ) -> HttpResponseBase | None:
        """Run the view and send its response; a client that disconnects first cancels
        the view (and with it the upstream request), as Django's own handler does."""

        async def respond() -> HttpResponseBase:
            response = cors.preflight(request) or await self.run_get_response(request)
            cors.add_headers(request, response)
            # A client that goes away while we send cancels the rest of the send.
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)
            return response

        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        responder = asyncio.create_task(respond())
        await asyncio.wait([listener, responder], return_when=asyncio.FIRST_COMPLETED)
        if not listener.done():
            listener.cancel()
        elif not responder.done():
            responder.cancel()
        for task in (listener, responder):
            with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                await task
        if responder.cancelled():
            return None
        return responder.result()


def is_gateway_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")
