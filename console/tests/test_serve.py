"""manage.py serve, started for real and sent real signals (DESIGN.md "Lifecycle"):
a stop drains and loses no usage row, children never outlive serve, a dead child is
restarted, and a worker that keeps dying stops serve with a failure."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from chat.tests.upstreams import FakeOpenAI
from config.tests import processes
from config.tests.processes import (
    Instance,
    Serve,
    alive,
    children_of,
    command_line,
    descendants_of,
    ping,
)
from usage import spill
from usage.recording import Draft

# Fixtures: a migrated DATA_DIR (and database) for this module, and the serve starter.
serve_template = processes.serve_template
serve = processes.serve

STOP_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: FakeOpenAI) -> None:
    upstream.reset()


def chat(instance: Instance, key: str, rid: str, model: str = "chat") -> httpx.Response:
    return httpx.post(
        f"{instance.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}", "x-request-id": rid},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )


def usage_rows(instance: Instance) -> dict[str, tuple[str, str]]:
    """request id -> (status, error code) of every usage row the instance wrote."""
    out = instance.shell(
        "import json; from usage.models import UsageLog; print(json.dumps("
        "{r: [s, c] for r, s, c in UsageLog.objects.values_list("
        "'request_id', 'status', 'error_code')}))"
    )
    return {rid: (s, c) for rid, (s, c) in json.loads(out.splitlines()[-1]).items()}


def test_sigterm_stops_every_child_and_exits_zero(serve: Serve) -> None:
    instance = serve()
    family = descendants_of(instance.process.pid)
    commands = " ".join(command_line(pid) for pid in children_of(instance.process.pid))
    assert "lifecycle.web" in commands and "lifecycle.taskworker" in commands

    instance.process.send_signal(signal.SIGTERM)

    assert instance.wait(STOP_TIMEOUT) == 0, instance.output()
    assert [pid for pid in family if alive(pid)] == []


def test_a_start_says_each_warning_once_and_no_status_lines(serve: Serve) -> None:
    instance = serve()
    instance.process.send_signal(signal.SIGTERM)
    instance.wait(STOP_TIMEOUT)
    output = instance.output()

    assert output.count("Switchboard on http://127.0.0.1") == 1
    assert output.count("providers.W001") <= 1
    assert "[Q] INFO" not in output and '"logger": "django-q"' not in output
    assert "No directory at" not in output


def test_serve_refuses_several_web_workers_without_redis(tmp_path: Path) -> None:
    result = processes.manage("serve", "--workers", "2", data_dir=tmp_path, timeout=30)

    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


def test_sigterm_during_fast_requests_writes_a_row_for_every_answer(
    serve: Serve, upstream: FakeOpenAI
) -> None:
    instance = serve()
    key = instance.seed(upstream.base_url)
    answered: list[str] = []
    started = threading.Event()

    def one(n: int) -> None:
        rid = f"fast-{n}-{uuid.uuid4().hex[:8]}"
        try:
            if chat(instance, key, rid).status_code == 200:
                answered.append(rid)
        except httpx.TransportError:
            return  # refused or reset once the stop began: no answer, no promise
        if len(answered) >= 40:
            started.set()

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(one, n) for n in range(200)]
        assert started.wait(60), instance.output()
        instance.process.send_signal(signal.SIGTERM)
        for future in futures:
            future.result()

    assert instance.wait(STOP_TIMEOUT) == 0, instance.output()
    rows = usage_rows(instance)
    assert len(answered) >= 40
    assert [rid for rid in answered if rid not in rows] == []


def read_stream(instance: Instance, key: str, rid: str, opened: threading.Barrier) -> str:
    """The whole body of one streaming request, as the client saw it."""
    body = []
    with httpx.stream(
        "POST",
        f"{instance.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}", "x-request-id": rid},
        json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        for n, text in enumerate(response.iter_text()):
            body.append(text)
            if n == 0:
                opened.wait(30)
    return "".join(body)


def test_sigterm_during_long_streams_ends_each_with_an_error_event_and_a_row(
    serve: Serve, upstream: FakeOpenAI
) -> None:
    grace = 2.0
    instance = serve(SHUTDOWN_GRACE_SECONDS=str(grace))
    key = instance.seed(upstream.base_url)
    streams = 5
    for _ in range(streams):  # 60 s each, unless ended
        upstream.stream([f"word{n} " for n in range(120)], delay_between=0.5)
    opened = threading.Barrier(streams + 1)
    rids = [f"long-{n}" for n in range(streams)]

    with ThreadPoolExecutor(max_workers=streams) as pool:
        bodies = [pool.submit(read_stream, instance, key, rid, opened) for rid in rids]
        opened.wait(30)
        stopped_at = time.monotonic()
        instance.process.send_signal(signal.SIGTERM)
        assert instance.wait(grace + 5) == 0, instance.output()
        took = time.monotonic() - stopped_at
        results = [future.result(timeout=10) for future in bodies]

    assert took < grace + 5
    for body in results:
        events = [line for line in body.splitlines() if line.startswith("data: ")]
        assert events[-1].startswith('data: {"error"'), body[-300:]
        assert json.loads(events[-1][6:])["error"]["code"] == "server_shutting_down"
        assert "[DONE]" not in body
        assert sum('"error"' in event for event in events) == 1
    rows = usage_rows(instance)
    assert {rid: rows.get(rid) for rid in rids} == dict.fromkeys(
        rids, ("cancelled", "server_shutting_down")
    )


def test_children_die_with_serve_even_by_sigkill_and_the_port_is_free(serve: Serve) -> None:
    instance = serve()
    family = descendants_of(instance.process.pid)
    assert len(family) >= 3  # web worker, task worker and its cluster

    instance.process.kill()
    instance.process.wait()

    deadline = time.monotonic() + 3
    while [pid for pid in family if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [command_line(pid) for pid in family if alive(pid)] == []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", instance.port))


def test_a_killed_web_worker_is_restarted_and_no_answered_row_is_lost(
    serve: Serve, upstream: FakeOpenAI
) -> None:
    instance = serve()
    key = instance.seed(upstream.base_url)
    answered = [f"before-{n}" for n in range(20)]
    for rid in answered:
        assert chat(instance, key, rid).status_code == 200
    (worker,) = instance.web_workers()

    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()
    while instance.web_workers() in ([], [worker]):
        # serve's part: notice the death (0.1 s) and start the next one (0.1 s backoff);
        # the margin is for a loaded machine, where the check itself can lag.
        assert time.monotonic() - killed_at < 5, instance.output()
        time.sleep(0.02)
    # The new worker's part is a Django start: about 2 s on an idle machine, more on a
    # loaded one (the port stays open meanwhile: requests wait instead of failing).
    while not ping(instance.url):
        assert time.monotonic() - killed_at < processes.START_TIMEOUT, instance.output()
        time.sleep(0.05)

    assert "web worker 1 exited with code -9; restarting it" in instance.output()
    # The writer flushes every 0.2 s: rows of answers sent well before the kill are in.
    rows = usage_rows(instance)
    assert [rid for rid in answered if rid not in rows] == []


def test_a_dead_task_worker_is_restarted(serve: Serve) -> None:
    instance = serve()
    worker = instance.task_worker()
    assert worker is not None

    os.kill(worker, signal.SIGKILL)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        restarted = instance.task_worker()
        if restarted not in (None, worker):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the task worker was not restarted:\n{instance.output()}")
    assert instance.process.poll() is None


def test_a_web_worker_that_keeps_dying_stops_serve_with_a_failure(serve: Serve) -> None:
    instance = serve("--no-worker")
    killed: set[int] = set()
    deadline = time.monotonic() + 60
    while instance.process.poll() is None and time.monotonic() < deadline:
        for pid in instance.web_workers():
            if pid not in killed and alive(pid):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.05)

    assert instance.wait(10) == 1, instance.output()
    assert len(killed) == 5
    assert "died 5 times within a minute" in instance.output()


def test_usage_spilled_by_an_earlier_process_is_written_at_start(
    serve: Serve, settings: pytest.FixtureRequest
) -> None:
    instance = serve("--no-worker", wait=False)
    # Written as the usage writer does when the database stays down (usage.spill).
    folder = instance.data_dir / "usage-spill"
    folder.mkdir(mode=0o700)
    staged = [Draft(request_id=f"spilled-{n}", model="m", status="ok") for n in range(3)]
    settings.DATA_DIR = instance.data_dir  # type: ignore[attr-defined]
    spill.save(staged)
    instance.wait_ready(task_worker=False)

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = usage_rows(instance)
        if all(f"spilled-{n}" in rows for n in range(3)):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"spilled rows not replayed:\n{instance.output()}")
    assert [p.name for p in folder.iterdir() if p.suffix == spill.SUFFIX] == []


def test_the_supervisor_stays_small(serve: Serve) -> None:
    """It imports no Django (85 MB unique when it did)."""
    instance = serve("--no-worker")
    smaps = Path(f"/proc/{instance.process.pid}/smaps_rollup").read_text()
    unique_kb = sum(
        int(line.split()[1]) for line in smaps.splitlines() if line.startswith("Private_")
    )
    assert unique_kb < 30_000, smaps


def safety_backup_request_ids(instance: Instance) -> set[str]:
    (backup,) = (instance.data_dir / "backups").glob("console_backup_before_restore_*")
    if backup.suffix == ".db":
        with closing(sqlite3.connect(backup)) as db:
            return {rid for (rid,) in db.execute("SELECT request_id FROM usage_usagelog")}
    objects = json.loads(backup.read_text())["objects"]
    return {o["fields"]["request_id"] for o in objects if o["model"] == "usage.usagelog"}


def restore(instance: Instance, backup: Path, key: str, how: str) -> None:
    """As an operator would: `manage.py restore`, or an upload to the management API."""
    if how == "cli":
        result = instance.manage("restore", str(backup))
        assert result.returncode == 0, result.stderr + instance.output()
        return
    with backup.open("rb") as upload:
        response = httpx.post(
            f"{instance.url}/api/admin/restore",
            headers={"authorization": f"Bearer {key}"},
            files={"file": (backup.name, upload)},
            timeout=60,
        )
    assert response.status_code == 200, response.text + instance.output()


@pytest.mark.parametrize("how", ["cli", "api"])
def test_a_restore_during_traffic_keeps_every_row_and_serves_the_restored_routes(
    serve: Serve, upstream: FakeOpenAI, how: str
) -> None:
    instance = serve(SHUTDOWN_GRACE_SECONDS="5")
    key = instance.seed(upstream.base_url, route="chat")
    instance.seed(upstream.base_url, name="fake", route="kept")
    made = instance.manage("backup")
    assert made.returncode == 0, made.stderr
    (backup,) = (instance.data_dir / "backups").glob("console_backup_*")
    # After the backup: "kept" goes, "added" comes; the restore brings the old ones back.
    instance.shell("from routing.models import Route; Route.objects.filter(name='kept').delete()")
    instance.seed(upstream.base_url, name="fake", route="added")

    answered: list[tuple[str, float]] = []  # request id, when its answer was complete
    refused: list[int] = []
    stop = threading.Event()

    def traffic(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            rid = f"t{worker}-{n}"
            try:
                response = chat(instance, key, rid)
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                answered.append((rid, time.monotonic()))
            else:
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "maintenance"
                assert int(response.headers["retry-after"]) >= 1
                refused.append(worker)

    with ThreadPoolExecutor(max_workers=4) as pool:
        runners = [pool.submit(traffic, n) for n in range(4)]
        while len(answered) < 30:
            assert not any(r.done() for r in runners), runners[0].result()
            time.sleep(0.05)
        began = time.monotonic()
        restore(instance, backup, key, how)
        done = time.monotonic()
        # Within 2 s of the restore, /v1 serves the restored routes and not the others.
        try:
            while chat(instance, key, "probe-kept", "kept").status_code != 200:
                assert time.monotonic() - done < 2, instance.output()
                time.sleep(0.05)
            assert chat(instance, key, "probe-added", "added").status_code in (400, 404)
        finally:
            stop.set()
        for runner in runners:
            runner.result()

    assert refused, "no request saw the maintenance"
    in_safety = safety_backup_request_ids(instance)
    before = [rid for rid, at in answered if at < began]
    assert [rid for rid in before if rid not in in_safety] == []
    # Every answer is somewhere: in the safety backup, or in the restored database.
    rows = usage_rows(instance)
    assert [rid for rid, _ in answered if rid not in in_safety and rid not in rows] == []
