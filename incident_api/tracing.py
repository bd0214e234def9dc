"""OpenTelemetry: Flask requests and their SQLAlchemy queries as spans, exported over OTLP.

Configured by the standard ``OTEL_*`` variables; a no-op when ``OTEL_SDK_DISABLED=true`` or no
OTLP endpoint is set. ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` (else ``OTEL_EXPORTER_OTLP_PROTOCOL``)
chooses the transport as the specification names it: ``grpc`` or ``http/protobuf`` (the
default); ``http/json`` has no Python exporter and is refused at start, as is any other value.
The provider and its batch span processor (a thread) are created inside ``create_app``, which
gunicorn runs in each worker after the fork (no ``preload_app``), so no worker inherits a dead
exporter thread.
"""

from __future__ import annotations

import os
from typing import Final

from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from sqlalchemy import Engine

from incident_api.settings import ConfigError

EXCLUDED_URLS: Final = "health,ready,metrics"
PROTOCOLS: Final = ("grpc", "http/protobuf")
DEFAULT_PROTOCOL: Final = "http/protobuf"  # the specification's default for SDKs


def protocol() -> str:
    """The OTLP transport for traces, by the specification's precedence."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip()
        if value:
            if value not in PROTOCOLS:
                raise ConfigError(
                    f"{name}={value} is not supported; use one of {', '.join(PROTOCOLS)}"
                )
            return value
    return DEFAULT_PROTOCOL


def otlp_exporter() -> SpanExporter:
    """The OTLP exporter of the configured protocol; endpoint, headers and timeout come from
    the ``OTEL_*`` variables (each exporter reads them as the specification says)."""
    if protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


SERVICE_NAME: Final = "driftwatch-incident-api"


def _wanted() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(
    app: Flask, engine: Engine, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Instrument ``app`` and ``engine``; ``exporter`` (tests, embedding) overrides OTLP."""
    if exporter is None:
        if not _wanted():
            return None
        exporter = otlp_exporter()
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
    instrumentor = SQLAlchemyInstrumentor()  # a process-wide singleton: one app per process,
    if instrumentor.is_instrumented_by_opentelemetry:  # but a second app replaces the first
        instrumentor.uninstrument()
    instrumentor.instrument(engine=engine, tracer_provider=provider)
    app.extensions["otel_provider"] = provider
    return provider
