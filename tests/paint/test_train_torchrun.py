"""``torchrun -m museforge paint train``: two processes train, rank 0 alone writes files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_two_ranks_train_and_only_rank_0_writes(tmp_path: Path, home: Path) -> None:
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MUSEFORGE_DEVICE="cpu",
        MUSEFORGE_HOME=str(home),
        MASTER_ADDR="127.0.0.1",
    )
    env.pop("WORLD_SIZE", None)
    out = tmp_path / "run"
    command = [sys.executable, *TORCHRUN, "-m", "museforge", "--no-progress", "paint", "train"]
    command += ["--out", str(out), "--steps", "2", "--batch-size", "2", "--pictures", "4"]
    command += ["--memory", "4", "--width", "4", "--episode", "2"]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, output
    assert output.count("model kept in the store") == 1, output
    assert output.count("trained 2 steps") == 1, output
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert files == [
        "checkpoint-00000002.safetensors",
        "checkpoint.safetensors",
        "metrics.jsonl",
        "model",
        "pictures-4-64-0.safetensors",
    ], files
    assert any(k.startswith("loss/") for k in load_file(out / "checkpoint.safetensors"))
    assert (out / "model" / "model.safetensors").is_file()
