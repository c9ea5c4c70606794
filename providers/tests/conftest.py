"""Fixtures for the providers app: a real upstream on 127.0.0.1 and fast health settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.tests.fake_upstream import FakeUpstream


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def fast_health(settings):  # type: ignore[no-untyped-def]
    """Probes give up after 0.3 s and three failures open the circuit."""
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.3
    settings.HEALTH_CHECK_FAILURE_THRESHOLD = 3
    return settings
