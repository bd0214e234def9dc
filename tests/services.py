"""Real services the tests use, and what to do when one is missing.

Under CI (``CI=true``) a missing service fails the test with a message naming it; elsewhere the
test is skipped with that message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from sqlalchemy import text

from scripts.harness import free_port
from warehouse.db import Database, make_engine

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def require(service: str, probe: Callable[[], object], *, module_level: bool = False) -> None:
    try:
        probe()
    except Exception as exc:  # any failure to reach it
        message = f"{service} is not available: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=module_level)


@contextmanager
def postgres_schema() -> Iterator[tuple[str, dict[str, object]]]:
    """A fresh schema on the test PostgreSQL, dropped afterwards: runs never collide."""
    admin = make_engine(POSTGRES_URL)
    require("PostgreSQL at 127.0.0.1:5432 (database test)", lambda: admin.connect().close())
    schema = f"dw_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def postgres_database() -> Iterator[Database]:
    with postgres_schema() as (_, kwargs):
        db = Database.from_url(POSTGRES_URL, **kwargs)
        try:
            yield db
        finally:
            db.dispose()


class OwnRedis:
    """A redis-server of our own on a spare loopback port, to stop and start at will (the
    shared one on 6379 must keep running for everyone else). Stopped by its PID."""

    def __init__(self) -> None:
        import shutil

        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        require(
            "redis-server binary",
            lambda: (
                self.binary or (_ for _ in ()).throw(FileNotFoundError("redis-server not on PATH"))
            ),
        )
        assert self.binary is not None
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def wait_for(
    predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5
) -> T:
    """Poll until ``predicate`` returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGINT to a process started with ``start_new_session=True`` and its children (dagster
    dev stops its webserver, daemon and code server on it); SIGKILL if that takes too long."""
    import signal

    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class TcpProxy:
    """A loopback TCP forwarder that a test can cut and restore, to take a real server away
    from the code under test (and bring it back) without stopping the server itself."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._trigger: tuple[bytes, bool] | None = None
        self._withhold = False
        self.triggered = threading.Event()

    def cut_on(self, pattern: bytes, *, after_server_got_it: bool = False) -> None:
        """Cut everything once a client sends ``pattern`` (e.g. a statement's text): before the
        server sees it, or after it has — with the server's answer withheld from the client,
        like a connection that dies while a COMMIT is in flight."""
        self.triggered.clear()
        self._trigger = (pattern, after_server_got_it)

    def start(self) -> None:
        self._withhold = False
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b, outbound in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, outbound), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                trigger = self._trigger
                if outbound and trigger is not None and trigger[0] in data:
                    self._trigger = None
                    if trigger[1]:
                        self._withhold = True
                        sink.sendall(data)
                        time.sleep(0.5)  # the server acts on it; its answer goes nowhere
                    self.triggered.set()
                    self.cut()
                    return
                if not outbound and self._withhold:
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self) -> None:
        """Refuse new connections and kill the open ones, as a dead server would."""
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


class OwnPostgres:
    """A PostgreSQL server of our own on a spare loopback port, to restart at will (the shared
    one on 5432 must keep running for everyone else): initdb into a fresh directory, the
    server started and stopped by its PID. As root it runs as the ``postgres`` user (PostgreSQL
    refuses to run as root)."""

    def __init__(self) -> None:
        import glob
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        self.bin = os.path.dirname(found[-1]) if found else ""
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="dw-own-pg-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def _owner(self) -> str | None:
        """Who runs the server: ``postgres`` when we are root, else we."""
        return "postgres" if os.geteuid() == 0 else None

    def init(self) -> None:
        require(
            "PostgreSQL server binaries (Debian postgresql)",
            lambda: os.stat(os.path.join(self.bin, "initdb")),
        )
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        done = subprocess.run(
            [os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres"],
            user=self._owner,
            group=self._owner,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        args = [
            os.path.join(self.bin, "postgres"),
            "-D", self.data,
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.data}",
            "-c", "fsync=off",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            user=self._owner,
            group=self._owner,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._accepts, 30, f"PostgreSQL on port {self.port}", interval=0.05)

    def _accepts(self) -> bool:
        import psycopg

        try:
            psycopg.connect(
                host="127.0.0.1", port=self.port, user="postgres", connect_timeout=1
            ).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), waited for."""
        import signal

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
