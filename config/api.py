"""The two NinjaAPI objects: /api (management, session or admin key) and /v1 (gateway).

Apps contribute routers; errors become JSON in one handler per error type.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from chat.errors import GatewayError, bad_request
from config.auth import operator_auth

logger = logging.getLogger("switchboard.api")


def describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Turn pydantic/ninja error entries into one sentence naming the first bad field."""
    details = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        field = ".".join(loc) or "body"
        message = str(error.get("msg", "invalid value"))
        details.append({"field": field, "message": message})
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return f"{first['field']}: {first['message']}", details


api = NinjaAPI(
    title="Switchboard management API",
    version="1",
    urls_namespace="api",
    auth=operator_auth,  # routers and operations name their own permissions
    docs_url="/docs",
)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    message, details = describe_validation_errors(list(exc.errors))
    return api.create_response(request, {"detail": message, "errors": details}, status=422)


@api.exception_handler(DjangoValidationError)
def on_model_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "message_dict"):
        details = [
            {"field": field, "message": " ".join(messages)}
            for field, messages in exc.message_dict.items()
        ]
    else:
        details = [{"field": "body", "message": " ".join(exc.messages)}]
    message = f"{details[0]['field']}: {details[0]['message']}"
    return api.create_response(request, {"detail": message, "errors": details}, status=400)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": "Authentication required: log in as staff or send an admin API key."},
        status=401,
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=exc.status_code)


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error in %s %s", request.method, request.path)
    return api.create_response(request, {"detail": "Internal server error."}, status=500)


# --- /v1: the OpenAI-compatible gateway -------------------------------------------------

v1 = NinjaAPI(
    title="Switchboard OpenAI-compatible API",
    version="1",
    urls_namespace="v1",
    docs_url=None,
    openapi_url=None,
)


@v1.exception_handler(GatewayError)
def on_gateway_error(request: HttpRequest, exc: GatewayError) -> HttpResponse:
    from chat.api import error_response

    return error_response(exc, request.headers.get("x-request-id", "-"))


@v1.exception_handler(ValidationError)
def on_v1_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    message, details = describe_validation_errors(list(exc.errors))
    return on_gateway_error(request, bad_request(message, details[0]["field"] if details else None))


@v1.exception_handler(Http404)
def on_v1_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return on_gateway_error(
        request, GatewayError(404, f"Unknown endpoint {request.path}.", code="not_found")
    )


@v1.exception_handler(HttpError)
def on_v1_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return on_gateway_error(
        request, GatewayError(exc.status_code, exc.message, code="invalid_request_error")
    )


@v1.exception_handler(Exception)
def on_v1_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error in %s %s", request.method, request.path)
    return on_gateway_error(
        request,
        GatewayError(
            500, "Internal error in Switchboard.", code="internal_error", type="server_error"
        ),
    )


def _add_routers() -> None:
    from console.admin_api import router as admin_router
    from console.api import health_router
    from console.api import router as console_router
    from documents.api import router as documents_router
    from providers.api import catalog_router
    from providers.api import router as providers_router
    from routing.api import router as routes_router
    from usage.api import router as usage_router

    api.add_router("/", health_router)
    api.add_router("/providers", providers_router)
    api.add_router("/models", catalog_router)
    api.add_router("/model-routes", routes_router)
    api.add_router("/usage", usage_router)
    api.add_router("/documents", documents_router)
    api.add_router("/admin", admin_router)
    api.add_router("/", console_router)

    from chat.api import router as openai_router
    from chat.messages_api import router as messages_router

    v1.add_router("/", openai_router)
    v1.add_router("/", messages_router)


_add_routers()
