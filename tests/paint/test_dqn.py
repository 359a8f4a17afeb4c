"""The DQN on a discrete stroke set: the set, a Bellman step through the loop, painting."""

from __future__ import annotations

from pathlib import Path

import torch

from museforge.cli import run
from museforge.paint.data import as_float, training_pictures
from museforge.paint.dqn import DQNConfig, DQNLoss, PaintDQN, dqn_strokes, stroke_set
from museforge.paint.strokes import BrushConfig, blank, paint


def test_the_stroke_set_covers_the_grid_in_every_direction_and_width() -> None:
    actions = stroke_set(DQNConfig(grid=4))
    assert actions.shape == (4 * 4 * 4 * 2, 13)
    centres = (actions[:, 0:2] + actions[:, 4:6]) / 2
    assert set(torch.round(centres[:, 0] * 8).int().tolist()) == {1, 3, 5, 7}


def test_the_bellman_target_is_the_reward_plus_the_discounted_best_next_value() -> None:
    torch.manual_seed(0)
    config = DQNConfig(size=16, steps=3, width=4)
    model = PaintDQN(config)
    loss_fn = DQNLoss(config, envs=4, memory=8)
    batch = training_pictures(4, 16, seed=2)
    loss, metrics = loss_fn(model, batch, 1)
    assert loss.item() > 0 and loss.requires_grad
    assert 0.0 <= metrics["reward"] <= 1.0
    assert loss_fn.replay.size == 4 and (loss_fn.replay.step == 1).all()


def test_dqn_trains_through_the_cli_and_paints(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "run"
    args = ["paint", "train", "--algo", "dqn", "--out", str(out), "--steps", "6"]
    assert run([*args, "--batch-size", "4", "--pictures", "8"]) == 0
    model = PaintDQN.from_pretrained(out / "model")
    target = as_float(training_pictures(1, 16, seed=9))
    strokes = dqn_strokes(model, target, 6)
    assert strokes.shape == (6, 13)
    assert torch.equal(strokes, dqn_strokes(model, target, 6))
    canvas = paint(blank(1, 16, 16), strokes[None], BrushConfig())
    assert ((canvas - target) ** 2).mean() < ((blank(1, 16, 16) - target) ** 2).mean()
    picture = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray((torch.rand(20, 20, 3) * 255).byte().numpy()).save(picture)
    drawn = tmp_path / "drawn"
    draw = ["paint", "draw", str(picture), "--method", str(out / "model"), "--strokes", "5"]
    assert run([*draw, "--out-size", "32", "--out", str(drawn)]) == 0
    assert (drawn / "painting.png").is_file()
