"""schemathesis over /api/openapi.json with an admin key: no input is a server error.

Bounded for CI: a few derandomized examples per operation (the same inputs every run, so
a failure reproduces), run through the WSGI application against the test database.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from config.wsgi import application

# Loaded at collection: /api/openapi.json reads no database.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
# A backup and a restore take the whole database, which a test transaction holds; they
# have tests of their own against real files (console/tests/test_backup.py, test_restore.py).
NEEDS_WHOLE_DATABASE = {"GET /api/admin/backup", "POST /api/admin/restore"}
OPERATIONS = [
    operation
    for operation in (result.ok() for result in schema.get_all_operations())
    if operation.label not in NEEDS_WHOLE_DATABASE
]


@pytest.fixture(autouse=True)
def _test_connection_kept() -> Any:
    """Calls go straight to the WSGI app, whose request signals would close the test's
    database connection (inside a test transaction); Django's own test client detaches
    the same receiver."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_input_is_a_server_error(operation: Any, admin_key: str) -> None:
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def no_server_error(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {admin_key}"})
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300} → "
            f"{response.status_code} {response.text[:300]}"
        )

    no_server_error()
