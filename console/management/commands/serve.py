"""Run the ASGI server and the django-q2 cluster as child processes.

Signals are forwarded to both; when either child dies the other is stopped and serve
exits non-zero, so a supervisor (Docker, systemd) restarts the whole instance.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STOP_GRACE_SECONDS = 10


def server_command(server: str, host: str, port: int, workers: int) -> list[str]:
    if server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "on",  # shutdown closes the upstream connections (config.asgi.lifespan)
            "--no-access-log",
            "--timeout-graceful-shutdown",
            str(STOP_GRACE_SECONDS),
        ]
    if workers != 1:
        raise CommandError("--server daphne runs one process; use uvicorn for --workers > 1")
    return [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"]


def start_child(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Each child leads its own process group, so what it spawned (qcluster's sentinel
    and workers) can be found again if the child itself dies. The terminal's Ctrl-C
    reaches serve alone, which forwards it once."""
    return subprocess.Popen(command, cwd=settings.BASE_DIR, process_group=0, env=env)


def server_env(server: str) -> dict[str, str]:
    """uvicorn workers leave daphne's app out (see ASGI_WORKER in config/settings.py)."""
    env = dict(os.environ)
    if server == "uvicorn":
        env["SWITCHBOARD_ASGI_WORKER"] = "1"
    return env


def kill_orphans(child: subprocess.Popen[bytes]) -> None:
    """A child killed outright leaves its own children running (a SIGKILLed qcluster
    leaves its workers behind); after a clean exit the group is already empty."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


class Command(BaseCommand):
    help = "Serve Switchboard: the ASGI server and the task worker, stopped together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
        parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY)
        parser.add_argument("--no-worker", action="store_true", help="do not start qcluster")

    def handle(self, *args: Any, **options: Any) -> None:
        self._warn_about_configuration(options["workers"])
        children = {
            "server": start_child(
                server_command(
                    options["server"], options["host"], options["port"], options["workers"]
                ),
                env=server_env(options["server"]),
            ),
        }
        if not options["no_worker"]:
            children["worker"] = start_child(
                [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
            )
        self.stdout.write(
            f"Switchboard on http://{options['host']}:{options['port']} "
            f"({options['server']}, {options['workers']} worker(s))"
        )
        stopping = {"signal": 0}

        def forward(signum: int, frame: Any) -> None:
            stopping["signal"] = signum

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        code = self._supervise(children, stopping)
        sys.exit(code)

    def _supervise(
        self, children: dict[str, subprocess.Popen[bytes]], stopping: dict[str, int]
    ) -> int:
        while True:
            if stopping["signal"]:
                self._stop_all(children, stopping["signal"])
                return 0
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with code {child.returncode}; stopping.")
                    self._stop_all(children, signal.SIGTERM)
                    return child.returncode or 1
            time.sleep(0.2)

    def _stop_all(self, children: dict[str, subprocess.Popen[bytes]], signum: int) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            kill_orphans(child)

    def _warn_about_configuration(self, workers: int) -> None:
        if not settings.REQUIRE_API_KEY:
            self.stderr.write(
                "WARNING: REQUIRE_API_KEY=false: /v1 accepts requests without a key. "
                "Only do this on a trusted network."
            )
        if workers > 1 and not settings.REDIS_URL:
            self.stderr.write(
                "WARNING: several web workers without REDIS_URL: round-robin and rate "
                "limits are per process, not exact."
            )
