from __future__ import annotations

import csv
import io
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from config.auth import holds, user_auth
from usage.models import UsageLog
from usage.schemas import UsageOut, UsagePage
from usage.summary import Filters, filtered, summary

router = Router(tags=["usage"], auth=user_auth)


class FilterQuery(Schema):
    """The filters of DESIGN.md "Usage": names for key, route, provider and model."""

    since: str | None = None
    until: str | None = None
    key: str | None = None
    route: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str | None = None

    def filters(self) -> Filters:
        return Filters(**self.dict(include=set(Filters.__dataclass_fields__)))


class UsageQuery(FilterQuery):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)
    format: str | None = Field(None, pattern="^(json|csv)$")


class SummaryQuery(FilterQuery):
    group_by: str | None = None


def visible(request: HttpRequest) -> QuerySet[UsageLog]:
    """Admin keys and holders of usage.view_usagelog see every record; other users see
    their own."""
    if holds(request, "usage.view_usagelog"):
        return UsageLog.objects.all()
    user = getattr(request, "user", None)
    return UsageLog.objects.filter(user_id=getattr(user, "id", None))


def _row(log: UsageLog) -> dict[str, Any]:
    return {
        "id": log.id,
        "request_id": log.request_id,
        "source": log.source,
        "key": log.api_key.name if log.api_key else None,
        "user": log.user.get_username() if log.user else None,
        "session_id": log.session_id,
        "route": log.route,
        "provider": log.provider,
        "model": log.model,
        "requested_model": log.requested_model,
        "prompt_tokens": log.prompt_tokens,
        "completion_tokens": log.completion_tokens,
        "total_tokens": log.total_tokens,
        "cost_usd": float(log.cost_usd),
        "priced": log.priced,
        "estimated": log.estimated,
        "latency_ms": log.latency_ms,
        "ttft_ms": log.ttft_ms,
        "status": log.status,
        "error_code": log.error_code,
        "stream": log.stream,
        "attempts": log.attempts,
        "created_at": log.created_at,
    }


@router.get("", response=UsagePage)
def list_usage(request: HttpRequest, query: Query[UsageQuery]) -> Any:
    logs = filtered(visible(request), query.filters()).select_related("api_key", "user")
    if query.format == "csv":
        return _csv(logs[:100_000])
    page = logs[query.offset : query.offset + query.limit]
    return {"items": [_row(log) for log in page], "count": logs.count()}


@router.get("/summary", response=dict)
def usage_summary(request: HttpRequest, query: Query[SummaryQuery]) -> dict[str, Any]:
    return summary(filtered(visible(request), query.filters()), query.group_by)


# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): `=`, `+`, `-`, `@`,
# tab or carriage return first. Model, route and key names come from clients and upstreams.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text starting like a formula gets a leading `'`; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(logs: QuerySet[UsageLog]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = list(UsageOut.model_fields)
    writer.writerow(columns)
    for log in logs:
        row = _row(log)
        writer.writerow([spreadsheet_safe(row[column]) for column in columns])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="switchboard-usage.csv"'
    return response
