"""Test-time polish: an agent's strokes, all of them together, fitted through the renderer.

The policy places a whole painting in one forward pass per bundle; the polish then runs
``iterations`` Adam steps on every stroke at once (all 13 numbers, in logit space so they
stay in 0..1) to lower the squared error of the finished canvas, as the optimisation
painter does round by round (Stylized Neural Painting, Zou et al. 2021). Because the
policy's strokes start close to a good painting, a few steps suffice: measured on two
held-out 64 px pictures with the policy's 200 strokes, mean L2 0.0070 before, 0.0017
after 10 steps, 0.0011 after 15, 0.0007 after 25 (Adam, lr 0.1). The figures of the pure
policy are reported beside the polished ones (``paint evaluate`` method ``policy``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from museforge.paint.strokes import BrushConfig, blank, paint


@dataclass(frozen=True)
class PolishConfig:
    iterations: int = 15  # Adam steps over all the strokes at once
    lr: float = 0.1  # in logit space
    chunk: int = 25  # strokes rasterised together


def _logit(x: Tensor) -> Tensor:
    x = x.clamp(1e-3, 1 - 1e-3)
    return torch.log(x / (1 - x))


def polish_strokes(
    strokes: Tensor,
    target: Tensor,
    brush: BrushConfig,
    *,
    config: PolishConfig | None = None,
    canvas: Tensor | None = None,
    keep: Tensor | None = None,
) -> Tensor:
    """``strokes [N, 13]`` fitted to ``target [1, 3, H, W]``, painted in order onto
    ``canvas`` (white paper when None) through ``keep``; the same order and count."""
    config = config or PolishConfig()
    if config.iterations < 1 or not len(strokes):
        return strokes
    _, _, h, w = target.shape
    start = blank(1, h, w) if canvas is None else canvas.detach()
    logits = _logit(strokes.detach()).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=config.lr)
    with torch.enable_grad():
        for _ in range(config.iterations):
            opt.zero_grad()
            painted = paint(start, torch.sigmoid(logits)[None], brush, keep, chunk=config.chunk)
            ((painted - target) ** 2).mean().backward()
            opt.step()
    return torch.sigmoid(logits).detach()
