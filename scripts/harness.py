"""Starting the product's servers, waiting until they answer and signing in: what the demo and
the load benchmark both do, in one place. Servers get a process group of their own, so
stopping one stops its workers too."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
T = TypeVar("T")


class HarnessError(SystemExit):
    """A step that could not be done; the message says which and why (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 1.0) -> T:
    """``check()`` again and again until it gives a true value; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise HarnessError(f"gave up after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def http_json(url: str, body: Mapping[str, Any] | None = None, token: str | None = None) -> Any:
    """GET (or POST ``body`` as JSON) and parse the JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def sign_in(base: str, username: str, password: str) -> str:
    """An access token from ``POST /auth/token``."""
    answer = http_json(f"{base}/auth/token", {"username": username, "password": password})
    return str(answer["access_token"])


def flask(
    *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``flask --app incident_api ARGS`` in the checkout."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "incident_api", *args],
        cwd=ROOT,
        env=dict(env) if env is not None else None,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def create_user(
    username: str, role: str, password: str, env: Mapping[str, str] | None = None
) -> bool:
    """Create ``username`` unless it exists; whether it was created."""
    if f"\n{username}\t" in "\n" + flask("users", "list", env=env).stdout:
        return False
    done = flask(
        "users", "create", username, "--role", role, "--password-stdin",
        env=env, stdin=password + "\n",
    )  # fmt: skip
    if done.returncode != 0:
        raise HarnessError(f"could not create the user {username}: {done.stderr.strip()[-2000:]}")
    return True


def start(args: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own, its output appended to ``log``."""
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until ``url`` answers; fail early, with the log's tail, when the server exits."""

    def ready() -> bool:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise HarnessError(f"{url}: the server exited ({process.returncode}):\n{tail}")
        return reachable(url)

    wait_for(ready, timeout, url, every=0.2)


def stop(processes: list[subprocess.Popen[bytes]], sig: int = signal.SIGINT) -> None:
    """Stop each server's process group by its PID: ``sig``, then SIGKILL after 60 s."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, sig)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
