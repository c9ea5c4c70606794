"""Real Switchboard instances for cross-process tests.

A `Deployment` is one database — SQLite in a DATA_DIR copied from a migrated template,
or, when the suite runs with DATABASE_URL, a PostgreSQL database of its own created here
and dropped afterwards — plus the REDIS_URL the suite runs with. `start()` runs
`manage.py serve` on a free port against it (as many instances as a test wants, sharing
the database, the Redis and the secrets); `python()` runs code in a `manage.py shell`
child, as an operator would. Every process is killed at the end, whatever happened.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.fernet import Fernet
from django.conf import settings

from config.tests.processes import child_env, copy_data_dir, free_port

START_TIMEOUT = 60.0


@dataclass
class Instance:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer within {START_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _postgres_admin_url(database_url: str, name: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Deployment:
    root: Path
    template: Path | None = None
    database_url: str = ""
    redis_url: str = ""
    instances: list[Instance] = field(default_factory=list)
    secrets_env: dict[str, str] = field(default_factory=dict)
    _database: str = ""

    def __post_init__(self) -> None:
        self.secrets_env = {
            "SECRET_KEY": secrets.token_urlsafe(40),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
        if self.redis_url:
            self.secrets_env["REDIS_URL"] = self.redis_url
        data = self.data_dir()
        if self.database_url:
            template = _migrated_postgres_template(self.database_url, self.root)
            self._database = f"sb_{uuid.uuid4().hex[:12]}"
            self._psql(f'CREATE DATABASE "{self._database}" TEMPLATE "{template}"')
            self.secrets_env["DATABASE_URL"] = _postgres_admin_url(
                self.database_url, self._database
            )
            data.mkdir(parents=True, exist_ok=True)
            # A copy of the template carries its namespace: give this database its own.
            self.python("from coordination import changes; changes.renew_namespace()")
        elif self.template is not None:
            copy_data_dir(self.template, data)
        else:
            data.mkdir(parents=True, exist_ok=True)
            done = self.manage("migrate", "--noinput", timeout=300)
            assert done.returncode == 0, done.stderr

    def data_dir(self, index: int = 0) -> Path:
        # SQLite instances share one DATA_DIR (the database file lives there).
        return self.root / ("data" if not self.database_url or index == 0 else f"data{index}")

    def env(self, index: int = 0, **overrides: str) -> dict[str, str]:
        data = self.data_dir(index)
        data.mkdir(parents=True, exist_ok=True)
        return child_env(data, **self.secrets_env, **overrides)

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def python(self, code: str) -> str:
        """Run `code` in a `manage.py shell` child; its stdout, stripped."""
        done = self.manage("shell", "--no-imports", "-c", code)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        return done.stdout.strip()

    def start(self, *args: str, **overrides: str) -> Instance:
        index = len(self.instances)
        port = free_port()
        log = self.root / f"serve-{index}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(port), *args],
                cwd=settings.BASE_DIR,
                env=self.env(index, **overrides),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        instance = Instance(process, port, log)
        self.instances.append(instance)
        instance.wait_ready()
        return instance

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
            if instance.process.poll() is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(instance.process.pid, 9)  # whatever its children left behind
        if self._database:
            self._psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{self._database}' AND pid <> pg_backend_pid()"
            )
            self._psql(f'DROP DATABASE IF EXISTS "{self._database}"')

    def _psql(self, statement: str) -> None:
        _psql(self.database_url, statement)


def _psql(database_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(statement)


_templates: dict[str, str] = {}


def _migrated_postgres_template(database_url: str, scratch: Path) -> str:
    """A PostgreSQL database migrated once per test run; each deployment is a copy of
    it (CREATE DATABASE ... TEMPLATE: a second instead of a migrate). Dropped at exit."""
    found = _templates.get(database_url)
    if found:
        return found
    name = f"sb_template_{uuid.uuid4().hex[:8]}"
    _psql(database_url, f'CREATE DATABASE "{name}"')
    atexit.register(_psql, database_url, f'DROP DATABASE IF EXISTS "{name}"')
    env = child_env(scratch / "template", DATABASE_URL=_postgres_admin_url(database_url, name))
    (scratch / "template").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    _templates[database_url] = name
    return name


def deployment_for_suite(root: Path, template: Path | None) -> Deployment:
    """SQLite unless the suite runs on PostgreSQL (then a database of its own)."""
    return Deployment(
        root,
        template=template,
        database_url=os.environ.get("DATABASE_URL", ""),
        redis_url=os.environ.get("REDIS_URL", ""),
    )
