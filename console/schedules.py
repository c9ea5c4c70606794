"""Every django-q2 schedule Switchboard runs, created idempotently after migrate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Planned:
    name: str
    func: str
    minutes: int | None = None
    schedule_type: str = "I"  # django_q Schedule.MINUTES ("I"), DAILY ("D")...
    enabled: bool = True


# Health probes run every HEALTH_CHECK_INTERVAL_SECONDS in the web workers
# (providers.prober): django-q2 schedules count whole minutes. A schedule left by an older
# version is removed.
RETIRED = ("providers.health_checks",)


def planned() -> list[Planned]:
    return [
        Planned("switchboard.heartbeat", "console.tasks.heartbeat", minutes=1),
        Planned("console.backup", "console.tasks.backup", schedule_type="D"),
        Planned("providers.config_backup", "providers.tasks.backup_config", schedule_type="D"),
        Planned("providers.catalog_sync", "providers.tasks.sync_catalog", schedule_type="D"),
    ]


def ensure_schedules(**kwargs: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=RETIRED).delete()
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
