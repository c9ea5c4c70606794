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
OURS = {"providers.health_checks", "providers.config_backup", "providers.catalog_sync"}


def ours() -> dict[str, Schedule]:
    return {s.name: s for s in Schedule.objects.filter(name__in=OURS)}


def test_migrate_creates_our_schedules() -> None:
    # pytest-django migrated the test database: post_migrate already ran ensure_schedules.
    schedules = ours()
    assert set(schedules) == OURS
    assert schedules["providers.health_checks"].func == "providers.tasks.run_health_checks"
    assert schedules["providers.health_checks"].schedule_type == Schedule.MINUTES
    assert schedules["providers.config_backup"].schedule_type == Schedule.DAILY
    assert schedules["providers.catalog_sync"].schedule_type == Schedule.DAILY
    assert schedules["providers.catalog_sync"].func == "providers.tasks.sync_catalog"


def test_creating_schedules_again_never_duplicates_them() -> None:
    ensure_schedules()
    ensure_schedules()
    for name in OURS:
        assert Schedule.objects.filter(name=name).count() == 1


@pytest.mark.parametrize(("seconds", "minutes"), [(60, 1), (20, 1), (300, 5), (150, 2)])
def test_the_probe_interval_is_converted_to_whole_minutes(settings, seconds, minutes) -> None:
    settings.HEALTH_CHECK_INTERVAL_SECONDS = seconds
    ensure_schedules()
    assert ours()["providers.health_checks"].minutes == minutes


def test_disabling_health_checks_removes_their_schedule(settings) -> None:
    settings.HEALTH_CHECK_ENABLED = False
    ensure_schedules()
    assert "providers.health_checks" not in ours()
    settings.HEALTH_CHECK_ENABLED = True
    ensure_schedules()
    assert "providers.health_checks" in ours()


@pytest.fixture
def sync_mode(monkeypatch):  # type: ignore[no-untyped-def]
    """django-q2's documented test mode: tasks run in the caller, inside its transaction."""
    monkeypatch.setattr(Conf, "SYNC", True)


def run_due(name: str) -> None:
    """Make one schedule due, then let django-q2's own scheduler turn it into a task."""
    Schedule.objects.exclude(name=name).update(next_run=timezone.now() + timedelta(days=1))
    Schedule.objects.filter(name=name).update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())


def test_the_scheduler_runs_a_probe_that_updates_providers(
    sync_mode, upstream: FakeUpstream, settings, client
) -> None:
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 1
    good = Provider.objects.create(name="good", base_url=upstream.url("ok"), api_key=KEY)
    bad = Provider.objects.create(name="bad", base_url=upstream.url("broken"), api_key=KEY)

    run_due("providers.health_checks")

    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, good.last_tested_at is not None) == ("online", True)
    assert (bad.status, bad.consecutive_failures) == ("degraded", 1)
    task = Task.objects.get(group="providers.health_checks")
    assert task.success is True
    assert task.result == {"probed": 2, "online": 1, "failing": 1}
    assert KEY not in json.dumps(task.result)
    # the schedule moved on to its next run
    assert ours()["providers.health_checks"].next_run > timezone.now()
    # and /api/health now says the worker ran
    assert client.get("/api/health").json()["worker"]["last_seen"] is not None


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
