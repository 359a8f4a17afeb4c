"""Greedy stroke search: each stroke is the best of many random tries, then polished.

For every stroke, ``candidates`` random shapes are drawn at once; each gets the colour
that lowers the squared error most under its own coverage (a closed form: for coverage
``a``, canvas ``c`` and target ``t``, ``colour = sum(a (t - (1 - a) c)) / sum(a^2)``),
and the best one is kept if it lowers the error. ``refine`` rounds then try small
changes of the winner. The stroke is final once painted: no look-ahead, no going back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from museforge.paint.strokes import STROKE_SIZE, BrushConfig, blank, composite, stroke_alpha


@dataclass(frozen=True)
class GreedyConfig:
    candidates: int = 64  # random shapes tried for each stroke
    refine: int = 4  # rounds of small changes to the winner
    refine_candidates: int = 16  # changes tried in each round
    refine_scale: float = 0.05  # standard deviation of a change


def best_colour(alpha: Tensor, canvas: Tensor, target: Tensor, keep: Tensor | None) -> Tensor:
    """The colour ``[K, 3]`` that lowers the error most for each coverage ``alpha [K, H, W]``."""
    if keep is not None:
        alpha = alpha * (1 - keep[0])
    a = alpha[:, None]  # [K, 1, H, W]
    num = (a * (target - (1 - a) * canvas)).sum(dim=(2, 3))
    den = (a * a).sum(dim=(2, 3)).clamp_min(1e-6)
    return (num / den).clamp(0.0, 1.0)


def _score(
    shapes: Tensor, canvas: Tensor, target: Tensor, brush: BrushConfig, keep: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Strokes with their best colours, and the error each leaves ``[K]``."""
    _, _, h, w = canvas.shape
    alpha = stroke_alpha(shapes, h, w, brush)
    if keep is not None:
        alpha = alpha * (1 - keep[0])
    strokes = shapes.clone()
    if not brush.pen:
        strokes[:, 10:13] = best_colour(alpha, canvas, target, None)
    color = strokes[:, 10:13] if not brush.pen else torch.tensor(brush.ink).expand(len(shapes), 3)
    painted = composite(canvas.expand(len(shapes), -1, -1, -1), alpha, color)
    return strokes, ((painted - target) ** 2).flatten(1).mean(dim=1)


@torch.no_grad()
def greedy_strokes(
    target: Tensor,
    count: int,
    *,
    brush: BrushConfig | None = None,
    config: GreedyConfig | None = None,
    seed: int = 0,
    canvas: Tensor | None = None,
    keep: Tensor | None = None,
    on_stroke: Callable[[int], None] | None = None,
) -> Tensor:
    """``count`` strokes ``[count, 13]`` that paint ``target [1, 3, H, W]`` one by one."""
    brush, config = brush or BrushConfig(), config or GreedyConfig()
    gen = torch.Generator().manual_seed(seed)
    _, _, h, w = target.shape
    canvas = blank(1, h, w) if canvas is None else canvas.clone()
    error = float(((canvas - target) ** 2).mean())
    chosen = []
    for i in range(count):
        shapes = torch.rand(config.candidates, STROKE_SIZE, generator=gen)
        strokes, errors = _score(shapes, canvas, target, brush, keep)
        best, best_error = strokes[errors.argmin()], float(errors.min())
        for _ in range(config.refine):
            noise = torch.randn(config.refine_candidates, STROKE_SIZE, generator=gen)
            tries = (best + config.refine_scale * noise).clamp(0.0, 1.0)
            strokes, errors = _score(tries, canvas, target, brush, keep)
            if float(errors.min()) < best_error:
                best, best_error = strokes[errors.argmin()], float(errors.min())
        if best_error >= error and not brush.pen:  # nothing helps: a stroke that paints nothing
            best = best.clone()
            best[8:10] = 0.0
        else:
            alpha = stroke_alpha(best[None], h, w, brush)
            if keep is not None:
                alpha = alpha * (1 - keep[0])
            color = best[None, 10:13] if not brush.pen else torch.tensor([brush.ink])
            canvas = composite(canvas, alpha, color)
            error = best_error
        chosen.append(best)
        if on_stroke is not None:
            on_stroke(i + 1)
    return torch.stack(chosen) if chosen else torch.empty(0, STROKE_SIZE)
