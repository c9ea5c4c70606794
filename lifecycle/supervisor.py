"""`manage.py serve`: start the web workers and the task worker, keep them running, stop
them together. Standard library only (no Django), so this process stays small.

- The listening socket is bound here and handed to each web worker, so a restarted
  worker serves on the same port at once and two workers share it.
- A child that dies is started again after a backoff of at most 2 s; after MAX_DEATHS
  deaths within DEATH_WINDOW_SECONDS serve stops everything and exits 1, for the
  container's restart policy or systemd to act on. A child that exits with EXIT_CONFIG
  (bad configuration) stops serve at once: restarting would not help.
- SIGTERM / SIGINT is forwarded once to every child; each web worker drains for
  SHUTDOWN_GRACE_SECONDS (lifecycle.web). Exit 0 only when every child stopped cleanly.
- Children die with serve, SIGKILL included (lifecycle.parent).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from lifecycle import parent

BASE_DIR = Path(__file__).resolve().parent.parent
EXIT_CONFIG = 78  # from a child: bad configuration (lifecycle.web)
EXIT_BAD_CONFIG = 2  # serve's own: bad configuration, or the port is taken
MAX_DEATHS = 5
DEATH_WINDOW_SECONDS = 60.0
BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0)
# After the grace: interrupted streams end, cancelled requests record, usage rows are
# written (lifecycle.web) — then serve stops waiting.
STOP_MARGIN_SECONDS = 10.0
TICK_SECONDS = 0.1


class ConfigurationError(Exception):
    """serve cannot start as configured; the message says what to change."""


@dataclass
class Settings:
    """The few settings serve needs, read as config.settings reads them (environment,
    then .env) without importing Django."""

    workers: int
    redis_url: str
    grace: float
    require_api_key: bool

    @classmethod
    def load(cls, workers: int | None) -> Settings:
        values = {**dotenv(BASE_DIR / ".env"), **os.environ}
        try:
            count = workers if workers is not None else int(values.get("WEB_CONCURRENCY", "1"))
            grace = float(values.get("SHUTDOWN_GRACE_SECONDS", "30"))
        except ValueError as exc:
            raise ConfigurationError(f"WEB_CONCURRENCY / SHUTDOWN_GRACE_SECONDS: {exc}") from exc
        return cls(
            workers=count,
            redis_url=values.get("REDIS_URL", ""),
            grace=grace,
            require_api_key=values.get("REQUIRE_API_KEY", "true").lower()
            not in ("false", "0", "no", "off"),
        )

    def check(self) -> None:
        if self.workers < 1:
            raise ConfigurationError(
                f"--workers / WEB_CONCURRENCY must be at least 1, not {self.workers}."
            )
        if self.workers > 1 and not self.redis_url:
            raise ConfigurationError(
                f"{self.workers} web workers need REDIS_URL: without Redis, rate limits, "
                "budgets and round-robin are exact only within one web worker. Set "
                "REDIS_URL, or run one worker (WEB_CONCURRENCY=1)."
            )


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror}. Is another Switchboard "
            "running there? Choose another with --port (or PORT for make run)."
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    deaths: collections.deque[float] = field(default_factory=collections.deque)
    restart_at: float | None = None
    starts: int = 0

    def start(self) -> None:
        env = dict(self.env)
        if self.starts:
            env.pop("SWITCHBOARD_RUN_CHECKS", None)  # once per serve, not per restart
        # Each child leads its own process group, so what it spawned (qcluster's sentinel
        # and workers) can be found again; the terminal's Ctrl-C reaches serve alone,
        # which forwards it once.
        self.process = subprocess.Popen(
            self.command,
            cwd=BASE_DIR,
            env=env,
            pass_fds=self.pass_fds,
            process_group=0,
            preexec_fn=parent.signal_on_parent_death,
        )
        self.starts += 1
        self.restart_at = None

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def died(self, now: float) -> int:
        """Count a death and schedule the restart; returns deaths within the window."""
        self.deaths.append(now)
        while self.deaths and self.deaths[0] < now - DEATH_WINDOW_SECONDS:
            self.deaths.popleft()
        delay = BACKOFF_SECONDS[min(len(self.deaths), len(BACKOFF_SECONDS)) - 1]
        self.restart_at = now + delay
        self.kill_group()
        self.process = None
        return len(self.deaths)

    def kill_group(self) -> None:
        """A child killed outright leaves its own children running (a SIGKILLed qcluster
        leaves its workers); after a clean exit the group is already empty."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


