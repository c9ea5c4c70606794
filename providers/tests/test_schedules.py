from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.scheduler import scheduler

from console.schedules import ensure_schedules
from providers import tasks
from providers.config_backup import backup_path
from providers.models import ModelInfo, Provider
from providers.tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.django_db

KEY = "sk-schedule-SECRET-1111222233334444"
OURS = {"providers.config_backup", "providers.catalog_sync"}


def ours() -> dict[str, Schedule]:
    return {s.name: s for s in Schedule.objects.filter(name__in=OURS)}


def test_migrate_creates_our_schedules() -> None:
    # pytest-django migrated the test database: post_migrate already ran ensure_schedules.
    schedules = ours()
    assert set(schedules) == OURS
    assert schedules["providers.config_backup"].schedule_type == Schedule.DAILY
    assert schedules["providers.catalog_sync"].schedule_type == Schedule.DAILY
    assert schedules["providers.catalog_sync"].func == "providers.tasks.sync_catalog"


def test_creating_schedules_again_never_duplicates_them() -> None:
    ensure_schedules()
    ensure_schedules()
    for name in OURS:
        assert Schedule.objects.filter(name=name).count() == 1


def test_the_minute_based_probe_schedule_of_older_versions_is_removed() -> None:
    # Probes run every HEALTH_CHECK_INTERVAL_SECONDS in providers.prober instead.
    Schedule.objects.create(
        name="providers.health_checks", func="providers.tasks.run_health_checks", minutes=1
    )
    ensure_schedules()
    assert not Schedule.objects.filter(name="providers.health_checks").exists()


@pytest.fixture
def sync_mode(monkeypatch):  # type: ignore[no-untyped-def]
    """django-q2's documented test mode: tasks run in the caller, inside its transaction."""
    monkeypatch.setattr(Conf, "SYNC", True)


def run_due(name: str) -> None:
    """Make one schedule due, then let django-q2's own scheduler turn it into a task."""
    Schedule.objects.exclude(name=name).update(next_run=timezone.now() + timedelta(days=1))
    Schedule.objects.filter(name=name).update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())


def test_the_scheduler_runs_the_catalog_sync(sync_mode, upstream: FakeUpstream) -> None:
    Provider.objects.create(name="or", base_url=upstream.url("openrouter"), kind="openrouter")
    run_due("providers.catalog_sync")
    assert ModelInfo.objects.count() == 7
    assert Task.objects.get(group="providers.catalog_sync").success is True


def test_the_scheduler_runs_the_config_backup(sync_mode) -> None:
    Provider.objects.create(name="p", base_url="http://127.0.0.1:9/v1", api_key=KEY)
    run_due("providers.config_backup")
    written = json.loads(backup_path().read_text())
    assert [p["name"] for p in written["providers"]] == ["p"]
    assert KEY not in backup_path().read_text()


def test_the_tasks_are_plain_functions_too(upstream: FakeUpstream, settings) -> None:
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 1
    Provider.objects.create(name="good", base_url=upstream.url("ok"))
    assert tasks.run_health_checks() == {"probed": 1, "online": 1, "failing": 0}
    assert tasks.sync_catalog()["models"] == 2
    assert tasks.backup_config().endswith("config_backup.json")
