"""/ping (liveness), /api/health (database and worker) and the OpenAPI docs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django_q.tasks import async_task

from config.tests.processes import manage

ASK_HEALTH = textwrap.dedent(
    """
    import json
    from django.test import Client
    client = Client()
    for path in ("/ping", "/api/health"):
        response = client.get(path)
        answer = {"path": path, "status": response.status_code, "body": response.json()}
        print("ANSWER", json.dumps(answer))
    """
)


def answers_in(stdout: str) -> dict[str, dict[str, Any]]:
    """The ANSWER lines of ASK_HEALTH by path (log lines share the same stdout)."""
    found = [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("ANSWER ")]
    return {answer["path"]: answer for answer in found}


def test_ping_answers_without_the_database(client: Client) -> None:
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_health_reports_the_database_without_credentials(client: Client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["worker"] == {"last_seen": None}
    assert body["version"]


@pytest.mark.django_db
def test_health_reports_when_the_worker_last_ran(client: Client) -> None:
    async_task("console.tasks.heartbeat", sync=True)
    last_seen = client.get("/api/health").json()["worker"]["last_seen"]
    assert last_seen is not None


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    result = manage(
        "shell",
        "-c",
        ASK_HEALTH,
        data_dir=tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/db.sqlite3",
        ALLOWED_HOSTS="testserver",
    )
    assert result.returncode == 0, result.stderr
    answers = answers_in(result.stdout)
    assert answers["/ping"]["status"] == 200  # liveness does not depend on the database
    health = answers["/api/health"]
    assert health["status"] == 503
    assert health["body"]["status"] == "unavailable"
    assert health["body"]["database"]["ok"] is False
    assert "Traceback" not in json.dumps(health["body"])


@pytest.mark.django_db
def test_the_docs_render_without_a_cdn(client: Client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger" in html.lower()
    assert "cdn.jsdelivr.net" not in html  # works on an offline network
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.mark.django_db
def test_the_openapi_schema_lists_the_management_api(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    assert "/api/providers" in schema["paths"]
    assert "/api/health" in schema["paths"]
