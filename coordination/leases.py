"""Claims on periodic work shared by every process: the first to move a lease's due time
forward runs the round, the others see their UPDATE match nothing and skip it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from coordination.models import Lease


def claim(name: str, every_seconds: float, holder: str = "") -> bool:
    """True for the one caller that may run `name`'s round now. A due time further away
    than one interval (left by a longer interval before a restart) counts as due."""
    now = timezone.now()
    due = now + timedelta(seconds=every_seconds)
    claimed = (
        Lease.objects.filter(name=name)
        .filter(Q(due_at__lte=now) | Q(due_at__gt=due))
        .update(due_at=due, holder=holder[:100])
    )
    if claimed:
        return True
    if Lease.objects.filter(name=name).exists():
        return False
    try:
        Lease.objects.create(name=name, due_at=due, holder=holder[:100])
    except IntegrityError:  # another process created it first: theirs to run
        return False
    return True


def seconds_until(name: str) -> float:
    """How long until `name`'s next round is due (0 when due or unknown)."""
    due = Lease.objects.filter(name=name).values_list("due_at", flat=True).first()
    if due is None:
        return 0.0
    return max(0.0, (due - timezone.now()).total_seconds())


def postpone(name: str, every_seconds: float, holder: str = "") -> None:
    """Make the first round due one interval from now unless one is due sooner."""
    due = timezone.now() + timedelta(seconds=every_seconds)
    if not Lease.objects.filter(name=name, due_at__lte=due).exists():
        Lease.objects.update_or_create(name=name, defaults={"due_at": due, "holder": holder})


# --- markers: "I am still doing X", held until released or until they expire ----------


def hold(name: str, until: datetime, holder: str = "") -> None:
    """Say that `holder` is busy with `name` until it calls release() (or `until`)."""
    Lease.objects.update_or_create(name=name[:100], defaults={"due_at": until, "holder": holder})


def release(name: str) -> None:
    Lease.objects.filter(name=name[:100]).delete()


def held(prefix: str) -> list[str]:
    """Holders of unexpired markers whose name starts with `prefix`."""
    rows = Lease.objects.filter(name__startswith=prefix, due_at__gt=timezone.now())
    return list(rows.values_list("holder", flat=True))
