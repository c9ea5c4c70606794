"""A real HTTP server on 127.0.0.1 playing every upstream the health and catalog tests need.

The first path segment picks the behaviour, so one server serves many "providers":
`http://127.0.0.1:<port>/<mode>/v1` answers `GET .../models` as `<mode>` says.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OPENROUTER_PAYLOAD = Path(__file__).parent / "payloads" / "openrouter_models.json"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class Behaviour:
    slow_seconds: float = 5.0
    delay_seconds: float = 0.5
    payloads: dict[str, Any] = field(default_factory=dict)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # twenty probes connect at once

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[Seen] = []
        self.behaviour = Behaviour()
        self.released = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a slow answer written after the probe gave up: expected, not news


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        self.server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        mode = self.path.strip("/").split("/")[0]
        answer = getattr(self, f"answer_{mode.replace('-', '_')}", None)
        if answer is None:
            self.reply(404, {"error": {"message": f"no mode {mode}"}})
            return
        answer()

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def presented_key(self) -> str:
        return (
            self.headers.get("authorization", "").removeprefix("Bearer ")
            or self.headers.get("x-api-key", "")
            or self.headers.get("x-goog-api-key", "")
        )

    def answer_ok(self) -> None:
        self.reply(200, {"object": "list", "data": [{"id": "gpt-4o-mini"}, {"id": "gpt-4o"}]})

    def answer_unauthorized(self) -> None:
        # Like OpenAI's real 401, which quotes the key it was given back to the caller.
        message = f"Incorrect API key provided: {self.presented_key()}."
        self.reply(401, {"error": {"message": message, "type": "invalid_request_error"}})

    def answer_broken(self) -> None:
        self.reply(500, {"error": {"message": "upstream exploded"}})

    def answer_slow(self) -> None:
        self.server.released.wait(self.server.behaviour.slow_seconds)
        self.answer_ok()

    def answer_delay(self) -> None:
        time.sleep(self.server.behaviour.delay_seconds)
        self.answer_ok()

    def answer_redirect_same(self) -> None:
        self.reply(302, b"", {"Location": "/ok/v1/models"})

    def answer_redirect_away(self) -> None:
        port = self.server.server_address[1]
        self.reply(302, b"", {"Location": f"http://localhost:{port}/ok/v1/models"})

    def answer_openrouter(self) -> None:
        self.reply(200, json.loads(OPENROUTER_PAYLOAD.read_text()))

    def answer_payload(self) -> None:
        # /payload/<name>/v1/models: whatever the test stored under <name>
        name = self.path.strip("/").split("/")[1]
        self.reply(200, self.server.behaviour.payloads[name])

    def answer_notjson(self) -> None:
        self.reply(200, b"<html>hello</html>")


class FakeUpstream:
    def __init__(self) -> None:
        self.server = Server()
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def seen(self) -> list[Seen]:
        return self.server.seen

    @property
    def behaviour(self) -> Behaviour:
        return self.server.behaviour

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def start(self) -> FakeUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.released.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A URL nothing listens on: bind a port, then let it go."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
