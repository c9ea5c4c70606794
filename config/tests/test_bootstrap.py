"""The Docker image, proved without a Docker engine: the commands it runs at build and at
start work on a fresh DATA_DIR, and the Dockerfile and compose file say what they must."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from config.tests.processes import manage

DOCKERFILE = Path(settings.BASE_DIR) / "Dockerfile"
COMPOSE = Path(settings.BASE_DIR) / "docker-compose.yml"
DOCKERIGNORE = Path(settings.BASE_DIR) / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def arguments(instruction: str) -> list[str]:
    return [args for name, args in instructions() if name == instruction]


def manage_commands() -> list[list[str]]:
    """Every `python manage.py ...` the image runs in a shell (build steps, entrypoint)."""
    shell_text = " ".join(arguments("RUN") + arguments("ENTRYPOINT"))
    return [found.split() for found in re.findall(r"python manage\.py ([^&\"\\]+)", shell_text)]


def test_the_image_serves_on_all_interfaces() -> None:
    (cmd,) = arguments("CMD")
    assert json.loads(cmd) == ["python", "manage.py", "serve", "--host", "0.0.0.0"]


def test_the_health_check_asks_for_ping() -> None:
    (check,) = arguments("HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "/ping" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")  # slim has no curl; this must be valid Python


def test_the_image_is_slim_locked_unprivileged_and_keeps_data_in_a_volume() -> None:
    assert arguments("FROM") == ["python:3.11-slim"]
    assert any("uv sync --frozen --no-dev" in run for run in arguments("RUN"))
    (user,) = arguments("USER")
    assert user not in ("root", "0")
    assert json.loads(arguments("VOLUME")[0]) == ["/data"]
    assert any("DATA_DIR=/data" in env for env in arguments("ENV"))
    assert arguments("EXPOSE") == ["8000"]


def test_the_build_context_leaves_secrets_and_data_out() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())
    assert {".env", "data", ".venv", ".git"} <= ignored


def test_the_image_commands_work_on_a_fresh_data_dir(tmp_path: Path) -> None:
    commands = manage_commands()
    assert [c[0] for c in commands] == ["collectstatic", "migrate", "ensure_admin"]
    build, runtime = commands[:1], commands[1:]
    static_root = tmp_path / "static"

    for command in build:
        result = manage(
            *command, data_dir=tmp_path / "build-data", STATIC_ROOT=str(static_root), timeout=180
        )
        assert result.returncode == 0, result.stderr
    assert (static_root / "admin" / "css" / "base.css").exists()
    assert (static_root / "ninja" / "swagger-ui-bundle.js").exists()  # /api/docs offline

    data_dir = tmp_path / "data"
    outputs = []
    for command in [*runtime, ["check"]]:
        result = manage(*command, data_dir=data_dir, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        outputs.append(result.stdout)
    assert (data_dir / "db.sqlite3").exists()
    assert "with password:" in outputs[1]  # the first admin, announced once in the log


def test_compose_runs_the_app_alone_by_default() -> None:
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    default = [name for name, service in services.items() if not service.get("profiles")]
    assert default == ["switchboard"]
    app = services["switchboard"]
    assert any(volume.endswith(":/data") for volume in app["volumes"])
    assert "DATABASE_URL" not in app.get("environment", {})


def test_compose_adds_postgresql_and_redis_under_the_scale_profile() -> None:
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("switchboard-scale", "postgres", "redis"):
        assert services[name]["profiles"] == ["scale"]
    scaled = services["switchboard-scale"]
    assert scaled["environment"]["DATABASE_URL"].startswith("postgres://")
    assert scaled["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert set(scaled["depends_on"]) == {"postgres", "redis"}
    assert scaled["ports"] != services["switchboard"]["ports"]  # both may run at once
