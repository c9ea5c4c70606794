"""`make bench`: direct-to-upstream vs through Switchboard, in one run.

Starts the instant fake upstream (bench/upstream.py) and Switchboard (`manage.py serve`,
pinned to one core with taskset when available) on 127.0.0.1, then drives both with an
aiohttp load generator at concurrency 1 and 32, non-streaming and streaming, and
/v1/messages streaming (passed through to the upstream's Messages endpoint, and
translated to its chat completions). Prints a Markdown table and writes it to
bench/results.md. `--quick` is a few-second smoke run of the cells that writes nothing.
`--peers litellm` also installs LiteLLM's proxy into bench/.peers/ and measures it
against the same upstream.

A benchmark, not a test: it reports, it never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
MESSAGES_BODY = {"model": "bench-claude", "max_tokens": 64, "messages": BODY["messages"]}
MESSAGES_MODE = "messages stream"
# A stream counts as complete at its dialect's last event.
STREAM_ENDS = (b"data: [DONE]", b"event: message_stop")


@dataclass
class Result:
    target: str
    mode: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def pinned(cpu: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if shutil.which("taskset") else command


async def one(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    stream: bool,
    body: dict[str, object] = BODY,
) -> bool:
    body = dict(body, stream=stream)
    async with session.post(url, json=body, headers=headers) as response:
        if stream:
            ok = False
            async for line in response.content:
                if line.startswith(STREAM_ENDS):
                    ok = True
            return ok and response.status == 200
        await response.read()
        return response.status == 200


async def load(
    target: str,
    url: str,
    headers: dict[str, str],
    stream: bool,
    concurrency: int,
    seconds: float,
    body: dict[str, object] = BODY,
    mode: str | None = None,
) -> Result:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(min(50, concurrency * 5)):  # warm up connections and caches
            await one(session, url, headers, stream, body)
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    ok = await one(session, url, headers, stream, body)
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    mode = mode or ("stream" if stream else "non-stream")
    return Result(target, mode, concurrency, len(latencies), errors, elapsed, latencies)


async def event_delays(base: str, key: str) -> list[float]:
    """Per-event delay from the upstream's send time to arrival at the client (ms), through
    Switchboard, from the upstream's time-stamping endpoint."""
    delays: list[float] = []
    body = dict(BODY, model="stamp-up/stamp-model", stream=True)
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            async with session.post(base + "/v1/chat/completions", json=body, headers=headers) as r:
                async for line in r.content:
                    if not line.startswith(b"data: {"):
                        continue
                    chunk = json.loads(line[6:])
                    for choice in chunk.get("choices", []):
                        content = (choice.get("delta") or {}).get("content") or ""
                        try:
                            sent = float(content)
                        except ValueError:
                            continue
                        delays.append((time.time() - sent) * 1000)
    return delays


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def web_worker(serve_pid: int) -> int:
    """The uvicorn process `serve` started (the one that handles requests)."""
    children = subprocess.run(["pgrep", "-P", str(serve_pid)], capture_output=True, text=True)
    for pid in children.stdout.split():
        if "uvicorn" in Path(f"/proc/{pid}/cmdline").read_text():
            return int(pid)
    return serve_pid


