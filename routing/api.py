from __future__ import annotations

from typing import TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import ValidationError
from pydantic import ValidationError as PydanticValidationError

import routing
from config.auth import permitted
from routing.engine import RoutingError
from routing.models import Route, RouteNode, save_route
from routing.schemas import (
    RouteIn,
    RouteOut,
    RoutePatch,
    RouteStateOut,
    RoutingErrorOut,
    SelectIn,
    SelectionOut,
)

# A route is written with its nodes: each method needs its action on both models.
router = Router(tags=["routes"], auth=permitted(Route, RouteNode))

Body = TypeVar("Body", bound=Schema)


def optional_body(request: HttpRequest, schema: type[Body]) -> Body:
    """A JSON body that may be absent (a bare POST, whatever its content type)."""
    if not request.body.strip() or request.content_type != "application/json":
        return schema()
    try:
        return schema.model_validate_json(request.body)
    except PydanticValidationError as error:
        raise ValidationError(error.errors()) from error


def routes() -> QuerySet[Route]:
    return Route.objects.prefetch_related("nodes__provider")


@router.get("", response=list[RouteOut])
def list_routes(request: HttpRequest) -> list[Route]:
    return list(routes())


@router.post("", response={201: RouteOut})
def create_route(request: HttpRequest, payload: RouteIn) -> Status[Route]:
    data = payload.dict()
    nodes = data.pop("nodes")
    route = save_route(Route(**data), nodes)
    return Status(201, routes().get(pk=route.pk))


@router.get("/{int:route_id}", response=RouteOut)
def get_route(request: HttpRequest, route_id: int) -> Route:
    return get_object_or_404(routes(), pk=route_id)


@router.patch("/{int:route_id}", response=RouteOut)
def update_route(request: HttpRequest, route_id: int, payload: RoutePatch) -> Route:
    route = get_object_or_404(Route, pk=route_id)
    changes = payload.dict(exclude_unset=True)
    nodes = changes.pop("nodes", None)
    for field, value in changes.items():
        if value is not None:
            setattr(route, field, value)
    save_route(route, nodes)
    return routes().get(pk=route.pk)


@router.delete("/{int:route_id}", response={204: None})
def delete_route(request: HttpRequest, route_id: int) -> Status[None]:
    get_object_or_404(Route, pk=route_id).delete()
    return Status(204, None)


@router.post(
    "/{int:route_id}/select",
    response={200: SelectionOut, 404: RoutingErrorOut, 503: RoutingErrorOut},
    auth=permitted(Route, RouteNode, action="view"),  # a diagnostic, like a /v1 request
)
def select_on_route(
    request: HttpRequest, route_id: int, model: str | None = None
) -> Status[SelectionOut | RoutingErrorOut]:
    """The next selection, moving the round-robin position like a real request.
    `model` (query, or an optional JSON body) is the hint a client sends as route/model."""
    hint = model or optional_body(request, SelectIn).model
    try:
        candidate = routing.select_route(route_id, model=hint)[0]
    except RoutingError as error:
        return Status(error.status, RoutingErrorOut(detail=error.message, reason=error.reason))
    return Status(
        200,
        SelectionOut(
            provider_id=candidate.provider.id,
            provider_name=candidate.provider.name,
            model=candidate.model,
        ),
    )


@router.get("/{int:route_id}/state", response=RouteStateOut)
def route_state(request: HttpRequest, route_id: int) -> RouteStateOut:
    route = get_object_or_404(Route, pk=route_id)
    return RouteStateOut(
        route_id=route.pk,
        route_name=route.name,
        state={"round_robin_indices": routing.rotation_state(route.pk)},
    )
