"""Scheduled health probes, every HEALTH_CHECK_INTERVAL_SECONDS to the second.

django-q2's scheduler looks at its schedules about every 30 s and counts in minutes, so
the probes run here instead: each web worker runs this loop beside the requests, and a
lease (coordination.leases) lets exactly one process of all instances probe each round.
The results go through providers.health, which bumps the change signal, so every web
worker routes by them within a second.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError

from coordination import leases
from providers import health
from providers.models import Provider

logger = logging.getLogger("switchboard.health")

LEASE = "providers.health_checks"
# Between lease checks while another process holds the round: at most this long.
IDLE_CHECK_SECONDS = 5.0


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _active() -> list[Provider]:
    return list(Provider.objects.filter(is_active=True))


def _record(outcomes: list[tuple[Provider, health.ProbeResult]]) -> None:
    for provider, result in outcomes:
        health.record_probe(provider, result)


async def probe_round() -> int:
    """Probe every active provider concurrently and record the results."""
    providers = await sync_to_async(_active)()
    results = await health.probe_many([health.Target.of(provider) for provider in providers])
    await health.run_update(_record, list(zip(providers, results, strict=True)))
    return len(providers)


async def run() -> None:
    """Until cancelled: claim each round that falls due and probe it."""
    interval = settings.HEALTH_CHECK_INTERVAL_SECONDS
    holder = _holder()
    await sync_to_async(leases.postpone)(LEASE, interval, holder)
    while True:
        try:
            if await sync_to_async(leases.claim)(LEASE, interval, holder):
                await probe_round()
            wait = await sync_to_async(leases.seconds_until)(LEASE)
        except DatabaseError:
            logger.warning("health probes: the database is unreachable; trying again")
            wait = IDLE_CHECK_SECONDS
        await asyncio.sleep(min(max(wait, 0.2), IDLE_CHECK_SECONDS, interval))


def start() -> asyncio.Task[None] | None:
    """Start the loop on the running event loop when probes are enabled."""
    if not settings.HEALTH_CHECK_ENABLED:
        return None
    return asyncio.get_running_loop().create_task(run(), name="health-probes")
