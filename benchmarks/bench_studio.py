"""Load on the studio: 50 clients browsing the gallery and lineage pages for 30 s.

A store of 10,000 artifacts (melodies in chains of variations, each with a WAV and a
piano-roll rendering, a rating now and then) is served by ``museforge studio`` on
127.0.0.1; 50 concurrent clients (asyncio + httpx, one connection each) request random
gallery pages and random lineage pages as fast as they are answered. Prints one JSON
object: requests, errors, throughput and the latency percentiles (target: p95 < 200 ms).
"""

from __future__ import annotations

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


async def client(base: str, ids: list[str], pages: int, config: LoadConfig, stop: float, out):
    rng = random.Random(hash(asyncio.current_task()) ^ config.seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.perf_counter() < stop:
            if rng.random() < config.gallery_share:
                path = f"/gallery?kind=melody&page={rng.randint(1, pages)}"
            else:
                path = f"/artifacts/{rng.choice(ids)}/lineage"
            started = time.perf_counter()
            try:
                response = await http.get(path)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            out.append((time.perf_counter() - started, ok))


async def load(base: str, ids: list[str], config: LoadConfig) -> list[tuple[float, bool]]:
    results: list[tuple[float, bool]] = []
    pages = max(1, len(ids) // 24)
    stop = time.perf_counter() + config.seconds
    await asyncio.gather(
        *(client(base, ids, pages, config, stop, results) for _ in range(config.clients))
    )
    return results


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    config = LoadConfig()
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
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    httpx.get(f"{base}/gallery", timeout=5).raise_for_status()
                    break
                time.sleep(0.2)
            results = asyncio.run(load(base, ids, config))
        finally:
            server.terminate()
            server.wait(20)
    latencies = sorted(seconds * 1000 for seconds, _ in results)
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        json.dumps(
            {
                "benchmark": "studio",
                "artifacts": config.artifacts,
                "clients": config.clients,
                "seconds": config.seconds,
                "store_build_s": round(build_s, 1),
                "requests": len(results),
                "errors": sum(1 for _, ok in results if not ok),
                "requests_per_s": round(len(results) / config.seconds, 1),
                "p50_ms": round(quantiles[49], 1),
                "p95_ms": round(quantiles[94], 1),
                "max_ms": round(latencies[-1], 1),
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
