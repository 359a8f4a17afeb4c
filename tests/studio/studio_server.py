"""A real studio on 127.0.0.1: in this process (uvicorn in a thread) or as a subprocess
that a test can kill and start again (shared by tests/studio and tests/e2e)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from museforge.core.store import Store
from museforge.studio import StudioConfig, create_app


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Studio:
    url: str
    store: Store
    home: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@contextlib.contextmanager
def csrf_client(studio: Studio, **kwargs) -> Iterator[httpx.Client]:
    """A client that has loaded a page and sends the CSRF token back like the page does."""
    with studio.client(**kwargs) as client:
        client.get("/").raise_for_status()
        client.headers["X-CSRF-Token"] = client.cookies["museforge_csrf"]
        yield client


@contextlib.contextmanager
def serve(config: StudioConfig, store: Store) -> Iterator[str]:
    """Serve the studio app with uvicorn in a thread; yields its address."""
    app = create_app(config, store)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=config.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the studio did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled", "interrupted"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


class StudioProcess:
    """``museforge studio`` as a real process, as a person starts it."""

    def __init__(self, home: Path, port: int, *args: str, env: dict | None = None) -> None:
        self.home, self.port, self.args = home, port, args
        outside = {
            k: v for k, v in os.environ.items() if k not in ("MUSEFORGE_TOKEN", "MUSEFORGE_DB_URL")
        }
        self.env = {**outside, "MUSEFORGE_HOME": str(home), **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, headers: dict | None = None) -> StudioProcess:
        command = [sys.executable, "-m", "museforge", "studio", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the studio exited: {self.proc.stdout.read()}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{self.url}/static/studio.css", headers=headers, timeout=2)
                return self
            time.sleep(0.2)
        raise RuntimeError("the studio did not start in 60 s")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
