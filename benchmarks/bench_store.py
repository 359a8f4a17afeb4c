"""The store under load: many processes writing at once, on SQLite (WAL) and PostgreSQL.

``--processes`` processes each add ``--writes`` artifacts with ``Store.add_bytes``, each
one the child of the one before (so every write also adds a lineage edge), all released at
the same moment. Afterwards every row, edge and object must be there and ``verify`` must
find nothing wrong. Figures per backend:
- ``writes_per_s``: all writes over the time from the release to the last writer's end;
- ``list_ms_during_load``: ``list_artifacts`` by a reader while the writers run;
- ``open_and_list_ms_while_locked``: a fresh ``Store(create=False)`` plus a list while
  another process holds a write transaction open (``BEGIN IMMEDIATE`` on SQLite, an
  ``EXCLUSIVE`` table lock on PostgreSQL): a reader must not wait for a writer.

PostgreSQL runs on a throwaway server this script starts (``initdb`` in a temporary folder,
listening on loopback only), or on ``--postgres-url`` (a superuser URL: a fresh database is
made there and dropped afterwards). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, make_url, select

LIST_SAMPLES = 20
HOLDERS = {
    "sqlite": """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO meta VALUES ('bench-holder', 'x')")
print("holding", flush=True)
time.sleep(600)
""",
    "postgres": """
import sys, time
from sqlalchemy import create_engine
conn = create_engine(sys.argv[1]).connect()
conn.begin()
conn.exec_driver_sql("LOCK TABLE artifact IN EXCLUSIVE MODE")
conn.exec_driver_sql("INSERT INTO meta VALUES ('bench-holder', 'x')")
print("holding", flush=True)
time.sleep(600)
""",
}


def _writer(
    url: str, objects: str, tag: int, writes: int, root: str, gate: Any, times: Any
) -> None:
    from museforge.core.store import Store

    with Store(url, objects_dir=objects) as store:
        gate.wait()
        start, parent = time.time(), root
        for i in range(writes):
            data = f"writer {tag} write {i}\n".encode()
            parent = store.add_bytes(
                data,
                ".txt",
                kind="story",
                params={"writer": tag, "i": i},
                parents=[(parent, "continuation-of")],
            ).id
        times.put((start, time.time()))


def run_backend(name: str, url: str, objects: Path, processes: int, writes: int) -> dict[str, Any]:
    from museforge.core.store import Store
    from museforge.core.store_check import verify
    from museforge.core.store_schema import Artifact, Lineage

    with Store(url, objects_dir=objects) as store:
        root = store.add_bytes(b"root of every chain", ".txt", kind="note").id
        ctx = mp.get_context("spawn")
        gate, times = ctx.Barrier(processes + 1), ctx.Queue()
        workers = [
            ctx.Process(target=_writer, args=(url, str(objects), tag, writes, root, gate, times))
            for tag in range(processes)
        ]
        for w in workers:
            w.start()
        gate.wait()
        released, during = time.perf_counter(), []
        while any(w.is_alive() for w in workers):
            during.append(_timed(lambda: store.list_artifacts(limit=50)))
            time.sleep(0.05)
        elapsed = time.perf_counter() - released
        spans = [times.get(timeout=60) for _ in workers]
        for w in workers:
            w.join()
        if any(w.exitcode != 0 for w in workers):
            raise SystemExit(f"{name}: a writer failed")
        with store._read() as session:
            rows = session.scalar(
                select(func.count()).select_from(Artifact).where(Artifact.kind == "story")
            )
            edges = session.scalar(select(func.count()).select_from(Lineage))
        report = verify(store)
        locked = _while_locked(name, url, objects)
    objects_n = sum(1 for f in objects.rglob("*") if f.is_file())
    expected = processes * writes
    return {
        "rows": rows,
        "edges": edges,
        "objects": objects_n - 1,  # the root's file is not one of the writes
        "all_present": rows == edges == objects_n - 1 == expected,
        "verify_clean": report.clean,
        "writers_overlapped": max(s for s, _ in spans) < min(e for _, e in spans),
        "seconds": round(elapsed, 2),
        "writes_per_s": round(expected / elapsed, 1),
        "list_ms_during_load": _summary(during),
        "open_and_list_ms_while_locked": locked,
    }


def _while_locked(name: str, url: str, objects: Path) -> dict[str, float]:
    from museforge.core.store import Store

    target = make_url(url).database if name == "sqlite" else url
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDERS[name], target], stdout=subprocess.PIPE, text=True
    )
    try:
        if holder.stdout is None or holder.stdout.readline().strip() != "holding":
            raise SystemExit(f"{name}: the lock holder did not start")

        def open_and_list() -> None:
            with Store(url, objects_dir=objects, create=False) as reader:
                if not reader.list_artifacts(limit=50):
                    raise SystemExit(f"{name}: the reader saw no artifacts")

        samples = [_timed(open_and_list) for _ in range(LIST_SAMPLES)]
    finally:
        holder.kill()
        holder.wait()
    return _summary(samples)


def _timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def _summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median": round(statistics.median(samples), 1),
        "max": round(max(samples), 1),
    }


@contextlib.contextmanager
def postgres_database(server_url: str | None) -> Iterator[str]:
    """A fresh, empty database on ``server_url``, or on a throwaway server started here."""
    with contextlib.ExitStack() as stack:
        server = server_url or stack.enter_context(_throwaway_server())
        name = f"bench_{uuid.uuid4().hex[:12]}"
        _admin(server, f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _throwaway_server() -> Iterator[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL server binaries not found: `make setup` installs them")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="museforge-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
    try:
        _as_postgres(bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8")
        _as_postgres(
            bindir / "pg_ctl", "-D", data, "-l", root / "log", "-o", options, "-w", "start"
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            _as_postgres(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _as_postgres(*command: str | Path) -> None:
    args = [str(part) for part in command]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def _admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--writes", type=int, default=500, help="writes per process")
    parser.add_argument(
        "--backend", action="append", choices=("sqlite", "postgres"), help="default: both"
    )
    parser.add_argument("--postgres-url", help="a superuser URL of a running server")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "store",
        "processes": args.processes,
        "writes_per_process": args.writes,
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="museforge-bench-store-") as tmp:
        for backend in args.backend or ["sqlite", "postgres"]:
            objects = Path(tmp) / backend / "objects"
            if backend == "sqlite":
                url = f"sqlite:///{Path(tmp) / backend / 'store.db'}"
                figures = run_backend(backend, url, objects, args.processes, args.writes)
            else:
                with postgres_database(args.postgres_url) as url:
                    figures = run_backend(backend, url, objects, args.processes, args.writes)
            result[backend] = figures
    print(json.dumps(result))
    ok = all(
        result[b]["all_present"] and result[b]["verify_clean"]
        for b in args.backend or ["sqlite", "postgres"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
