"""OTEL_EXPORTER_OTLP_PROTOCOL chooses the transport, as the OpenTelemetry specification says:
traces reach a real OTLP/gRPC receiver with ``grpc`` and a real OTLP/HTTP one with
``http/protobuf`` (the default), each started here on 127.0.0.1; anything else is refused at
start in one line."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from incident_api import ConfigError, create_app
from tests.services import free_port


class Received:
    """What a receiver got: the span names and service names of every export request."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append((attributes.get("service.name", ""), span.name))


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 — the service's name
        self.received.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            paths.append(self.path)
            if self.headers.get("Content-Type") == "application/x-protobuf":
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.add(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.shutdown()
        server.server_close()
    assert all(path == "/v1/traces" for path in paths)


@pytest.fixture(autouse=True)
def providers_stopped() -> Iterator[None]:
    """Each app's span processor stopped after its test: a thread left exporting to a receiver
    that is gone would retry (and log) until the process exits."""
    yield
    from opentelemetry.sdk.trace import TracerProvider

    for provider in STARTED:
        assert isinstance(provider, TracerProvider)
        provider.shutdown()
    STARTED.clear()


STARTED: list[Any] = []


def _traced_request(monkeypatch: pytest.MonkeyPatch, endpoint: str, proto: str | None, app_db):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", f"driftwatch-{proto or 'default'}")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    if proto is None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
    app = create_app({"database_url": app_db, "environment": "test", "jwt_secret_key": "o" * 40})
    STARTED.append(app.extensions["otel_provider"])
    assert app.test_client().get("/incidents").status_code == 401  # a traced request
    app.extensions["otel_provider"].force_flush()
    return app


def _wait(received: Received, service: str) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with received.lock:
            names = [name for who, name in received.spans if who == service]
        if names:
            return names
        time.sleep(0.05)
    raise AssertionError(f"no span of {service} arrived")


def test_grpc_sends_to_an_otlp_grpc_receiver(monkeypatch, tmp_path, grpc_receiver, http_receiver):
    endpoint, received = grpc_receiver
    _traced_request(monkeypatch, endpoint, "grpc", f"sqlite:///{tmp_path / 'g.db'}")
    assert "GET /incidents" in _wait(received, "driftwatch-grpc")
    assert http_receiver[1].spans == []


@pytest.mark.parametrize("proto", ["http/protobuf", None])
def test_http_protobuf_is_the_default_and_reaches_an_otlp_http_receiver(
    monkeypatch, tmp_path, http_receiver, proto
):
    endpoint, received = http_receiver
    _traced_request(monkeypatch, endpoint, proto, f"sqlite:///{tmp_path / 'h.db'}")
    assert "GET /incidents" in _wait(received, f"driftwatch-{proto or 'default'}")


def test_the_traces_variable_wins_over_the_general_one(monkeypatch, tmp_path, grpc_receiver):
    endpoint, received = grpc_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "driftwatch-traces-var")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    app = create_app(
        {"database_url": f"sqlite:///{tmp_path / 't.db'}", "environment": "test",
         "jwt_secret_key": "o" * 40}
    )  # fmt: skip
    STARTED.append(app.extensions["otel_provider"])
    app.test_client().get("/incidents")
    app.extensions["otel_provider"].force_flush()
    assert "GET /incidents" in _wait(received, "driftwatch-traces-var")


@pytest.mark.parametrize("proto", ["http/json", "carrier-pigeon"])
def test_an_unsupported_protocol_is_refused_at_start(monkeypatch, tmp_path, proto):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    with pytest.raises(ConfigError) as refused:
        create_app(
            {"database_url": f"sqlite:///{tmp_path / 'x.db'}", "environment": "test",
             "jwt_secret_key": "o" * 40}
        )  # fmt: skip
    assert str(refused.value) == (
        f"OTEL_EXPORTER_OTLP_PROTOCOL={proto} is not supported; use one of grpc, http/protobuf"
    )
