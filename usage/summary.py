"""Filtering and summing usage records for /api/usage and the console's usage page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from usage.models import UsageLog

GROUPS = {
    "day": "day",
    "model": "model",
    "provider": "provider",
    "route": "route",
    "key": "api_key__name",
    "user": "user__username",
}


@dataclass(frozen=True, slots=True)
class Filters:
    since: str | None = None
    until: str | None = None
    key: str | None = None
    route: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str | None = None
    user: str | None = None


def parse_moment(value: str, field: str, *, end: bool) -> datetime:
    """An ISO date or datetime; a bare date `until` covers that whole day."""
    moment = None if _is_bare_date(value) else parse_datetime(value)
    if moment is None:
        day = _parse_day(value, field)
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _is_bare_date(value: str) -> bool:
    """'2026-11-23' (Django 5's parse_datetime would read it as that midnight)."""
    return len(value.strip()) == 10


def _parse_day(value: str, field: str) -> date:
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise ValidationError({field: [f"'{value}' is not an ISO 8601 date or datetime."]})
    return day


def filtered(queryset: QuerySet[UsageLog], filters: Filters) -> QuerySet[UsageLog]:
    if filters.since:
        queryset = queryset.filter(created_at__gte=parse_moment(filters.since, "since", end=False))
    if filters.until:
        until = parse_moment(filters.until, "until", end=True)
        is_day = _is_bare_date(filters.until)
        queryset = (
            queryset.filter(created_at__lt=until)
            if is_day
            else queryset.filter(created_at__lte=until)
        )
    exact = {
        "api_key__name": filters.key,
        "route": filters.route,
        "provider": filters.provider,
        "model": filters.model,
        "status": filters.status,
        "user__username": filters.user,
    }
    return queryset.filter(**{k: v for k, v in exact.items() if v})


TOTALS = {
    "requests": Count("id"),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "total_tokens": Coalesce(Sum("total_tokens"), 0),
    "cost_usd": Coalesce(Sum("cost_usd"), Decimal(0)),
    "errors": Count("id", filter=~Q(status="ok")),
}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["cost_usd"] = float(out["cost_usd"] or 0)
    return out


def summary(queryset: QuerySet[UsageLog], group_by: str | None) -> dict[str, Any]:
    total = _plain(queryset.aggregate(**TOTALS))
    groups: list[dict[str, Any]] = []
    if group_by:
        if group_by not in GROUPS:
            raise ValidationError(
                {"group_by": [f"must be one of {', '.join(GROUPS)}, not '{group_by}'."]}
            )
        column = GROUPS[group_by]
        rows = queryset.order_by()
        if group_by == "day":
            rows = rows.annotate(day=TruncDate("created_at"))
        rows = rows.values(column).annotate(**TOTALS).order_by(column)
        for row in rows:
            key = row.pop(column)
            groups.append({"key": key.isoformat() if isinstance(key, date) else key} | _plain(row))
    return {"total": total, "groups": groups}
