"""Load on the studio: 50 clients browsing the gallery and lineage pages for 30 s.

A store of 10,000 artifacts (melodies in chains of variations, each with a WAV and a
piano-roll rendering, a rating now and then) is served by ``museforge studio`` on
127.0.0.1; 50 concurrent clients request random gallery pages and random lineage pages
as fast as they are answered, each on its own keep-alive connection.

The load generator is one asyncio process speaking plain HTTP/1.1 over sockets (no client
library), so it takes little of the CPU the server needs; its own CPU time, the server's,
and the machine's load average during the run are reported with the figures, since the
two cores may be shared. Prints one JSON object: requests, errors, throughput and the
latency percentiles (target: p95 < 200 ms).

``--conditional`` makes each client remember the ETag of every page it has seen and ask
again with ``If-None-Match``, as a browser does: a page the store has not changed since
comes back as an empty 304.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from museforge.core.store import Store


@dataclass(frozen=True)
class LoadConfig:
    artifacts: int = 10_000
    chain: int = 12  # melodies per chain of variations: lineage trees 12 deep
    clients: int = 50
    seconds: float = 30.0
    gallery_share: float = 0.5  # the rest are lineage pages
    page_size: int = 24  # the gallery's
    seed: int = 0


def build_store(home: Path, config: LoadConfig) -> list[str]:
    """``config.artifacts`` artifacts: melodies with two renderings each; returns melody ids."""
    rng = random.Random(config.seed)
    melodies: list[str] = []
    with Store(f"sqlite:///{home / 'store.db'}", objects_dir=home / "objects") as store:
        made, parent = 0, None
        while made < config.artifacts:
            index = len(melodies)
            recipe = {"medium": "music", "verb": "vary", "seed": index, "n": 1, "index": 1}
            relation = [] if parent is None else [(parent, "variation-of")]
            melody = store.add_bytes(
                b"MThd" + index.to_bytes(8, "big"),
                ".mid",
                kind="melody",
                seed=index,
                model_id="melody-2bar",
                params={"studio": recipe},
                parents=relation,
            )
            for suffix, kind in ((".wav", "audio"), (".png", "image")):
                store.add_bytes(
                    suffix.encode() + index.to_bytes(8, "big"),
                    suffix,
                    kind=kind,
                    params={"format": suffix[1:]},
                    parents=[(melody.id, "rendered-from")],
                )
            if rng.random() < 0.2:
                store.rate(melody.id, rng.randint(1, 5))
            melodies.append(melody.id)
            made += 3
            parent = None if len(melodies) % config.chain == 0 else melody.id
    return melodies


def reuse(home: Path) -> list[str]:
    """The melody ids of a store built before in ``home``, if there is one."""
    if not (home / "store.db").is_file():
        return []
    with Store(f"sqlite:///{home / 'store.db'}", objects_dir=home / "objects") as store:
        return [a.id for a in store.list_artifacts(kind="melody", limit=100_000)]


class Connection:
    """One keep-alive HTTP/1.1 connection: GET a path, read the whole answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        answer = {}
        for field in fields:
            if field:
                name, _, value = field.partition(":")
                answer[name.strip().lower()] = value.strip()
        length = int(answer.get("content-length", "0"))
        if length:
            await self.reader.readexactly(length)
        if answer.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split(" ", 2)[1]), answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def client(
    port: int, ids: list[str], pages: int, config: LoadConfig, stop: float, conditional: bool, out
) -> None:
    rng = random.Random(id(out) ^ len(out) ^ config.seed ^ random.getrandbits(32))
    connection = Connection("127.0.0.1", port)
    etags: dict[str, str] = {}
    try:
        while time.perf_counter() < stop:
            if rng.random() < config.gallery_share:
                path = f"/gallery?kind=melody&page={rng.randint(1, pages)}"
            else:
                path = f"/artifacts/{rng.choice(ids)}/lineage"
            headers = {"If-None-Match": etags[path]} if conditional and path in etags else {}
            started = time.perf_counter()
            try:
                status, answer = await connection.get(path, headers)
                ok = status == 200 or (status == 304 and bool(headers))
                if "etag" in answer:
                    etags[path] = answer["etag"]
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                await connection.close()
            out.append((time.perf_counter() - started, ok, path[1]))
    finally:
        await connection.close()


async def load(
    port: int, ids: list[str], config: LoadConfig, conditional: bool
) -> list[tuple[float, bool, str]]:
    results: list[tuple[float, bool, str]] = []
    pages = max(1, -(-len(ids) // config.page_size))
    stop = time.perf_counter() + config.seconds
    await asyncio.gather(
        *(
            client(port, ids, pages, config, stop, conditional, results)
            for _ in range(config.clients)
        )
    )
    return results


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoadAverage:
    """The one-minute load average sampled every second while the load runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadAverage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[round(share * 100) - 1] if len(values) > 1 else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=LoadConfig.seconds)
    parser.add_argument("--clients", type=int, default=LoadConfig.clients)
    parser.add_argument("--conditional", action="store_true", help="send If-None-Match")
    args = parser.parse_args()
    config = LoadConfig(seconds=args.seconds, clients=args.clients)
    kept = os.environ.get("BENCH_STUDIO_HOME")  # a folder to keep the built store in, and reuse
    with tempfile.TemporaryDirectory(prefix="museforge-bench-studio-") as folder:
        home = Path(kept or folder)
        started = time.perf_counter()
        ids = reuse(home) or build_store(home, config)
        build_s = time.perf_counter() - started
        port = free_port()
        env = {**os.environ, "MUSEFORGE_HOME": str(home)}
        env.pop("MUSEFORGE_DB_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "museforge", "studio", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    httpx.get(f"http://127.0.0.1:{port}/gallery", timeout=5).raise_for_status()
                    break
                time.sleep(0.2)
            server_cpu, own_cpu = cpu_seconds(server.pid), time.process_time()
            load_before = os.getloadavg()[0]
            with LoadAverage() as loadavg:
                wall = time.perf_counter()
                results = asyncio.run(load(port, ids, config, args.conditional))
                wall = time.perf_counter() - wall
            own_cpu = time.process_time() - own_cpu
            server_cpu = cpu_seconds(server.pid) - server_cpu
        finally:
            server.terminate()
            server.wait(20)
    latencies = sorted(seconds * 1000 for seconds, _, _ in results)
    by_page = {
        name: sorted(s * 1000 for s, _, kind in results if kind == letter)
        for name, letter in (("gallery", "g"), ("lineage", "a"))
    }
    print(
        json.dumps(
            {
                "benchmark": "studio",
                "artifacts": config.artifacts,
                "clients": config.clients,
                "seconds": config.seconds,
                "conditional_get": args.conditional,
                "store_build_s": round(build_s, 1),
                "requests": len(results),
                "errors": sum(1 for _, ok, _ in results if not ok),
                "requests_per_s": round(len(results) / wall, 1),
                "p50_ms": round(percentile(latencies, 0.50), 1),
                "p95_ms": round(percentile(latencies, 0.95), 1),
                "max_ms": round(latencies[-1], 1) if latencies else 0,
                **{
                    f"{name}_p95_ms": round(percentile(values, 0.95), 1)
                    for name, values in by_page.items()
                },
                "server_cpu_s": round(server_cpu, 1),
                "load_generator_cpu_s": round(own_cpu, 1),
                "load_average_before": round(load_before, 2),
                "load_average_during": round(max(loadavg.samples, default=load_before), 2),
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
