"""The training loop under faults: NaN and infinity, a second run on the same folder, a
resume with other data or settings, and the checkpoints it keeps."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
from test_training import CONFIG, _data, _finish, _loss, _model, _start, _wait_for_checkpoint
from torch.utils.data import TensorDataset

from museforge.core.checkpoints import load_state
from museforge.core.training import NonFiniteTraining, RunOptions, TrainConfig, train
from museforge.errors import UserError


@pytest.fixture(autouse=True)
def _on_the_cpu(monkeypatch):
    monkeypatch.setenv("MUSEFORGE_DEVICE", "cpu")


def _all_finite(path: Path) -> bool:
    tensors, _ = load_state(path)
    return all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())


def _messages(proc) -> list[str]:
    """What a finished process said on stderr, its progress bar aside."""
    return [line for line in proc.stderr_text.splitlines() if line and not line.startswith("train")]


def test_an_infinite_loss_stops_before_any_checkpoint_holds_it(tmp_path):
    proc = _start(tmp_path, "--inf-at", "13")
    assert _finish(proc) == 2
    message = _messages(proc)
    assert len(message) == 1 and message[0].startswith("error: the loss or gradient became")
    assert f"{tmp_path / 'checkpoint.safetensors'} (step 10)" in message[0]
    assert load_state(tmp_path / "checkpoint.safetensors")[1]["step"] == 10
    steps = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("checkpoint-0*.safetensors"))
    assert steps and max(steps) <= 12
    assert all(_all_finite(p) for p in tmp_path.glob("checkpoint*.safetensors"))


def test_skip_nonfinite_skips_the_bad_step_and_goes_on(tmp_path):
    proc = _start(tmp_path, "--inf-at", "13", "--skip-nonfinite", "1")
    assert _finish(proc) == 0, proc.stderr_text
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 13, "skipped": "non-finite loss or gradient"} in lines
    tensors, meta = load_state(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == 40 and meta["skipped_steps"] == 1
    assert _all_finite(tmp_path / "checkpoint.safetensors")


def test_nonfinite_in_process_names_the_last_good_file(tmp_path):
    def loss_fn(model, batch, step):
        x, y = batch
        loss = torch.nn.functional.mse_loss(model(x), y)
        return loss * math.nan if step == 25 else loss

    with pytest.raises(NonFiniteTraining) as err:
        train(_model(), _data(), loss_fn, CONFIG, tmp_path, progress=False)
    assert err.value.step == 25 and "(step 20)" in err.value.message


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    first = _start(tmp_path, "--sleep", "0.05", "--steps", "400")
    _wait_for_checkpoint(tmp_path, 5, first)
    second = _start(tmp_path, "--resume")
    assert _finish(second) == 2
    lines = _messages(second)
    assert len(lines) == 1 and "another training run is using this folder" in lines[0]
    assert f"pid {first.pid}" in lines[0]
    os.kill(first.pid, signal.SIGTERM)
    assert _finish(first) == 130
    # stopped cleanly: the lock is released and a resume needs no --force
    assert (tmp_path / ".museforge-run.lock").read_text() == ""


def test_resume_with_other_settings_or_data_is_refused_naming_the_field(tmp_path):
    config = TrainConfig(steps=10, batch_size=16, checkpoint_every=5, log_every=5)
    train(_model(), _data(), _loss(), config, tmp_path, progress=False)
    longer = TrainConfig(steps=20, batch_size=16, checkpoint_every=5, log_every=5)

    with pytest.raises(UserError, match="trained with batch_size 16, not 8"):
        other = TrainConfig(steps=20, batch_size=8, checkpoint_every=5, log_every=5)
        train(_model(), _data(), _loss(), other, tmp_path, resume=True, progress=False)
    with pytest.raises(UserError, match="trained with seed 0, not 3"):
        other = TrainConfig(steps=20, batch_size=16, seed=3, checkpoint_every=5, log_every=5)
        train(_model(), _data(), _loss(), other, tmp_path, resume=True, progress=False)
    x, y = _data().tensors
    fewer = TensorDataset(x[:150], y[:150])
    with pytest.raises(UserError, match="trained with data items 200, not 150"):
        train(_model(), fewer, _loss(), longer, tmp_path, resume=True, progress=False)

    # on purpose: it goes on, and the change is recorded in the model it exports
    done = train(
        _model(),
        fewer,
        _loss(),
        longer,
        tmp_path,
        resume=True,
        progress=False,
        options=RunOptions(allow_config_change=True),
    )
    record = json.loads((done.model_dir / "config.json").read_text())
    fields = {c["field"] for c in record["config_changes"]}
    assert fields == {"data items", "data sha256"} and record["config_changes"][0]["step"] == 10


def test_training_longer_on_a_constant_schedule_is_the_same_run(tmp_path):
    short = TrainConfig(steps=10, batch_size=16, checkpoint_every=5, log_every=5)
    train(_model(), _data(), _loss(), short, tmp_path, progress=False)
    longer = TrainConfig(steps=20, batch_size=16, checkpoint_every=5, log_every=5)
    result = train(_model(), _data(), _loss(), longer, tmp_path, resume=True, progress=False)
    assert result.steps == 20


def test_keeps_the_last_k_checkpoints_and_the_best(tmp_path):
    scores = {5: 0.2, 10: 0.9, 15: 0.5, 20: 0.4, 25: 0.3, 30: 0.1}

    def on_checkpoint(step, path):
        return {"accuracy": scores[step]}

    config = TrainConfig(steps=30, batch_size=16, checkpoint_every=5, log_every=5)
    train(
        _model(),
        _data(),
        _loss(),
        config,
        tmp_path,
        progress=False,
        options=RunOptions(keep=2),
        on_checkpoint=on_checkpoint,
        best_metric="accuracy",
    )
    names = sorted(p.name for p in tmp_path.glob("checkpoint-0*.safetensors"))
    assert names == [f"checkpoint-{s:08d}.safetensors" for s in (10, 25, 30)]
    best = tmp_path / "checkpoint-best.safetensors"
    assert load_state(best)[1]["step"] == 10
    assert os.path.samefile(best, tmp_path / "checkpoint-00000010.safetensors")
    assert os.path.samefile(tmp_path / "checkpoint.safetensors", tmp_path / names[-1])
    assert json.loads((tmp_path / "best.json").read_text())["value"] == 0.9
