"""Fault campaign: SIGKILL a training run at random moments, resume it every time, and check
that it ends bit for bit where an uninterrupted run ends.

    python benchmarks/bench_faults.py [--kills 50] [--seed 0]

The run checkpoints every other step, and each checkpoint is a few megabytes, so many kills
land inside a checkpoint write. After every kill the run is started again with ``--resume
--force`` (the killed run's lock is stale) or, when no checkpoint was written yet, afresh
with ``--force``. Prints one JSON object: kills, kills that left a temporary file (inside a
write), resumes, whether the final checkpoint equals the reference bit for bit, and
whether any temporary file is left.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from museforge.core.checkpoints import Pretrained, load_state
from museforge.core.training import RunOptions, TrainConfig, train

STEPS = 120  # --steps; the test runs a short campaign


@dataclass
class WideConfig:
    width: int = 512  # ~0.8 M weights: with AdamW's moments a 10 MB checkpoint


class WideMLP(Pretrained, nn.Module):
    config_class = WideConfig
    model_type = "fault-campaign-mlp"

    def __init__(self, config: WideConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.net = nn.Sequential(
            nn.Linear(16, w),
            nn.Tanh(),
            nn.Dropout(0.1),
            nn.Linear(w, w),
            nn.Tanh(),
            nn.Linear(w, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def worker(out: str, resume: bool, steps: int) -> None:
    """One training process: the run every kill interrupts."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 16, generator=gen)
    y = torch.sin(x.sum(1, keepdim=True))
    torch.manual_seed(0)
    model = WideMLP(WideConfig())

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], step: int):
        inputs, targets = batch
        return nn.functional.mse_loss(model(inputs), targets)

    config = TrainConfig(
        steps=steps, batch_size=64, lr=1e-3, ema_decay=0.99, checkpoint_every=2, log_every=2
    )
    train(
        model,
        TensorDataset(x, y),
        loss_fn,
        config,
        out,
        resume=resume,
        progress=False,
        options=RunOptions(force=True),
    )


def _start(out: Path, resume: bool, steps: int) -> subprocess.Popen:
    args = [sys.executable, __file__, "--worker", str(out), "--steps", str(steps)]
    args += ["--resume"] if resume else []
    env = dict(os.environ, OMP_NUM_THREADS="1", MUSEFORGE_DEVICE="cpu")
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _temp_files(out: Path) -> list[Path]:
    return list(out.glob(".*.tmp")) if out.is_dir() else []


def campaign(kills: int, seed: int, root: Path, steps: int = STEPS) -> dict:
    rng = random.Random(seed)
    reference, cut = root / "reference", root / "cut"
    t0 = time.perf_counter()
    proc = _start(reference, False, steps)
    if proc.wait() != 0:
        raise RuntimeError(proc.stderr.read().decode())
    reference_s = time.perf_counter() - t0

    killed = inside_write = finished_early = 0
    while killed < kills:
        resume = (cut / "checkpoint.safetensors").is_file()
        proc = _start(cut, resume, steps)
        time.sleep(rng.uniform(0.3, reference_s * 1.1))
        if proc.poll() is not None:  # it finished before the kill: train into a new folder
            finished_early += 1
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr.read().decode())
            _check_equal(cut, reference, steps)
            cut = root / f"cut{killed}"
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed += 1
        inside_write += bool(_temp_files(cut))

    resume = (cut / "checkpoint.safetensors").is_file()
    proc = _start(cut, resume, steps)
    if proc.wait() != 0:
        raise RuntimeError(proc.stderr.read().decode())
    return {
        "benchmark": "faults",
        "kills": killed,
        "kills_inside_a_write": inside_write,
        "runs_finished_between_kills": finished_early,
        "bit_identical": _check_equal(cut, reference, steps),
        "temp_files_left": len(_temp_files(cut)),
        "reference_run_s": round(reference_s, 2),
        "campaign_s": round(time.perf_counter() - t0, 1),
    }


def _check_equal(cut: Path, reference: Path, steps: int) -> bool:
    a, meta_a = load_state(cut / "checkpoint.safetensors")
    b, meta_b = load_state(reference / "checkpoint.safetensors")
    same = meta_a["step"] == meta_b["step"] == steps and a.keys() == b.keys()
    same = same and all(torch.equal(a[k], b[k]) for k in a)
    if not same:
        raise AssertionError(f"{cut}: the resumed run differs from the uninterrupted one")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs to send")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps of the run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.resume, args.steps)
        return 0
    with tempfile.TemporaryDirectory(prefix="museforge-faults-") as root:
        print(json.dumps(campaign(args.kills, args.seed, Path(root), args.steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
