"""Foundation figures: the training loop's overhead and the store's write speed.

Speeds are ratios against a plain reference written here and run in the same process,
because the machines are shared and noisy:
- ``train_overhead_ratio``: ``core.training.train`` (with checkpoints, metrics, progress
  off) against a bare PyTorch loop over the same model, batches and steps (1.0 = no cost);
- ``store_write_ratio``: ``Store.add_bytes`` against writing the same files and rows with
  the standard library's sqlite3 and no content addressing (how much the store costs).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

STEPS = 300
BATCH = 64
N_ARTIFACTS = 300
ROUNDS = 3


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)
    )


def _data() -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 64, generator=gen)
    return TensorDataset(x, x.sum(1, keepdim=True))


def _reference_loop(data: TensorDataset) -> float:
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x, y = data.tensors
    start = time.perf_counter()
    for _ in range(STEPS):
        idx = torch.randint(len(x), (BATCH,), generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - start


def _museforge_loop(data: TensorDataset, out: Path) -> float:
    from museforge.core.training import TrainConfig, train

    def loss_fn(model, batch, step):
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    config = TrainConfig(steps=STEPS, batch_size=BATCH, lr=1e-3, checkpoint_every=100, log_every=10)
    start = time.perf_counter()
    train(_model(), data, loss_fn, config, out, progress=False)
    return time.perf_counter() - start


def _reference_store(root: Path, payloads: list[bytes]) -> float:
    root.mkdir()
    start = time.perf_counter()
    db = sqlite3.connect(root / "ref.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, path TEXT, params TEXT)")
    for i, data in enumerate(payloads):
        path = root / f"ref-{i}.bin"
        path.write_bytes(data)
        db.execute("INSERT INTO a (path, params) VALUES (?, ?)", (str(path), json.dumps({"i": i})))
        db.commit()
    db.close()
    return time.perf_counter() - start


def _museforge_store(root: Path, payloads: list[bytes]) -> float:
    from museforge.core.store import Store

    root.mkdir()
    start = time.perf_counter()
    store = Store(f"sqlite:///{root / 'store.db'}", objects_dir=root / "objects")
    parent = None
    for i, data in enumerate(payloads):
        parents = [(parent, "variation-of")] if parent else []
        parent = store.add_bytes(
            data, ".bin", kind="note", params={"i": i}, seed=i, parents=parents
        ).id
    store.close()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)  # one thread: two busy-waiting pools on a shared machine swing wildly
    data = _data()
    payloads = [os.urandom(2048) for _ in range(N_ARTIFACTS)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _reference_loop(data)  # warm-up: the first optimiser pays torch's lazy imports
        # Alternate the two and keep each one's best, so a burst of load elsewhere on the
        # machine does not land on one side only.
        times: dict[str, list[float]] = {"rt": [], "mt": [], "rs": [], "ms": []}
        for i in range(ROUNDS):
            times["rt"].append(_reference_loop(data))
            times["mt"].append(_museforge_loop(data, root / f"run{i}"))
            times["rs"].append(_reference_store(root / f"ref{i}", payloads))
            times["ms"].append(_museforge_store(root / f"ours{i}", payloads))
        ref_train, ours_train, ref_store, ours_store = (
            min(times[k]) for k in ("rt", "mt", "rs", "ms")
        )
    print(
        json.dumps(
            {
                "benchmark": "core",
                "train_steps": STEPS,
                "train_reference_s": round(ref_train, 3),
                "train_museforge_s": round(ours_train, 3),
                "train_overhead_ratio": round(ours_train / ref_train, 3),
                "store_artifacts": N_ARTIFACTS,
                "store_reference_s": round(ref_store, 3),
                "store_museforge_s": round(ours_store, 3),
                "store_artifacts_per_s": round(N_ARTIFACTS / ours_store, 1),
                "store_write_ratio": round(ours_store / ref_store, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
