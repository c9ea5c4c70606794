"""Per-user quotas over the management API (/api/users/...).

`GET|PUT /api/users/{id}/quota` need the UserQuota permission the method implies (view,
change); `GET /api/users/me/quota` is anyone's own, with what they spent this period.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from pydantic import Field

from config.auth import UserSession, permitted
from usage import quotas, spend
from usage.models import Period, UserQuota

router = Router(tags=["quotas"])


class QuotaIn(Schema):
    budget_usd: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)] | None = None
    period: Period = Period.MONTH
    rpm_limit: int | None = Field(default=None, ge=1, le=1_000_000)


class QuotaOut(Schema):
    user_id: int
    budget_usd: Decimal | None
    period: str
    rpm_limit: int | None


class MyQuotaOut(QuotaOut):
    spent_usd: Decimal
    remaining_usd: Decimal | None
    resets_at: datetime


def quota_of(user_id: int) -> dict[str, Any]:
    quota = UserQuota.objects.filter(user_id=user_id).first()
    if quota is None:  # no quota: no limits
        return {"user_id": user_id, "budget_usd": None, "period": Period.MONTH, "rpm_limit": None}
    return {
        "user_id": user_id,
        "budget_usd": quota.budget_usd,
        "period": quota.period,
        "rpm_limit": quota.rpm_limit,
    }


@router.get("/me/quota", response=MyQuotaOut, auth=UserSession())
def my_quota(request: HttpRequest) -> dict[str, Any]:
    user_id = request.user.pk
    assert user_id is not None  # UserSession let only a logged-in user in
    data = quota_of(user_id)
    start, end = quotas.period_bounds(data["period"])
    spent = spend.user_spent_usd(user_id, start, end)
    budget = data["budget_usd"]
    remaining = None if budget is None else max(Decimal(0), budget - spent)
    return data | {"spent_usd": spent, "remaining_usd": remaining, "resets_at": end}


@router.get("/{int:user_id}/quota", response=QuotaOut, auth=permitted(UserQuota))
def get_quota(request: HttpRequest, user_id: int) -> dict[str, Any]:
    get_object_or_404(get_user_model(), pk=user_id)
    return quota_of(user_id)


@router.put("/{int:user_id}/quota", response=QuotaOut, auth=permitted(UserQuota))
def put_quota(request: HttpRequest, user_id: int, payload: QuotaIn) -> dict[str, Any]:
    user = get_object_or_404(get_user_model(), pk=user_id)
    UserQuota.objects.update_or_create(user=user, defaults=payload.dict())
    return quota_of(user_id)
