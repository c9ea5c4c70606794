"""OpenTelemetry tracing, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

`configure_from_settings()` runs once at start (config.apps) before Django builds its
middleware chain: it installs an OTLP/HTTP exporter, the Django instrumentation (a server
span per request) and the httpx instrumentation (a client span per upstream call). The
gateway wraps each attempt in `attempt_span`, which costs one attribute check when
tracing is off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

SERVICE_NAME = "switchboard"


class _Tracing:
    """The one piece of tracing state: the tracer when enabled, else None."""

    tracer: Tracer | None = None


_state = _Tracing()


class _Disabled(AbstractContextManager[Span]):
    """Reusable, allocation-free stand-in for a span context when tracing is off."""

    def __enter__(self) -> Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


_DISABLED = _Disabled()


def is_enabled() -> bool:
    return _state.tracer is not None


def enable(tracer_provider: Any) -> None:
    """Use this tracer provider for gateway spans (tests pass one with an in-memory
    exporter; configure_from_settings passes the OTLP one)."""
    _state.tracer = tracer_provider.get_tracer("switchboard.gateway")


def disable() -> None:
    _state.tracer = None


def attempt_span(provider: str, model: str, attempt: int) -> AbstractContextManager[Span]:
    """A span for one upstream attempt. Set the outcome on the yielded span::

        with tracing.attempt_span(provider.name, model, n) as span:
            ...
            span.set_attribute("switchboard.outcome", "ok")

    Exceptions are not recorded as events: their messages may quote upstream bodies.
    """
    tracer = _state.tracer
    if tracer is None:
        return _DISABLED
    return _attempt(tracer, provider, model, attempt)


@contextmanager
def _attempt(tracer: Tracer, provider: str, model: str, attempt: int) -> Iterator[Span]:
    with tracer.start_as_current_span(
        "gateway.attempt",
        kind=trace.SpanKind.INTERNAL,
        attributes={
            "switchboard.provider": provider,
            "switchboard.model": model,
            "switchboard.attempt": attempt,
        },
        record_exception=False,
    ) as span:
        yield span


def set_outcome(span: Span, outcome: str) -> None:
    span.set_attribute("switchboard.outcome", outcome)


def build_provider(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    # The exporter appends /v1/traces to a bare collector endpoint, as the env var does.
    traces_url = endpoint.rstrip("/")
    if not traces_url.endswith("/v1/traces"):
        traces_url += "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    return provider


def instrument(tracer_provider: Any) -> None:
    """Django server spans and httpx client spans through this provider."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    DjangoInstrumentor().instrument(tracer_provider=tracer_provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=tracer_provider)


def uninstrument() -> None:
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    DjangoInstrumentor().uninstrument()
    HTTPXClientInstrumentor().uninstrument()


def configure_from_settings() -> bool:
    """Turn tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set; True when it did."""
    from django.conf import settings

    endpoint = getattr(settings, "OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if not endpoint or is_enabled():
        return False
    provider = build_provider(endpoint)
    trace.set_tracer_provider(provider)
    instrument(provider)
    enable(provider)
    return True
