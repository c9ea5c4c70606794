"""CORS for /v1 (DESIGN.md "Configuration", CORS_ALLOWED_ORIGINS): browser apps on the
listed origins may call the gateway. Off unless configured; never with credentials (a
gateway key travels in a header the page sets, not in cookies). config.gateway_handler
answers preflights here and adds the headers to every /v1 response."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
# Headers the page may read: the request id and which provider and model answered.
EXPOSED = (
    "x-request-id, x-switchboard-provider, x-switchboard-model, x-switchboard-attempts, Retry-After"
)
MAX_AGE_SECONDS = 600


def allowed_origin(request: HttpRequest) -> str | None:
    """The request's Origin when CORS_ALLOWED_ORIGINS allows it ("*" allows any)."""
    return _allowed(request.headers.get("origin"))


def _allowed(origin: str | None) -> str | None:
    allowed = settings.CORS_ALLOWED_ORIGINS
    if not origin or not allowed:
        return None
    if "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}:
        return origin
    return None


def preflight(request: HttpRequest) -> HttpResponse | None:
    """The answer to an allowed origin's preflight (OPTIONS with
    Access-Control-Request-Method); None for anything else."""
    if request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
        return None
    origin = allowed_origin(request)
    if origin is None:
        return None
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    requested = request.headers.get("access-control-request-headers")
    response["Access-Control-Allow-Headers"] = requested or "authorization, content-type"
    response["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
    _allow(response, origin)
    return response


def add_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    origin = allowed_origin(request)
    if origin is not None:
        _allow(response, origin)
        response["Access-Control-Expose-Headers"] = EXPOSED


def _allow(response: HttpResponseBase, origin: str) -> None:
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"


def refusals_with_cors(app: Any) -> Any:
    """ASGI wrapper for what answers before the /v1 handler (the key gate's 401 and 429,
    the body limit's 413): an allowed origin's page can read those refusals too."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        origin = None
        if settings.CORS_ALLOWED_ORIGINS and scope["type"] == "http":
            raw = dict(scope.get("headers") or ()).get(b"origin")
            origin = _allowed(raw.decode("latin-1")) if raw else None
        if origin is None:
            await app(scope, receive, send)
            return
        extra = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", EXPOSED.encode()),
        ]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ in headers}
                headers += [header for header in extra if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, sending)

    return wrapped
