"""The baselines and the agent: each lowers the error, repeats for a seed, respects a mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from museforge.core.training import TrainConfig
from museforge.paint.data import as_float, held_out_pictures, training_pictures
from museforge.paint.ddpg import AgentConfig, PaintAgent, agent_strokes
from museforge.paint.greedy import GreedyConfig, greedy_strokes
from museforge.paint.optimize import OptimizeConfig, optimize_strokes
from museforge.paint.painterly import painterly_strokes
from museforge.paint.polish import NO_POLISH, PolishConfig, paint_boxes, polish_strokes
from museforge.paint.strokes import BrushConfig, blank, paint
from museforge.paint.train import PaintTrainConfig, train_painter


@pytest.fixture(scope="module")
def target() -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(as_float(held_out_pictures()[:1]), 2)  # 32 px


def _l2(strokes: torch.Tensor, target: torch.Tensor) -> float:
    canvas = paint(blank(1, *target.shape[-2:]), strokes[None], BrushConfig())
    return float(((canvas - target) ** 2).mean())


@pytest.mark.parametrize(
    "painter",
    [
        lambda t, n, **kw: greedy_strokes(t, n, config=GreedyConfig(candidates=16, refine=1), **kw),
        lambda t, n, **kw: optimize_strokes(t, n, config=OptimizeConfig(iterations=8), **kw),
        painterly_strokes,
    ],
    ids=["greedy", "optimize", "painterly"],
)
def test_a_baseline_lowers_the_error_and_repeats_for_a_seed(painter, target) -> None:
    first = painter(target, 20, seed=3)
    assert first.shape == (20, 13) and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, painter(target, 20, seed=3))
    blank_l2 = float(((blank(1, 32, 32) - target) ** 2).mean())
    assert _l2(first[:5], target) < blank_l2
    assert _l2(first, target) < 0.6 * blank_l2


def test_a_mask_keeps_every_stroke_out(target) -> None:
    keep = torch.zeros(1, 1, 32, 32)
    keep[..., :, :16] = 1.0
    strokes = greedy_strokes(target, 10, config=GreedyConfig(candidates=16, refine=1), keep=keep)
    canvas = paint(blank(1, 32, 32), strokes[None], BrushConfig(), keep)
    assert torch.equal(canvas[..., :16], torch.ones(1, 3, 32, 16))


def test_the_agent_trains_through_the_loop_saves_loads_and_paints(tmp_path: Path) -> None:
    config = PaintTrainConfig(
        agent=AgentConfig(size=32, bundle=2, steps=3, width=8, hidden=32),
        train=TrainConfig(steps=4, batch_size=4, lr=1e-3, checkpoint_every=2, log_every=2),
        pictures=8,
        memory=16,
    )
    before = PaintAgent(config.agent).state_dict()
    result = train_painter(config, tmp_path / "run", progress=False)
    assert result.steps == 4
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"reward"' in lines[0] and '"critic_loss"' in lines[0]
    agent = PaintAgent.from_pretrained(result.model_dir)
    assert any(not torch.equal(before[k], v) for k, v in agent.state_dict().items())
    target = as_float(training_pictures(1, 32, seed=5))
    strokes = agent_strokes(agent, target, 5)
    assert strokes.shape == (5, 13)
    assert torch.equal(strokes, agent_strokes(agent, target, 5))
    # colours are fitted: the first stroke paints the target's colour under it
    assert _l2(strokes, target) < float(((blank(1, 32, 32) - target) ** 2).mean())
    # patch by patch: 3 strokes on the whole, then 6 shared by the four patches
    divided = agent_strokes(agent, target, 9, divide=2, coarse=0.3)
    assert divided.shape == (9, 13) and divided.min() >= 0 and divided.max() <= 1
    assert torch.allclose(divided[:3, :6], agent_strokes(agent, target, 3)[:, :6], atol=0.01)
    late = divided[3:]
    assert (late[:, 6:8] <= 0.5).all()  # half the radius, in the whole canvas' units


def test_the_polish_lowers_the_error_of_given_strokes_and_keeps_the_mask(target) -> None:
    torch.manual_seed(0)
    strokes = torch.rand(12, 13)
    keep = torch.zeros(1, 1, 32, 32)
    keep[..., :8, :] = 1.0
    polished = polish_strokes(
        strokes,
        target,
        BrushConfig(),
        config=PolishConfig(iterations=3, fine_iterations=2),
        keep=keep,
    )
    assert polished.shape == strokes.shape and polished.min() >= 0 and polished.max() <= 1
    before = paint(blank(1, 32, 32), strokes[None], BrushConfig(), keep)
    after = paint(blank(1, 32, 32), polished[None], BrushConfig(), keep)
    assert ((after - target) ** 2).mean() < 0.9 * ((before - target) ** 2).mean()
    assert torch.equal(after[..., :8, :], torch.ones(1, 3, 8, 32))
    assert torch.equal(polish_strokes(strokes, target, BrushConfig(), config=NO_POLISH), strokes)


def test_painting_in_boxes_matches_the_whole_canvas_and_passes_gradients() -> None:
    torch.manual_seed(1)
    strokes = torch.rand(30, 13)
    strokes[:20, 6:8] *= 0.1  # small strokes: drawn in boxes
    strokes[:20, 4:6] = strokes[:20, 0:2] + 0.05 * strokes[:20, 4:6]
    canvas = torch.rand(1, 3, 100, 120)  # boxes of 8 to 96 pixels, and the whole canvas
    whole = paint(canvas, strokes[None], BrushConfig())
    x = strokes.clone().requires_grad_(True)
    boxed = paint_boxes(canvas, x, BrushConfig())
    assert torch.allclose(whole, boxed, atol=1e-5)
    boxed.sum().backward()
    assert x.grad is not None and bool((x.grad[:, :10].abs().sum(dim=1) > 0).all())