async def drive(url: str, headers: dict[str, str], total: int, concurrency: int = 32) -> None:
    """Send `total` non-streaming requests, `concurrency` at a time."""
    remaining = total
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one(session, url, headers, False)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def start_switchboard(
    upstream_port: int, data_dir: Path
) -> tuple[subprocess.Popen[bytes], str, str]:
    env = dict(
        os.environ, DATA_DIR=str(data_dir), LOG_LEVEL="WARNING", HEALTH_CHECK_ENABLED="false"
    )
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from providers.models import Provider\n"
        "from routing.models import Route, RouteNode\n"
        "from chat.models import ApiKey\n"
        f"p = Provider.objects.create(name='bench-up', base_url='http://127.0.0.1:{upstream_port}/v1',"
        " api_key='sk-bench-upstream', models=['bench-model'])\n"
        f"s = Provider.objects.create(name='stamp-up', base_url='http://127.0.0.1:{upstream_port}/stamp/v1',"
        " api_key='sk-bench-upstream', models=['stamp-model'])\n"
        f"c = Provider.objects.create(name='claude-up', kind='anthropic', base_url="
        f"'http://127.0.0.1:{upstream_port}/anthropic/v1', api_key='sk-bench-upstream',"
        " models=['bench-claude'])\n"
        "r = Route.objects.create(name='bench', mode='auto')\n"
        "RouteNode.objects.create(route=r, provider=p, models=['bench-model'],"
        " strategy='round-robin')\n"
        "r = Route.objects.create(name='bench-claude', mode='auto')\n"
        "RouteNode.objects.create(route=r, provider=c, models=['bench-claude'],"
        " strategy='round-robin')\n"
        "print(ApiKey.issue('bench', scopes=['chat'])[1])\n"
    )
    key = (
        subprocess.run(
            [*manage, "shell", "-c", setup],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = subprocess.Popen(
        pinned(0, [*manage, "serve", "--port", str(port), "--no-worker"]),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/ping")
    return server, base, key


def compare_clients(upstream_port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
    done = subprocess.run(
        pinned(0, [sys.executable, "-m", "bench.clients", url]),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


async def measure_peer(name: str, upstream_port: int, seconds: float) -> list[Result]:
    if name != "litellm":
        raise SystemExit(f"unknown peer {name!r}; known: litellm")
    from bench.peers import start_litellm

    port = free_port()
    process = start_litellm(upstream_port, port, pinned(0, []))
    try:
        wait_for(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Authorization": "Bearer sk-bench-litellm"}
        results = []
        for stream in (False, True):
            for concurrency in (1, 32):
                results.append(await load(name, url, headers, stream, concurrency, seconds))
                print(
                    f"{name:12} {results[-1].mode:10} c={concurrency:<3} "
                    f"{results[-1].rps:8,.0f} req/s  rss {rss_mb(process.pid):.0f} MB",
                    flush=True,
                )
        return results
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def table(results: list[Result], direct: dict[tuple[str, int], Result]) -> str:
    lines = [
        "| target | mode | conc. | req/s | p50 ms | p99 ms | added p50 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = direct.get((r.mode, r.concurrency))
        added = r.pct(0.5) - base.pct(0.5) if base and r.target != "direct" else 0.0
        lines.append(
            f"| {r.target} | {r.mode} | {r.concurrency} | {r.rps:,.0f} | {r.pct(0.5):.2f} | "
            f"{r.pct(0.99):.2f} | {added:+.2f} | {r.errors} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    upstream_port = free_port()
    upstream = subprocess.Popen(
        pinned(1, [sys.executable, "-m", "bench.upstream", str(upstream_port)]), cwd=ROOT
    )
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    processes = [upstream]
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/v1/models")
        server, base, key = start_switchboard(upstream_port, data_dir)
        processes.append(server)
        targets = {
            "direct": (f"http://127.0.0.1:{upstream_port}/v1/chat/completions", {}),
            "switchboard": (base + "/v1/chat/completions", {"Authorization": f"Bearer {key}"}),
        }
        # /v1/messages streaming: passed through to the Messages endpoint, and translated
        # to chat completions (the "bench" route); both beside the direct Messages stream.
        messages_targets = {
            "direct": (f"http://127.0.0.1:{upstream_port}/anthropic/v1/messages", {}, {}),
            "switchboard": (base + "/v1/messages", {"x-api-key": key}, {}),
            "switchboard→openai": (base + "/v1/messages", {"x-api-key": key}, {"model": "bench"}),
        }
        concurrencies = (1,) if args.quick else (1, 32)
        results: list[Result] = []
        direct: dict[tuple[str, int], Result] = {}

        def note(result: Result) -> None:
            results.append(result)
            if result.target == "direct":
                direct[(result.mode, result.concurrency)] = result
            print(
                f"{result.target:18} {result.mode:15} c={result.concurrency:<3} "
                f"{result.rps:8,.0f} req/s  errors {result.errors}",
                flush=True,
            )

        for stream in (False, True):
            for concurrency in concurrencies:
                for name, (url, headers) in targets.items():
                    note(await load(name, url, headers, stream, concurrency, args.seconds))
        for concurrency in concurrencies:
            for name, (url, headers, change) in messages_targets.items():
                body = {**MESSAGES_BODY, **change}
                note(
                    await load(
                        name, url, headers, True, concurrency, args.seconds, body, MESSAGES_MODE
                    )
                )
        if args.quick:
            print("\n" + table(results, direct))
            return
        delays = await event_delays(base, key)
        worker = web_worker(server.pid)
        url, headers = targets["switchboard"]
        sent = sum(r.requests + r.errors for r in results if r.target == "switchboard")
        memory = [(sent, rss_mb(worker))]
        for milestone in (10_000, args.memory_requests):
            if milestone > sent:
                await drive(url, headers, milestone - sent)
                sent = milestone
                memory.append((sent, rss_mb(worker)))
        clients = compare_clients(upstream_port)
        for name in args.peers:
            results += await measure_peer(name, upstream_port, args.seconds)
        report = "\n".join(
            [
                "# Benchmark results",
                "",
                f"Machine: {os.cpu_count()} cores; the server under test pinned to core 0"
                f"{'' if shutil.which('taskset') else ' (taskset missing: not pinned)'}, "
                "upstream and load generator on core 1. Instant fake upstream "
                f"(bench/upstream.py), {args.seconds:g} s per cell, auth, routing and usage "
                "recording on. `added p50` is the p50 minus the direct p50 of the same cell.",
                "",
                table(results, direct),
                "",
                "Switchboard web worker resident memory: "
                + ", ".join(f"{mb:.0f} MB after {n:,} requests" for n, mb in memory)
                + ".",
                f"Streaming relay delay per event (upstream send → client receive, through "
                f"Switchboard): p50 {statistics.median(delays):.2f} ms, max {max(delays):.2f} ms "
                f"over {len(delays)} events."
                if delays
                else "",
                "",
                "## Upstream client",
                "",
                "Requests/s against the same upstream at concurrency 32, one core "
                "(bench/clients.py); the /v1 hot path uses the fastest:",
                "",
                "| client | req/s |",
                "|---|---|",
                *(f"| {name} | {value:,.0f} |" for name, value in clients.items()),
                "",
            ]
        )
        print("\n" + report)
        RESULTS.write_text(report)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--peers",
        default="",
        type=lambda v: [p for p in v.split(",") if p],
        help="comma-separated: litellm",
    )
    parser.add_argument("--memory-requests", type=int, default=50_000)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: concurrency 1 only, no memory, client or peer figures; writes nothing",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 0.5)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
