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

from config.auth import admin_auth

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
    auth=admin_auth,
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


_add_routers()
