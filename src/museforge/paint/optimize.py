"""The optimisation painter: strokes start where the error is highest, then gradient
descent through the differentiable renderer moves them.

In rounds of ``per_round`` strokes (as Stylized Neural Painting, Zou et al. 2021, adds
strokes progressively): the squared error map of the canvas so far is blurred, the new
strokes start at its highest points, short, with the target's colour there and a radius
that shrinks from round to round; Adam then fits the round's strokes (in logit space, so
they stay in 0..1) to lower the error of the canvas they are painted on, which is kept
fixed. A round's strokes are final once fitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from museforge.paint.strokes import STROKE_SIZE, BrushConfig, blank, paint


@dataclass(frozen=True)
class OptimizeConfig:
    per_round: int = 10  # strokes added and fitted together
    iterations: int = 40  # Adam steps per round
    lr: float = 0.1  # in logit space
    start_radius: float = 0.5  # radius parameter of the first round's strokes
    end_radius: float = 0.1  # ... and of the last round's


def _logit(x: Tensor) -> Tensor:
    x = x.clamp(1e-3, 1 - 1e-3)
    return torch.log(x / (1 - x))


def _peaks(error: Tensor, count: int, gen: torch.Generator) -> Tensor:
    """``count`` pixel positions ``[count, 2]`` (x, y in 0..1) drawn where the blurred
    error is high: the error map to the fourth power, as a distribution."""
    _, _, h, w = error.shape
    blurred = F.avg_pool2d(error, 5, stride=1, padding=2, count_include_pad=False)
    weight = blurred.flatten() ** 4 + 1e-12
    idx = torch.multinomial(weight, count, replacement=False, generator=gen)
    ys, xs = idx // w, idx % w
    return torch.stack([(xs.float() + 0.5) / w, (ys.float() + 0.5) / h], dim=1)


def optimize_strokes(
    target: Tensor,
    count: int,
    *,
    brush: BrushConfig | None = None,
    config: OptimizeConfig | None = None,
    seed: int = 0,
    canvas: Tensor | None = None,
    keep: Tensor | None = None,
    on_stroke: Callable[[int], None] | None = None,
) -> Tensor:
    """``count`` strokes ``[count, 13]`` for ``target [1, 3, H, W]``, round by round."""
    brush, config = brush or BrushConfig(), config or OptimizeConfig()
    gen = torch.Generator().manual_seed(seed)
    _, _, h, w = target.shape
    canvas = blank(1, h, w) if canvas is None else canvas.clone()
    rounds = -(-count // config.per_round)
    chosen: list[Tensor] = []
    for r in range(rounds):
        n = min(config.per_round, count - len(chosen))
        error = ((canvas - target) ** 2).sum(dim=1, keepdim=True)
        if keep is not None:
            error = error * (1 - keep)
        centre = _peaks(error, n, gen)
        offset = (torch.rand(n, 2, generator=gen) - 0.5) * 0.1
        radius = config.start_radius + (config.end_radius - config.start_radius) * (
            r / max(1, rounds - 1)
        )
        px = (centre[:, 0] * w).long().clamp(0, w - 1)
        py = (centre[:, 1] * h).long().clamp(0, h - 1)
        init = torch.cat(
            [
                centre - offset,
                torch.full((n, 2), 0.5),
                centre + offset,
                torch.full((n, 2), radius),
                torch.ones(n, 2),
                target[0, :, py, px].T,
            ],
            dim=1,
        )
        logits = _logit(init).requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=config.lr)
        for _ in range(config.iterations):
            opt.zero_grad()
            painted = paint(canvas, torch.sigmoid(logits)[None], brush, keep)
            loss = ((painted - target) ** 2).mean()
            loss.backward()
            opt.step()
        with torch.no_grad():
            strokes = torch.sigmoid(logits)
            canvas = paint(canvas, strokes[None], brush, keep)
        chosen.append(strokes.detach())
        if on_stroke is not None:
            on_stroke(sum(len(c) for c in chosen))
    return torch.cat(chosen) if chosen else torch.empty(0, STROKE_SIZE)
