"""Every django-q2 schedule Switchboard runs, created idempotently after migrate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Planned:
    name: str
    func: str
    minutes: int | None = None
    schedule_type: str = "I"  # django_q Schedule.MINUTES ("I"), DAILY ("D")...
    enabled: bool = True


def health_check_minutes() -> int:
    """django-q2 schedules in whole minutes: HEALTH_CHECK_INTERVAL_SECONDS rounded, at least 1."""
    return max(1, round(settings.HEALTH_CHECK_INTERVAL_SECONDS / 60))


def planned() -> list[Planned]:
    return [
        Planned("switchboard.heartbeat", "console.tasks.heartbeat", minutes=1),
        Planned("console.backup", "console.tasks.backup", schedule_type="D"),
        Planned(
            "providers.health_checks",
            "providers.tasks.run_health_checks",
            minutes=health_check_minutes(),
            enabled=settings.HEALTH_CHECK_ENABLED,
        ),
        Planned("providers.config_backup", "providers.tasks.backup_config", schedule_type="D"),
        Planned("providers.catalog_sync", "providers.tasks.sync_catalog", schedule_type="D"),
    ]


def ensure_schedules(**kwargs: Any) -> None:
    from django_q.models import Schedule

    for plan in planned():
        if not plan.enabled:
            Schedule.objects.filter(name=plan.name).delete()
            continue
        Schedule.objects.update_or_create(
            name=plan.name,
            defaults={
                "func": plan.func,
                "schedule_type": plan.schedule_type,
                "minutes": plan.minutes,
                "repeats": -1,
            },
        )
