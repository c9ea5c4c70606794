from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import JSONField

from coordination.querysets import SignallingQuerySet
from providers.models import Provider, validate_models


class Mode(models.TextChoices):
    AUTO = "auto", "auto: all nodes by their strategy"
    SPECIFIC = "specific", "specific: the node serving the model named as route/model"
    MULTI = "multi", "multi: priority groups, lower numbers first"


class Strategy(models.TextChoices):
    ROUND_ROBIN = "round-robin", "round-robin"
    FAILOVER = "failover", "failover"
    WEIGHTED = "weighted", "weighted"


def validate_weight(value: float) -> None:
    if value is None or value <= 0:
        raise ValidationError("weight must be greater than 0.")


def validate_object(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object.")


class Route(models.Model):
    """What clients send as `model`; its nodes say which providers serve it."""

    name = models.CharField(max_length=100, unique=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.AUTO)
    is_active = models.BooleanField(default=True)
    config = JSONField(default=dict, blank=True, validators=[validate_object])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SignallingQuerySet["Route"].as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RouteNode(models.Model):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="nodes")
    # Deleting a provider removes its nodes: a node without a provider can serve nothing.
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="route_nodes")
    strategy = models.CharField(
        max_length=16, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    priority = models.IntegerField(
        default=0, validators=[MinValueValidator(0)], help_text="Lower numbers are tried first."
    )
    weight = models.FloatField(default=1.0, validators=[validate_weight])
    metadata = JSONField(default=dict, blank=True, validators=[validate_object])
    # Declared last: inside the class body the name shadows the django.db.models module.
    models = JSONField(
        default=list,
        blank=True,
        validators=[validate_models],
        help_text="Empty: the provider's models (the first one, or the one asked for).",
    )

    objects = SignallingQuerySet["RouteNode"].as_manager()

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.provider} (priority {self.priority})"

    @property
    def api_id(self) -> int:
        """The provider's id, under the name the route payloads use."""
        return self.provider_id

    @property
    def provider_name(self) -> str:
        return self.provider.name


def _nodes_for(route: Route, nodes: list[dict[str, Any]]) -> list[RouteNode]:
    """Unsaved nodes from payload dicts (`api_id` is the provider id), validated."""
    wanted = {node["api_id"] for node in nodes}
    known = set(Provider.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    built = []
    for index, data in enumerate(nodes):
        fields = {k: v for k, v in data.items() if k != "api_id"}
        if data["api_id"] not in known:
            raise ValidationError(
                {f"nodes.{index}.api_id": f"No provider with id {data['api_id']}."}
            )
        node = RouteNode(route=route, provider_id=data["api_id"], **fields)
        try:
            node.full_clean(exclude=["route"])
        except ValidationError as error:
            raise ValidationError(
                {f"nodes.{index}.{field}": msgs for field, msgs in error.message_dict.items()}
            ) from error
        built.append(node)
    return built


@transaction.atomic
def save_route(route: Route, nodes: list[dict[str, Any]] | None = None) -> Route:
    """Validate and save a route; `nodes`, when given, replace all of its nodes.
    A ValidationError names the field (`name`, `nodes.1.api_id`...)."""
    route.full_clean()
    route.save()
    if nodes is not None:
        new_nodes = _nodes_for(route, nodes)
        route.nodes.all().delete()
        for node in new_nodes:
            node.save()  # one by one: post_save keeps the snapshot and backup current
    return route
