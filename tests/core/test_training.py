"""The training loop: it learns, logs, checkpoints, and resumes exactly after any stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset
from train_tiny_script import TinyConfig, TinyRegressor  # the model the script trains

from museforge.core.checkpoints import load_state
from museforge.core.training import TrainConfig, TrainingInterrupted, lr_at, train
from museforge.errors import UserError

SCRIPT = Path(__file__).with_name("train_tiny_script.py")


@pytest.fixture(autouse=True)
def _on_the_cpu(monkeypatch):
    """Bit-for-bit equality is promised on the CPU, so keep a GPU out of it."""
    monkeypatch.setenv("MUSEFORGE_DEVICE", "cpu")


def _data() -> TensorDataset:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, 4, generator=gen)
    return TensorDataset(x, x @ torch.tensor([[2.0], [-1.0], [0.5], [1.0]]))


def _model(**config) -> TinyRegressor:
    torch.manual_seed(0)
    return TinyRegressor(TinyConfig(**config))


def _loss(interrupt_at: int | None = None, send_signal_at: int | None = None):
    calls = 0

    def loss_fn(model, batch, step):
        nonlocal calls
        calls += 1
        if calls == interrupt_at:
            raise KeyboardInterrupt
        if calls == send_signal_at:
            os.kill(os.getpid(), signal.SIGINT)
        x, y = batch
        pred = model(x)
        return nn.functional.mse_loss(pred, y), {"mae": (pred - y).abs().mean()}

    return loss_fn


CONFIG = TrainConfig(
    steps=30, batch_size=16, lr=1e-2, ema_decay=0.9, checkpoint_every=10, log_every=5
)


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _without_time(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if k != "time"} for line in lines]


def _assert_same_state(a: Path, b: Path) -> None:
    """Every tensor of two checkpoints (weights, EMA, optimizer, RNG) is bit-identical."""
    ta, ma = load_state(a)
    tb, mb = load_state(b)
    assert ma["step"] == mb["step"]
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key


def test_loss_goes_down_and_metrics_are_json_lines(tmp_path):
    config = TrainConfig(steps=80, batch_size=32, lr=2e-2, checkpoint_every=40, log_every=10)
    result = train(_model(dropout=0.0), _data(), _loss(), config, tmp_path, command="museforge x")
    lines = _metrics(tmp_path)
    assert [line["step"] for line in lines] == list(range(10, 81, 10))
    assert {"loss", "lr", "time", "mae"} <= lines[0].keys()
    assert lines[-1]["loss"] < lines[0]["loss"] / 10
    assert result.steps == 80 and result.final_loss == lines[-1]["loss"]
    _, meta = load_state(result.checkpoint)
    assert meta["step"] == 80 and meta["commands"] == ["museforge x"]
    record = json.loads((result.model_dir / "config.json").read_text())
    assert record["command"] == "museforge x" and record["steps"] == 80


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    def on_checkpoint(step, path):
        torch.rand(100)  # drawing here must not change the training that follows

    whole = train(
        _model(), _data(), _loss(), CONFIG, tmp_path / "whole", on_checkpoint=on_checkpoint
    )

    # KeyboardInterrupt inside step 17 abandons that step: the checkpoint is of step 16.
    with pytest.raises(TrainingInterrupted) as stop:
        train(_model(), _data(), _loss(interrupt_at=17), CONFIG, tmp_path / "cut")
    assert stop.value.step == 16 and stop.value.exit_code == 130
    assert load_state(stop.value.checkpoint)[1]["step"] == 16
    resumed = train(_model(), _data(), _loss(), CONFIG, tmp_path / "cut", resume=True)

    assert resumed.steps == 30
    _assert_same_state(whole.checkpoint, resumed.checkpoint)
    assert resumed.final_loss == whole.final_loss
    assert _without_time(_metrics(tmp_path / "whole")) == _without_time(_metrics(tmp_path / "cut"))
    a, b = (
        TinyRegressor.from_pretrained(whole.model_dir),
        TinyRegressor.from_pretrained(resumed.model_dir),
    )
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])


def test_ctrl_c_finishes_the_step_checkpoints_it_and_resumes(tmp_path):
    with pytest.raises(TrainingInterrupted) as stop:
        train(_model(), _data(), _loss(send_signal_at=7), CONFIG, tmp_path)
    assert stop.value.step == 7
    assert load_state(tmp_path / "checkpoint.safetensors")[1]["step"] == 7
    assert train(_model(), _data(), _loss(), CONFIG, tmp_path, resume=True).steps == 30


def test_ema_weights_differ_from_raw_weights_and_are_exported(tmp_path):
    result = train(_model(), _data(), _loss(), CONFIG, tmp_path)
    tensors, _ = load_state(result.checkpoint)
    exported = TinyRegressor.from_pretrained(result.model_dir).state_dict()
    for key, value in exported.items():
        assert torch.equal(value, tensors[f"ema/{key}"])
        assert not torch.equal(value, tensors[f"model/{key}"])


def test_resume_without_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no checkpoint to resume"):
        train(_model(), _data(), _loss(), CONFIG, tmp_path, resume=True)


def test_fresh_run_over_a_checkpoint_is_a_user_error(tmp_path):
    config = TrainConfig(steps=2, batch_size=8, log_every=1)
    train(_model(), _data(), _loss(), config, tmp_path)
    with pytest.raises(UserError, match="already there"):
        train(_model(), _data(), _loss(), config, tmp_path)


def test_resume_into_another_model_config_is_a_user_error(tmp_path):
    config = TrainConfig(steps=2, batch_size=8, log_every=1)
    train(_model(), _data(), _loss(), config, tmp_path)
    with pytest.raises(UserError, match="differs in hidden"):
        train(_model(hidden=8), _data(), _loss(), config, tmp_path, resume=True)


def test_items_without_tensor_indexing_are_collated(tmp_path):
    items = list(zip(*_data().tensors, strict=True))
    config = TrainConfig(steps=3, batch_size=8, log_every=1)
    result = train(_model(), items, _loss(), config, tmp_path)
    assert result.steps == 3


# --- real processes ------------------------------------------------------------------


def _start(out: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MUSEFORGE_DEVICE="cpu")
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_checkpoint(out: Path, at_least: int, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (out / "checkpoint.safetensors").exists():
            step = load_state(out / "checkpoint.safetensors")[1]["step"]
            if step >= at_least:
                return step
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no checkpoint within 60 s")


def _finish(proc: subprocess.Popen) -> int:
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode in (0, 2, 130), err
    proc.stderr_text = err  # type: ignore[attr-defined]
    return proc.returncode


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    proc = _start(cut, "--sleep", "0.05")
    _wait_for_checkpoint(cut, 10, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    _, meta = load_state(cut / "checkpoint.safetensors")
    assert 10 <= meta["step"] < 40 and meta["step"] % 5 == 0
    kept = sorted(p.name for p in cut.glob("checkpoint-*.safetensors"))
    assert 1 <= len(kept) <= 3 and kept[-1] == f"checkpoint-{meta['step']:08d}.safetensors"

    # The killed run's lock is stale: reported, and taken over only with --force.
    refused = _start(cut, "--resume")
    assert _finish(refused) == 2
    assert "did not finish" in refused.stderr_text and "--force" in refused.stderr_text

    resume, reference = _start(cut, "--resume", "--force"), _start(whole)
    assert _finish(resume) == 0 and _finish(reference) == 0
    assert not list(cut.glob(".*.tmp"))
    _assert_same_state(cut / "checkpoint.safetensors", whole / "checkpoint.safetensors")
    assert [line["step"] for line in _metrics(cut)] == list(range(5, 41, 5))
    assert [line["loss"] for line in _metrics(cut)] == [line["loss"] for line in _metrics(whole)]
    a, b = (
        load_state(cut / "checkpoint.safetensors")[1],
        load_state(whole / "checkpoint.safetensors")[1],
    )
    assert a["commands"][-1].endswith("--resume --force") and len(a["commands"]) == 2
    assert b["step"] == 40


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_exits_130_with_a_loadable_checkpoint(tmp_path, sig):
    proc = _start(tmp_path, "--sleep", "0.05", "--steps", "400")
    _wait_for_checkpoint(tmp_path, 5, proc)
    os.kill(proc.pid, sig)
    assert _finish(proc) == 130
    _, meta = load_state(tmp_path / "checkpoint.safetensors")
    assert 5 <= meta["step"] < 400
    assert _metrics(tmp_path)[-1]["step"] <= meta["step"]


def test_lr_schedules_warm_up_then_decay():
    base = dict(steps=100, lr=1e-2, warmup_steps=10, min_lr=1e-4)
    cosine = TrainConfig(**base, lr_schedule="cosine")
    assert lr_at(5, cosine) == pytest.approx(5e-3)
    assert lr_at(10, cosine) == pytest.approx(1e-2)
    assert lr_at(100, cosine) == pytest.approx(1e-4)
    values = [lr_at(s, cosine) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    expo = TrainConfig(**base, lr_schedule="exponential", lr_decay_rate=0.9)
    assert lr_at(11, expo) == pytest.approx(1e-4 + (1e-2 - 1e-4) * 0.9)
    assert lr_at(50, TrainConfig(**base)) == pytest.approx(1e-2)


def test_loss_fn_sees_the_step_and_the_optimizer_the_scheduled_lr(tmp_path):
    seen = []

    def loss_fn(model, batch, step):
        seen.append(step)
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    config = TrainConfig(
        steps=12, batch_size=8, lr=1e-2, warmup_steps=4, log_every=1, checkpoint_every=6
    )
    train(_model(), _data(), loss_fn, config, tmp_path / "run", progress=False)
    assert seen == list(range(1, 13))
    lrs = [line["lr"] for line in _metrics(tmp_path / "run")]
    assert lrs[:4] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2])


def test_unknown_lr_schedule_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="lr_schedule"):
        train(_model(), _data(), _loss(), TrainConfig(lr_schedule="linear"), tmp_path / "run")


def test_a_parameter_group_may_scale_the_scheduled_lr(tmp_path):
    seen = []

    made = []

    def make(params, config):
        params = list(params)
        groups = [{"params": params[:1]}, {"params": params[1:], "lr_scale": 0.25}]
        made.append(torch.optim.Adam(groups, lr=config.lr))
        return made[0]

    def loss_fn(model, batch, step):
        seen.append([group["lr"] for group in made[0].param_groups])
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    config = TrainConfig(steps=3, batch_size=8, lr=1e-2, warmup_steps=2, checkpoint_every=3)
    train(_model(), _data(), loss_fn, config, tmp_path / "run", progress=False, make_optimizer=make)
    flat = [lr for step in seen for lr in step]
    assert flat == pytest.approx([5e-3, 1.25e-3, 1e-2, 2.5e-3, 1e-2, 2.5e-3])
