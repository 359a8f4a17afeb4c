"""Run ``python -m museforge`` as one process or as two torchrun ranks, for the tests that
check distributed training on the CPU (gloo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def run_museforge(home: Path, *args: str, ranks: bool = True, timeout: float = 240) -> str:
    """Run ``museforge --no-progress ARGS`` (under torchrun with two ranks when ``ranks``),
    one torch thread per process, with ``home`` as MUSEFORGE_HOME; assert it exits 0 and
    return its output. A run past ``timeout`` is killed with its whole process group."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MUSEFORGE_DEVICE="cpu",
        MUSEFORGE_HOME=str(home),
        MASTER_ADDR="127.0.0.1",
    )
    env.pop("WORLD_SIZE", None)
    launcher = [sys.executable, *(TORCHRUN if ranks else [])]
    proc = subprocess.Popen(
        [*launcher, "-m", "museforge", "--no-progress", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, output
    return output
