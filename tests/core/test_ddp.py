"""DistributedDataParallel under torchrun trains the same model as one process would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from museforge.core.checkpoints import load_state

SCRIPT = Path(__file__).with_name("ddp_script.py")


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MUSEFORGE_DEVICE="cpu")
    env.pop("WORLD_SIZE", None)
    return subprocess.Popen(
        [sys.executable, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so a timeout can kill torchrun's workers too
    )


def _finish(proc: subprocess.Popen) -> None:
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, output


def test_two_ranks_match_one_process_over_the_same_global_batch(tmp_path):
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    procs = [_start(*torchrun, str(SCRIPT), str(ddp)), _start(str(SCRIPT), str(single))]
    for proc in procs:
        _finish(proc)

    w0, w1 = (load_file(ddp / f"weights_rank{r}.safetensors") for r in (0, 1))
    ws = load_file(single / "weights_rank0.safetensors")
    for key in ws:
        assert torch.equal(w0[key], w1[key]), key
        torch.testing.assert_close(w0[key], ws[key], atol=1e-5, rtol=0)

    r0, r1 = (json.loads((ddp / f"losses_rank{r}.json").read_text()) for r in (0, 1))
    one = json.loads((single / "losses_rank0.json").read_text())
    assert len(one["local"]) == 8
    assert r0["mean"] == r1["mean"]
    assert r0["local"] != r1["local"]  # each rank saw its own half of the batch
    for a, b, m, s in zip(r0["local"], r1["local"], r0["mean"], one["local"], strict=True):
        assert (a + b) / 2 == pytest.approx(m, abs=1e-6)
        assert m == pytest.approx(s, abs=1e-5)

    # Only rank 0 logs and checkpoints.
    logged = [json.loads(line) for line in (ddp / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in logged] == list(range(1, 9))
    assert [line["loss"] for line in logged] == pytest.approx(r0["mean"], abs=1e-6)
    assert all(line["mae"] > 0 for line in logged)
    tensors, meta = load_state(ddp / "run" / "checkpoint.safetensors")
    assert meta["step"] == 8
    for key in ws:
        assert torch.equal(tensors[f"model/{key}"], w0[key])
