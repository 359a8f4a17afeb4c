"""Shared fixtures: a temporary museforge home, a throwaway PostgreSQL server, and a store
on each backend, so the store's tests run against real SQLite files and a real server.

``make test`` sets ``MUSEFORGE_REQUIRE_ALL=1``: then a test that would be skipped (a part
README promises is missing: PostgreSQL, llama.cpp, FluidSynth, a model wheel) fails
instead, naming what is missing. Without it (a quick ``pytest`` on a partial machine)
such tests are skipped as usual."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from require_all import pytest_runtest_makereport  # noqa: F401 (the hook, registered here)
from sqlalchemy import create_engine, make_url

from museforge.core.store import Store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MUSEFORGE_HOME with the default SQLite store inside it."""
    path = tmp_path / "home"
    monkeypatch.setenv("MUSEFORGE_HOME", str(path))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database on a PostgreSQL server that lives as long as the test session."""
    bindir = _postgres_bindir()
    if bindir is None:
        message = (
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; "
            "`make setup` installs Debian's postgresql"
        )
        pytest.skip(message)
    # initdb refuses to run as root; /tmp is reachable by the postgres user
    root = Path(tempfile.mkdtemp(prefix="museforge-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, log, port = root / "data", root / "server.log", _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # throwaway data
    )
    try:
        _as_postgres([bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        _as_postgres([bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start"])
        try:
            server = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
            _create_database(server, "museforge")
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/museforge"
        finally:
            _as_postgres([bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store on a SQLite file or on a new PostgreSQL database."""
    objects = tmp_path / "objects"
    if request.param == "sqlite":
        with Store(f"sqlite:///{tmp_path / 'store.db'}", objects_dir=objects) as fresh:
            yield fresh
        return
    server = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex}"
    _create_database(server, name)
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        with Store(url, objects_dir=objects) as fresh:
            yield fresh
    finally:
        _drop_database(server, name)


def _postgres_bindir() -> Path | None:
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [p for p in found if p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name), default=None)


def _as_postgres(command: list[str | Path]) -> None:
    args = [str(part) for part in command]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_database(server_url: str, name: str) -> None:
    _admin(server_url, f'CREATE DATABASE "{name}"')


def _drop_database(server_url: str, name: str) -> None:
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Tests use tiny models: a second thread only adds overhead, and on a busy 2-core
    machine two spinning thread pools slow each other down many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