def web_command(server: str, fd: int) -> list[str]:
    if server == "daphne":  # no drain: daphne has no lifespan and no grace of ours
        return [sys.executable, "-m", "daphne", "--fd", str(fd), "config.asgi:application"]
    return [sys.executable, "-m", "lifecycle.web", "--fd", str(fd)]


def children(options: argparse.Namespace, config: Settings, sock: socket.socket) -> list[Child]:
    env = {**os.environ, parent.SUPERVISOR_PID: str(os.getpid()), "PYTHONUNBUFFERED": "1"}
    web_env = {**env, "SWITCHBOARD_ASGI_WORKER": "1"}
    fd = sock.fileno()
    found = [
        Child(
            f"web worker {n}",
            web_command(options.server, fd),
            {**web_env, "SWITCHBOARD_RUN_CHECKS": "1"} if n == 1 else web_env,
            pass_fds=(fd,),
        )
        for n in range(1, config.workers + 1)
    ]
    if not options.no_worker:
        found.append(Child("task worker", [sys.executable, "-m", "lifecycle.taskworker"], env))
    return found


class Supervisor:
    def __init__(self, family: list[Child], sock: socket.socket, grace: float) -> None:
        self.family = family
        self.sock = sock
        self.grace = grace
        self.signals: list[int] = []

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        for child in self.family:
            child.start()
        while not self.signals:
            failure = self.tend(time.monotonic())
            if failure is not None:
                self.stop(signal.SIGTERM)
                return failure
            time.sleep(TICK_SECONDS)
        return self.stop(self.signals[0])

    def tend(self, now: float) -> int | None:
        """Restart what died; an exit code when serve must give up instead."""
        for child in self.family:
            code = child.exited()
            if code is not None:
                if code == EXIT_CONFIG:
                    say(f"{child.name} refused to start (configuration); stopping.")
                    return EXIT_BAD_CONFIG
                deaths = child.died(now)
                if deaths >= MAX_DEATHS:
                    say(f"{child.name} died {deaths} times within a minute; stopping.")
                    return 1
                say(f"{child.name} exited with code {code}; restarting it.")
            elif child.restart_at is not None and now >= child.restart_at:
                child.start()
        return None

    def stop(self, signum: int) -> int:
        """Forward the stop to every child, wait for them, and say how it went."""
        self.sock.close()  # the children's copies close as they stop accepting
        forwarded = 1
        for child in self.family:
            if child.alive():
                child.process.send_signal(signum)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.grace + STOP_MARGIN_SECONDS
        while any(child.alive() for child in self.family) and time.monotonic() < deadline:
            if len(self.signals) > forwarded:  # a second Ctrl-C: pass it on (no grace)
                forwarded = len(self.signals)
                for child in self.family:
                    if child.alive():
                        child.process.send_signal(self.signals[-1])  # type: ignore[union-attr]
            time.sleep(TICK_SECONDS)
        clean = True
        for child in self.family:
            if child.alive():
                say(f"{child.name} did not stop in time; killing it.")
                child.process.kill()  # type: ignore[union-attr]
                child.process.wait()  # type: ignore[union-attr]
            if child.process is not None and child.process.returncode != 0:
                say(f"{child.name} stopped with code {child.process.returncode}.")
                clean = False
            child.kill_group()
        return 0 if clean else 1


def say(message: str) -> None:
    sys.stderr.write(f"serve: {message}\n")
    sys.stderr.flush()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="manage.py serve",
        description="Serve Switchboard: web workers and the task worker, supervised.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=None, help="default: WEB_CONCURRENCY")
    parser.add_argument("--no-worker", action="store_true", help="do not start the task worker")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    try:
        config = Settings.load(options.workers)
        config.check()
        if options.server == "daphne" and config.workers != 1:
            raise ConfigurationError(
                "--server daphne runs one process; use uvicorn for --workers > 1."
            )
        sock = listen(options.host, options.port)
    except ConfigurationError as exc:
        say(str(exc))
        return EXIT_BAD_CONFIG
    if not config.require_api_key:
        say(
            "WARNING: REQUIRE_API_KEY=false: /v1 accepts requests without a key. Only do "
            "this on a trusted network."
        )
    family = children(options, config, sock)
    say(
        f"Switchboard on http://{options.host}:{options.port} ({options.server}, "
        f"{config.workers} web worker(s){'' if options.no_worker else ', task worker'}); "
        f"a stop waits up to {config.grace:g} s for requests in flight."
    )
    return Supervisor(family, sock, config.grace).run()


if __name__ == "__main__":
    sys.exit(main())
