"""manage.py serve, started for real: the ASGI server and the task worker as children,
stopped together on a signal, and a failure exit when either child dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from config.tests import processes
from config.tests.processes import child_env, copy_data_dir, free_port

# A fixture: a DATA_DIR migrated once for this module's tests.
migrated_template = processes.migrated_template

# Generous: a cold Django start on a loaded CI machine can take many seconds.
START_TIMEOUT = 45.0
STOP_TIMEOUT = 15.0


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


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
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def wait_for_ping(serving: Serving) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if serving.process.poll() is not None:
            pytest.fail(f"serve exited early ({serving.process.returncode}):\n{serving.output()}")
        try:
            if httpx.get(f"http://127.0.0.1:{serving.port}/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/ping did not answer within {START_TIMEOUT} s:\n{serving.output()}")


def wait_for_worker(serving: Serving) -> int:
    """The qcluster child, once it has started its own processes."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for child in children_of(serving.process.pid):
            if "qcluster" in command_line(child) and children_of(child):
                return child
        time.sleep(0.2)
    pytest.fail(f"no running qcluster child:\n{serving.output()}")


@pytest.fixture
def serving(migrated_template: Path, tmp_path: Path) -> Iterator[Serving]:
    data_dir = copy_data_dir(migrated_template, tmp_path / "data")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=settings.BASE_DIR,
            env=child_env(data_dir),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Serving(process, port, log)
    family: list[int] = []
    try:
        wait_for_ping(running)
        wait_for_worker(running)
        family = descendants_of(process.pid)
        yield running
    finally:
        # Whatever a failed assertion left behind: only processes this test started.
        family += descendants_of(process.pid)
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in family:
            if alive(pid):
                subprocess.run(["kill", "-9", str(pid)], check=False)


def test_sigterm_stops_both_children_and_exits_zero(serving: Serving) -> None:
    family = descendants_of(serving.process.pid)
    commands = " ".join(command_line(pid) for pid in children_of(serving.process.pid))
    assert "uvicorn" in commands and "qcluster" in commands

    serving.process.send_signal(signal.SIGTERM)

    assert serving.process.wait(timeout=STOP_TIMEOUT) == 0, serving.output()
    assert [pid for pid in family if alive(pid)] == []


def test_a_dead_worker_stops_serve_with_a_failure(serving: Serving) -> None:
    family = descendants_of(serving.process.pid)
    worker = wait_for_worker(serving)

    subprocess.run(["kill", "-9", str(worker)], check=True)

    code = serving.process.wait(timeout=STOP_TIMEOUT)
    assert code != 0, serving.output()
    assert "worker exited" in serving.output()
    # The server is stopped too, and nothing the worker spawned is left running.
    assert [pid for pid in family if alive(pid)] == []
