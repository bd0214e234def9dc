"""A local webhook receiver: verifies driftwatch's signature, appends every notification it
accepts to an NDJSON file and prints one line per arrival. ``make demo`` runs it; the latency
benchmark and the tests use :class:`Sink` in-process.

    python scripts/notify_sink.py --port 8025 --out var/demo/notifications.ndjson

The secret comes from ``NOTIFY_WEBHOOK_SECRET`` (never from the command line, where ``ps``
shows it). A request whose signature does not verify is answered 401 and recorded nowhere.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Arrival:
    """One request as the sink saw it."""

    received: float
    """time.time() when the body had been read."""
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    """An HTTP receiver on 127.0.0.1. ``respond(arrival_number)`` picks each answer's status
    (200 unless told otherwise); every request is kept in ``arrivals``."""

    secret: str | None = None
    respond: Callable[[int], int] = lambda _n: 200
    out: Path | None = None
    echo: bool = False
    retry_after: str | None = None
    """Sent as ``Retry-After`` with every 429 and 503."""
    tolerance: float = 300.0
    """Seconds a signed timestamp may be off from ``clock()`` (replays older than this fail)."""
    clock: Callable[[], float] = time.time
    arrivals: list[Arrival] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def verified(self, arrival: Arrival) -> bool:
        """The signature covers ``"<X-Driftwatch-Timestamp>." + body``, and the timestamp is
        within ``tolerance`` seconds of now: a captured request replayed later is refused."""
        if self.secret is None:
            return True
        stamp = arrival.headers.get("x-driftwatch-timestamp", "")
        if not stamp.isdigit() or abs(self.clock() - int(stamp)) > self.tolerance:
            return False
        signed = f"{stamp}.".encode() + arrival.body
        expected = "sha256=" + hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        given = arrival.headers.get("x-driftwatch-signature", "")
        return hmac.compare_digest(given, expected)

    def _handle(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            arrival = Arrival(time.time(), headers, body, 0)
            status = 401 if not self.verified(arrival) else self.respond(len(self.arrivals) + 1)
            arrival.status = status
            self.arrivals.append(arrival)
        if status == 200 and self.out is not None:
            with self._lock, self.out.open("a") as sink:
                sink.write(body.decode() + "\n")
        if self.echo:
            _print_arrival(arrival)
        return status

    def start(self, port: int = 0) -> int:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = sink._handle(headers, body)
                self.send_response(status)
                if status in (429, 503) and sink.retry_after is not None:
                    self.send_header("Retry-After", sink.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:  # a readiness probe
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return  # one line per arrival is printed by the sink itself

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.status == 200]


def _print_arrival(arrival: Arrival) -> None:
    if arrival.status == 401:
        print("notify-sink: refused a request whose signature does not verify", flush=True)
        return
    try:
        body = arrival.json()
        incident = body.get("incident", {})
        line = (
            f"{body.get('event')} incident {incident.get('id')} [{incident.get('severity')}] "
            f"{incident.get('title')} (delivery {body.get('delivery_id')}, signature verified)"
        )
    except (ValueError, AttributeError):
        line = f"{len(arrival.body)} bytes that are not a driftwatch notification"
    print(f"notify-sink: {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--out", type=Path, default=Path("var/demo/notifications.ndjson"))
    args = parser.parse_args(argv)
    secret = os.environ.get("NOTIFY_WEBHOOK_SECRET")
    if not secret:
        print("notify-sink: set NOTIFY_WEBHOOK_SECRET to verify signatures", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sink = Sink(secret=secret, out=args.out, echo=True)
    try:
        port = sink.start(args.port)
    except OSError as exc:
        print(
            f"notify-sink: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    print(f"notify-sink: listening on 127.0.0.1:{port}, writing {args.out}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
