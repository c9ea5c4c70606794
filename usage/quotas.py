"""Per-user quotas: the in-process table the hot path reads, and their periods.

Quotas are held per process keyed by user id (coordination.versioned), rebuilt when the
change signal moves: a UserQuota saved or deleted in any process bumps it, so an operator
raising a quota lets the user continue within about a second everywhere (at once in the
process that saved it). Periods are calendar days or months in TIME_ZONE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from coordination import changes
from coordination.versioned import VersionedStore
from usage.models import Period, UserQuota


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    user_id: int
    username: str
    budget_usd: Decimal | None
    period: str
    rpm_limit: int | None


def _load() -> dict[int, QuotaInfo]:
    return {
        quota.user_id: QuotaInfo(
            user_id=quota.user_id,
            username=quota.user.get_username(),
            budget_usd=quota.budget_usd,
            period=quota.period,
            rpm_limit=quota.rpm_limit,
        )
        for quota in UserQuota.objects.select_related("user")
    }


store: VersionedStore[dict[int, QuotaInfo]] = VersionedStore(_load)


@receiver(post_save, sender=UserQuota, dispatch_uid="usage.quotas.saved")
@receiver(post_delete, sender=UserQuota, dispatch_uid="usage.quotas.deleted")
def _quota_changed(sender: type, **kwargs: Any) -> None:
    changes.bump()


async def afor_user(user_id: int) -> QuotaInfo | None:
    return (await store.acurrent()).get(user_id)


def for_user(user_id: int) -> QuotaInfo | None:
    return store.current().get(user_id)


def period_bounds(period: str, moment: datetime | None = None) -> tuple[datetime, datetime]:
    """The [start, end) of the day or month holding `moment` (now), in TIME_ZONE."""
    local = timezone.localtime(moment or timezone.now())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Period.DAY:
        end = start + timedelta(days=1)
    else:
        start = start.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    tz = timezone.get_current_timezone()
    # Rebuilt from the wall clock so a DST change inside the period does not shift the end.
    return (
        timezone.make_aware(start.replace(tzinfo=None), tz),
        timezone.make_aware(end.replace(tzinfo=None), tz),
    )
