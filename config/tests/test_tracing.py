from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.test import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config import tracing


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on, spans kept in memory; off again afterwards."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.enable(provider)
    yield memory
    tracing.disable()


def test_it_is_off_by_default_and_costs_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.OTEL_EXPORTER_OTLP_ENDPOINT == ""
    assert not tracing.is_enabled()
    first = tracing.attempt_span("p", "m", 1)
    assert first is tracing.attempt_span("q", "n", 2)  # one shared object, nothing allocated
    with first as span:
        span.set_attribute("switchboard.outcome", "ok")  # accepted and dropped
        assert not span.is_recording()


def test_each_attempt_is_a_span_with_provider_model_attempt_and_outcome(exporter) -> None:  # type: ignore[no-untyped-def]
    with tracing.attempt_span("openai-main", "gpt-4o-mini", 1) as span:
        tracing.set_outcome(span, "http_503")
    with tracing.attempt_span("anthropic", "claude-3-5-haiku", 2) as span:
        span.set_attribute("switchboard.outcome", "ok")

    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["gateway.attempt", "gateway.attempt"]
    assert [dict(s.attributes) for s in spans] == [
        {
            "switchboard.provider": "openai-main",
            "switchboard.model": "gpt-4o-mini",
            "switchboard.attempt": 1,
            "switchboard.outcome": "http_503",
        },
        {
            "switchboard.provider": "anthropic",
            "switchboard.model": "claude-3-5-haiku",
            "switchboard.attempt": 2,
            "switchboard.outcome": "ok",
        },
    ]


def test_a_failing_attempt_is_marked_without_recording_the_message(exporter) -> None:  # type: ignore[no-untyped-def]
    with (
        pytest.raises(TimeoutError),
        tracing.attempt_span("openai-main", "gpt-4o-mini", 1) as span,
    ):
        tracing.set_outcome(span, "timeout")
        raise TimeoutError("upstream with key sk-proj-abcdefghijklmnop timed out")
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code == trace.StatusCode.ERROR
    assert finished.attributes["switchboard.outcome"] == "timeout"
    assert not finished.events  # the exception text (which may quote secrets) is not kept


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def instrumented(exporter) -> Iterator[InMemorySpanExporter]:  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(provider)
    yield exporter
    tracing.uninstrument()


@pytest.mark.django_db
def test_django_requests_and_httpx_calls_become_spans(instrumented, upstream) -> None:  # type: ignore[no-untyped-def]
    assert Client().get("/ping").status_code == 200  # a new client loads the OTel middleware
    assert httpx.get(f"{upstream}/models").status_code == 200

    spans = instrumented.get_finished_spans()
    kinds = {(s.kind, s.attributes.get("http.route") or s.name) for s in spans}
    assert any(kind == trace.SpanKind.SERVER for kind, _ in kinds)
    client_spans = [s for s in spans if s.kind == trace.SpanKind.CLIENT]
    assert client_spans and client_spans[0].name.startswith("GET")


def test_configure_from_settings_does_nothing_without_an_endpoint() -> None:
    assert tracing.configure_from_settings() is False
    assert not tracing.is_enabled()


class _Collector(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Collector.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_the_endpoint_setting_exports_spans_over_otlp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from config.tests.processes import manage

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "from django.test import Client; Client().get('/ping', HTTP_HOST='localhost'); "
        "from opentelemetry import trace; trace.get_tracer_provider().force_flush()"
    )
    try:
        result = manage(
            "shell",
            "-c",
            script,
            data_dir=tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert "/v1/traces" in _Collector.received
