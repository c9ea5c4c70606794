from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import Field, StringConstraints

from routing.models import Mode, Strategy

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class NodeIn(Schema):
    api_id: int = Field(description="The provider's id.")
    models: list[ModelId] = Field(default_factory=list)
    strategy: Strategy = Strategy.ROUND_ROBIN
    priority: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Lower numbers are tried first."
    )
    weight: float = Field(default=1.0, gt=0)
    metadata: dict[str, Any] = Field(default_factory=dict)


class RouteIn(Schema):
    name: Name
    mode: Mode = Mode.AUTO
    is_active: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
    nodes: list[NodeIn] = Field(default_factory=list)


class RoutePatch(Schema):
    name: Name | None = None
    mode: Mode | None = None
    is_active: bool | None = None
    config: dict[str, Any] | None = None
    nodes: list[NodeIn] | None = Field(default=None, description="Replaces every node.")


class NodeOut(Schema):
    id: int
    api_id: int
    provider_name: str
    models: list[str]
    strategy: str
    priority: int
    weight: float
    metadata: dict[str, Any]


class RouteOut(Schema):
    id: int
    name: str
    mode: str
    is_active: bool
    config: dict[str, Any]
    nodes: list[NodeOut]
    created_at: datetime
    updated_at: datetime


class SelectIn(Schema):
    model: ModelId | None = Field(default=None, description="A model hint, as in route/model.")


class SelectionOut(Schema):
    provider_id: int
    provider_name: str
    model: str


class RoutingErrorOut(Schema):
    detail: str
    reason: str


class RouteStateOut(Schema):
    route_id: int
    route_name: str
    state: dict[str, dict[str, int]]
