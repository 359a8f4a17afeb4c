"""``torchrun -m museforge music train``: rank 0 alone writes files, the two processes learn
what one process learns, and a resumed DDP run ends where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_music_cli import _tune
from torchrun_launch import run_museforge

from museforge.core.checkpoints import load_state
from museforge.music.render import write_midi


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tunes")
    rng = np.random.default_rng(1)
    for i in range(40):
        write_midi(_tune(rng), path / f"tune{i:02d}.mid")
    return path


def _train(home: Path, *args: str, ranks: bool) -> str:
    return run_museforge(home, "music", "train", *args, "--batch-size", "4", ranks=ranks)


def _last_loss(out: Path) -> float:
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["loss"]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


def test_torchrun_cli_matches_one_process_and_resumes_exactly(folder, tmp_path):
    home = tmp_path / "home"
    ddp, one, cut = tmp_path / "ddp", tmp_path / "one", tmp_path / "cut"
    data = ["--data", str(folder)]
    every = ["--checkpoint-every", "1", "--keep", "4"]
    output = _train(home, *data, "--out", str(ddp), "--steps", "4", *every, ranks=True)
    _train(home, *data, "--out", str(one), "--steps", "4", ranks=False)

    # one report, one data cache, one line per step: rank 1 wrote nothing of its own
    assert output.count("trained 4 steps") == 1
    assert sorted(p.name for p in ddp.glob("dataset*")) == ["dataset.npz"]
    steps = [json.loads(x)["step"] for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4

    # The same global batches, split over two ranks. The VAE samples its codes (and
    # transposes) from each rank's own random stream, so the runs agree closely, not bit
    # for bit: weights within a few thousandths, the same loss within 2%.
    a, b = _weights(ddp), _weights(one)
    assert a.keys() == b.keys()
    for key in b:
        if key.startswith("prior_"):  # fitted to codes afterwards: it magnifies the spread
            assert torch.isfinite(a[key]).all()  # the mixture's stay 0 on so few codes
            assert key.startswith("prior_mixture") or a[key].abs().sum() > 0
            continue
        torch.testing.assert_close(a[key], b[key], atol=1e-2, rtol=0)
    loss_ddp, loss_one = (_last_loss(out) for out in (ddp, one))
    assert loss_ddp == pytest.approx(loss_one, rel=0.02)

    # The folder as a kill after step 2 leaves it, resumed: the same weights as the run
    # that went through
    shutil.copytree(ddp, cut)
    for late in ("checkpoint-00000003.safetensors", "checkpoint-00000004.safetensors"):
        (cut / late).unlink()
    shutil.rmtree(cut / "model")
    (cut / "checkpoint.safetensors").unlink()
    os.link(cut / "checkpoint-00000002.safetensors", cut / "checkpoint.safetensors")
    _train(home, *data, "--out", str(cut), "--steps", "4", "--resume", ranks=True)
    resumed, whole = _weights(cut), _weights(ddp)
    for key in whole:
        assert torch.equal(resumed[key], whole[key]), key
    meta = load_state(cut / "checkpoint.safetensors")[1]
    assert len(meta["rng_ranks"]) == 1  # rank 1's random streams were kept, not re-drawn
