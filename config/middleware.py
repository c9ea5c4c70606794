"""Request id, access log, request stats and HTTP metrics in one middleware.

It needs nothing from other middleware (no session, no auth), runs natively in sync and
async mode, and is meant to sit first in the chain so the id covers every log line and the
duration covers every other middleware. The /v1 ASGI handler reuses it as it is.

The request is "finished" (access line, stats, metrics) when Django closes the response,
that is after the last byte of a streamed body has gone out, so stream durations are real.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from config import metrics
from config.logging import access_logger, request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# A client's id is echoed only when it is a sane token; anything else is replaced so a
# header cannot inject text into log lines.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def route_of(request: HttpRequest) -> str:
    """The URL pattern that matched (`api/providers/<int:provider_id>`), bounded by the
    URLconf; `<unmatched>` for 404s and responses given before URL resolution."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return metrics.UNMATCHED_ROUTE
    return "/" + match.route.lstrip("^").rstrip("$")


@dataclass
class RequestTimer:
    request_id: str
    method: str
    path: str
    started: float
    done: bool = False

    def finish(self, request: HttpRequest, response: HttpResponseBase) -> None:
        # close() may be called twice (handler and server); count the request once.
        if self.done:
            return
        self.done = True
        seconds = time.perf_counter() - self.started
        finish_request(self, route_of(request), response.status_code, seconds)


def begin_request(request: HttpRequest) -> RequestTimer:
    request_id = request_id_for(request)
    request_id_var.set(request_id)
    request.request_id = request_id  # type: ignore[attr-defined]
    return RequestTimer(request_id, request.method or "GET", request.path, time.perf_counter())


def finish_request(timer: RequestTimer, route: str, status: int, seconds: float) -> None:
    from console import stats

    duration_ms = round(seconds * 1000, 2)
    metrics.HTTP_REQUESTS.labels(timer.method, route, str(status)).inc()
    metrics.HTTP_LATENCY.labels(timer.method, route).observe(seconds)
    access_logger.info(
        "%s %s %s %.1fms",
        timer.method,
        timer.path,
        status,
        duration_ms,
        extra={
            "request_id": timer.request_id,
            "method": timer.method,
            "path": timer.path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
        },
    )
    stats.record(timer.method, timer.path, route, status, duration_ms, timer.request_id)


def attach(request: HttpRequest, response: HttpResponseBase, timer: RequestTimer) -> None:
    response[REQUEST_ID_HEADER] = timer.request_id
    # Django calls these when it closes the response, after the body is sent (WSGI server,
    # ASGI handler and test client alike).
    response._resource_closers.append(lambda: timer.finish(request, response))  # type: ignore[attr-defined]


class RequestObservabilityMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if iscoroutinefunction(self):
            return self.__acall__(request)  # type: ignore[attr-defined]
        timer = begin_request(request)
        response = self.get_response(request)
        attach(request, response, timer)  # type: ignore[arg-type]
        return response  # type: ignore[return-value]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        timer = begin_request(request)
        response = await self.get_response(request)  # type: ignore[misc]
        attach(request, response, timer)
        return response
