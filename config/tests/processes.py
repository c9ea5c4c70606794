"""Run manage.py in a child process on a fresh DATA_DIR, as an operator (or the Docker
image) would: SQLite, generated secrets, nothing inherited from the test run.

`serve` (with `serve_template` bound to a module-level name) starts real `manage.py
serve` instances for tests of stopping, crashing, restoring and sharing state; see Serve.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.conf import settings

# Set by the surrounding test run (or by CI for the PostgreSQL pass); a child process
# must not migrate the suite's real PostgreSQL database or share its Redis db.
_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DEBUG",
    "ALLOWED_HOSTS",
    "ADMIN_PASSWORD",
    "ADMIN_USERNAME",
    "STATIC_ROOT",
    "DJANGO_SETTINGS_MODULE",  # config.settings_test would pick another DATA_DIR
)


def child_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    env["DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def manage(
    *args: str, data_dir: Path, timeout: float = 60, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """`python manage.py <args>` in BASE_DIR; the result, whatever the exit code."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=child_env(data_dir, **overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DATA_DIR migrated once per test module that binds this fixture to a module-level
    name; tests copy it (copy_data_dir) and never write into it."""
    data_dir = tmp_path_factory.mktemp("migrated-template")
    result = manage("migrate", "--noinput", data_dir=data_dir, timeout=180)
    assert result.returncode == 0, result.stderr
    return data_dir


def copy_data_dir(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


# --- a real `serve`, started and signalled as an operator would -----------------------

# Generous: a cold Django start on a loaded CI machine can take many seconds.
START_TIMEOUT = 60.0

# Python run in an instance by Instance.seed(): one OpenAI-compatible provider at the
# given URL, a route "chat" to it, and a gateway key, printed.
_SEED = """
from chat.models import ApiKey
from providers.models import Provider
from routing.models import Route, RouteNode
provider, _ = Provider.objects.update_or_create(
    name={name!r}, defaults=dict(kind="openai", base_url={url!r}, models=["echo"],
                                 api_key="sk-fake"))
route, _ = Route.objects.get_or_create(name={route!r})
route.nodes.all().delete()
RouteNode.objects.create(route=route, provider=provider)
print(ApiKey.issue("tests", scopes=["chat", "admin"])[1])
"""


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants_of(pid: int) -> list[int]:
    direct = children_of(pid)
    return direct + [grandchild for child in direct for grandchild in descendants_of(child)]


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Instance:
    """One running `manage.py serve` with its own DATA_DIR (and database)."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    env: dict[str, str]
    log: Path
    family: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`manage.py <args>` against this instance's data (another process of it)."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def shell(self, code: str) -> str:
        result = self.manage("shell", "-c", code)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def seed(self, upstream_url: str, name: str = "fake", route: str = "chat") -> str:
        """A provider at `upstream_url` behind route `route`; returns a gateway key."""
        return self.shell(_SEED.format(name=name, url=upstream_url, route=route)).split()[-1]

    def web_workers(self) -> list[int]:
        return [p for p in children_of(self.process.pid) if "lifecycle.web" in command_line(p)]

    def task_worker(self) -> int | None:
        for pid in children_of(self.process.pid):
            if "lifecycle.taskworker" in command_line(pid) and children_of(pid):
                return pid
        return None

    def wait_ready(self, timeout: float = START_TIMEOUT, task_worker: bool = True) -> None:
        """/ping answers (and the task worker runs its cluster)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited early ({self.process.returncode}):\n{self.output()}")
            if ping(self.url) and (not task_worker or self.task_worker()):
                self.family = sorted(set(self.family) | set(descendants_of(self.process.pid)))
                return
            time.sleep(0.1)
        pytest.fail(f"serve was not ready within {timeout} s:\n{self.output()}")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit within {timeout} s:\n{self.output()}")

    def kill_everything(self) -> None:
        """Whatever a failed test left behind: only processes this instance started."""
        family = set(self.family) | set(descendants_of(self.process.pid))
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in family:
            if alive(pid) and "python" in command_line(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def ping(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class ServeTemplate:
    """A migrated DATA_DIR, and under DATABASE_URL a migrated PostgreSQL database that
    each instance's own database is created from."""

    data_dir: Path
    database_url: str = ""


def _postgres(url: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def create_database(template: ServeTemplate, name: str) -> str:
    with _postgres(template.database_url) as db:
        source = urlsplit(template.database_url).path[1:]
        db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return _with_database(template.database_url, name)


def drop_database(url: str) -> None:
    with _postgres(url) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')


@pytest.fixture(scope="module")
def serve_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeTemplate]:
    """Bind to a module-level name to use `serve` in a test module."""
    data_dir = tmp_path_factory.mktemp("serve-template")
    template = ServeTemplate(data_dir)
    suite_db = os.environ.get("DATABASE_URL", "")
    if suite_db.startswith("postgres"):
        name = f"{urlsplit(suite_db).path[1:] or 'switchboard'}_serve_{uuid.uuid4().hex[:8]}"
        template.database_url = _with_database(suite_db, name)
        with _postgres(suite_db) as db:
            db.execute(f'CREATE DATABASE "{name}"')
    try:
        extra = {"DATABASE_URL": template.database_url} if template.database_url else {}
        result = manage("migrate", "--noinput", data_dir=data_dir, timeout=240, **extra)
        assert result.returncode == 0, result.stderr
        yield template
    finally:
        if template.database_url:
            drop_database(template.database_url)


class Serve:
    """Starts `manage.py serve` instances: `serve()` on a free port with a fresh copy of
    the template's DATA_DIR and database; `serve(database_url=other.env["DATABASE_URL"])`
    for a second instance on the first one's database; env overrides as keywords
    (`serve(SHUTDOWN_GRACE_SECONDS="2", REDIS_URL=...)`)."""

    def __init__(self, template: ServeTemplate, tmp_path: Path) -> None:
        self.template = template
        self.tmp_path = tmp_path
        self.instances: list[Instance] = []
        self.databases: list[str] = []

    def __call__(
        self,
        *args: str,
        database_url: str | None = None,
        wait: bool = True,
        **env: str,
    ) -> Instance:
        number = len(self.instances) + 1
        data_dir = copy_data_dir(self.template.data_dir, self.tmp_path / f"serve-{number}")
        if database_url is None and self.template.database_url:
            name = f"{urlsplit(self.template.database_url).path[1:]}_{number}"
            database_url = create_database(self.template, name)
            self.databases.append(database_url)
        if database_url:
            env["DATABASE_URL"] = database_url
        instance_env = child_env(data_dir, **env)
        port = free_port()
        log = self.tmp_path / f"serve-{number}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(port), *args],
                cwd=settings.BASE_DIR,
                env=instance_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        instance = Instance(process, port, data_dir, instance_env, log)
        self.instances.append(instance)
        if wait:
            instance.wait_ready(task_worker="--no-worker" not in args)
        return instance

    def close(self) -> None:
        for instance in self.instances:
            instance.kill_everything()
        for url in self.databases:
            drop_database(url)


@pytest.fixture
def serve(serve_template: ServeTemplate, tmp_path: Path) -> Iterator[Serve]:
    starter = Serve(serve_template, tmp_path)
    try:
        yield starter
    finally:
        starter.close()
