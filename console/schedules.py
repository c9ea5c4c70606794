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


def planned() -> list[Planned]:
    return [
        Planned("switchboard.heartbeat", "console.tasks.heartbeat", minutes=1),
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
