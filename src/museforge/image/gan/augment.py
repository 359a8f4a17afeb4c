"""Adaptive discriminator augmentation, ADA (Karras et al. 2020).

Karras, Aittala, Hellsten, Laine, Lehtinen & Aila 2020, "Training Generative Adversarial
Networks with Limited Data": with a few thousand images D memorises the training set and
training collapses. ADA shows D only augmented images, real and fake alike, through
differentiable transformations, so G's gradients pass through them and G learns the
clean distribution as long as each one is applied with probability ``p`` well below 1
(the augmentations do not "leak"). ``p`` is tuned while training: an overfitting D is
too sure of the reals, so ADA raises ``p`` when ``r_t = E[sign(D(real))]`` exceeds 0.6.

``augment`` applies the paper's geometric and colour transformations plus cutout (DeVries
& Taylor 2017), each to each image with probability ``p``, in the paper's order: x-flip,
90-degree rotation, integer translation, isotropic scaling and arbitrary rotation, then
brightness, contrast and saturation, then cutout. Random numbers come from a
``torch.Generator``, so a run repeats exactly. Images are ``[N, C, S, S]``, in -1..1.

Simplification: scaling and rotation resample bilinearly with reflected borders, where
the paper uses a wavelet filter to avoid aliasing; keep ``p`` at most about 0.8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

OPS = (
    "xflip",
    "rotate90",
    "translate",
    "scale",
    "rotate",
    "brightness",
    "contrast",
    "saturation",
    "cutout",
)


@dataclass
class AugmentConfig:
    """Which transformations run, and how strong each is (the paper's values)."""

    ops: tuple[str, ...] = OPS
    translate_max: float = 0.125  # integer shifts of up to 1/8 of the image side
    scale_std: float = 0.2  # log2 of the scale factor ~ N(0, 0.2)
    rotate_max: float = 1.0  # angle ~ U(-rotate_max, rotate_max) * 180 degrees
    brightness_std: float = 0.2  # an offset ~ N(0, 0.2) on -1..1 pixels
    contrast_std: float = 0.5  # log2 of the contrast factor ~ N(0, 0.5)
    saturation_std: float = 1.0  # log2 of the saturation factor ~ N(0, 1)
    cutout_size: float = 0.5  # the erased square's side, as a fraction of the image side

    def __post_init__(self) -> None:
        unknown = set(self.ops) - set(OPS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; choose from {OPS}")
        if not 0 <= self.translate_max < 0.5:
            raise ValueError("translate_max must lie in [0, 0.5)")


def augment(
    x: Tensor, p: float, generator: torch.Generator, config: AugmentConfig | None = None
) -> Tensor:
    """``x`` ``[N, C, S, S]`` with each transformation applied to each image with chance ``p``.

    Differentiable with respect to ``x``; ``p = 0`` returns ``x`` itself.
    """
    config = config or AugmentConfig()
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], not {p}")
    if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"augment takes square images [N, C, S, S], got {tuple(x.shape)}")
    if p == 0.0:
        return x
    draw = _Draw(generator, x.shape[0], x.device)
    ops = set(config.ops)
    if "xflip" in ops:
        x = _pick(draw.chosen(p), x.flip(-1), x)
    if "rotate90" in ops:
        x = _rotate90(x, draw.integers(4) * draw.chosen(p))
    if "translate" in ops:
        shift = (draw.uniform(2) * 2 - 1) * config.translate_max * x.shape[-1]
        pad = math.ceil(config.translate_max * x.shape[-1])
        x = _translate(x, shift.round().long() * draw.chosen(p)[:, None], pad)
    if "scale" in ops or "rotate" in ops:
        x = _scale_rotate(x, p, draw, config, ops)
    if "brightness" in ops:
        x = x + (draw.normal() * config.brightness_std * draw.chosen(p))[:, None, None, None]
    if "contrast" in ops:
        factor = (2 ** (draw.normal() * config.contrast_std))[:, None, None, None]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = _pick(draw.chosen(p), (x - mean) * factor + mean, x)
    if "saturation" in ops:
        factor = (2 ** (draw.normal() * config.saturation_std))[:, None, None, None]
        grey = x.mean(dim=1, keepdim=True)
        x = _pick(draw.chosen(p), (x - grey) * factor + grey, x)
    if "cutout" in ops:
        x = _pick(draw.chosen(p), x * _cutout_mask(x, draw, config.cutout_size), x)
    return x


class _Draw:
    """Random numbers per image from ``generator`` (on its own device), moved to the images'."""

    def __init__(self, generator: torch.Generator, n: int, device: torch.device) -> None:
        self.generator, self.n, self.device = generator, n, device

    def uniform(self, *shape: int) -> Tensor:
        g = self.generator
        return torch.rand(self.n, *shape, generator=g, device=g.device).to(self.device)

    def normal(self) -> Tensor:
        g = self.generator
        return torch.randn(self.n, generator=g, device=g.device).to(self.device)

    def integers(self, high: int) -> Tensor:
        g = self.generator
        return torch.randint(high, (self.n,), generator=g, device=g.device).to(self.device)

    def chosen(self, p: float) -> Tensor:
        """1 for the images a transformation applies to (chance ``p``), else 0."""
        return (self.uniform() < p).long()


def _pick(chosen: Tensor, changed: Tensor, x: Tensor) -> Tensor:
    return torch.where(chosen.bool()[:, None, None, None], changed, x)


def _rotate90(x: Tensor, quarters: Tensor) -> Tensor:
    out = x
    for k in (1, 2, 3):
        out = _pick(quarters == k, torch.rot90(x, k, dims=(2, 3)), out)
    return out


def _translate(x: Tensor, shift: Tensor, pad: int) -> Tensor:
    """Each image moved by whole pixels ``shift`` ``[N, 2]`` (x, y), at most ``pad``; borders
    reflect."""
    n, _, size, _ = x.shape
    if pad == 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    ramp = torch.arange(size, device=x.device) + pad
    cols = ramp[None, :] - shift[:, 0:1]  # [N, S]
    rows = ramp[None, :] - shift[:, 1:2]
    images = torch.arange(n, device=x.device)[:, None, None]
    out = padded[images, :, rows[:, :, None], cols[:, None, :]]  # [N, S, S, C]
    return out.permute(0, 3, 1, 2)


def _scale_rotate(x: Tensor, p: float, draw: _Draw, config: AugmentConfig, ops: set[str]) -> Tensor:
    """Isotropic scaling and rotation about the centre, resampled once together."""
    scale = torch.ones(x.shape[0], device=x.device)
    angle = torch.zeros(x.shape[0], device=x.device)
    if "scale" in ops:
        scale = torch.where(draw.chosen(p) == 1, 2 ** (draw.normal() * config.scale_std), scale)
    if "rotate" in ops:
        turn = (draw.uniform() * 2 - 1) * math.pi * config.rotate_max
        angle = torch.where(draw.chosen(p) == 1, turn, angle)
    moved = (scale != 1) | (angle != 0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    zero = torch.zeros_like(cos)
    theta = torch.stack([cos, -sin, zero, sin, cos, zero], dim=1).view(-1, 2, 3).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    resampled = F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    return _pick(moved, resampled, x)


def _cutout_mask(x: Tensor, draw: _Draw, size: float) -> Tensor:
    """0 inside a square of side ``size`` (of the image) centred at random, 1 elsewhere."""
    side = x.shape[-1]
    centre = draw.uniform(2)  # x, y in 0..1
    coords = (torch.arange(side, device=x.device, dtype=x.dtype) + 0.5) / side
    outside_x = (coords[None, :] - centre[:, 0:1]).abs() >= size / 2  # [N, S]
    outside_y = (coords[None, :] - centre[:, 1:2]).abs() >= size / 2
    keep = outside_y[:, :, None] | outside_x[:, None, :]  # [N, S, S]
    return keep[:, None].to(x.dtype)


# --- the adaptive p ---------------------------------------------------------------------


@dataclass
class AdaConfig:
    """ADA's controller: how fast ``p`` moves, and toward which overfitting measure."""

    target: float = 0.6  # Karras et al.: the r_t that marks overfitting
    interval: int = 4  # Karras et al.: p moves every 4 minibatches
    # p can go from 0 to 1 in this many thousand images; the paper's 500 suits 70k-image
    # sets and long runs, small sets overfit within a few thousand steps
    speed_kimg: float = 100.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.interval < 1 or self.speed_kimg <= 0 or not 0 <= self.target <= 1:
            raise ValueError("interval must be >= 1, speed_kimg > 0 and target in [0, 1]")


class AdaptiveAugment:
    """``augment`` with a ``p`` that follows D's overfitting, as in ADA.

    Call ``update(D(augmented reals))`` each step of D; every ``interval`` calls ``p`` moves
    by ``images seen / (speed_kimg * 1000)`` up if ``r_t`` exceeds the target, down if not.
    ``state_dict`` holds plain numbers, so it fits in a checkpoint's JSON.
    """

    def __init__(self, config: AdaConfig | None = None, p: float = 0.0) -> None:
        self.config = config or AdaConfig()
        self.p = float(p)
        self.r_t: float | None = None  # the last measured E[sign(D(real))], for logs
        self._sign_sum: Tensor | float = 0.0  # a tensor on D's device between adjustments
        self._count = 0
        self._calls = 0

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return augment(x, self.p, generator, self.config.augment)

    def update(self, real_logits: Tensor) -> None:
        """Count the signs of D's logits for real images; adjust ``p`` every ``interval`` calls."""
        # kept on the device: reading it back every step would stall the GPU
        self._sign_sum = real_logits.detach().sign().float().sum() + self._sign_sum
        self._count += real_logits.numel()
        self._calls += 1
        if self._calls % self.config.interval or self._count == 0:
            return
        self.r_t = float(self._sign_sum) / self._count
        direction = (self.r_t > self.config.target) - (self.r_t < self.config.target)
        step = direction * self._count / (self.config.speed_kimg * 1000)
        self.p = min(max(self.p + step, 0.0), 1.0)
        self._sign_sum, self._count = 0.0, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "r_t": self.r_t,
            "sign_sum": float(self._sign_sum),
            "count": self._count,
            "calls": self._calls,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = float(state["p"])
        self.r_t = None if state["r_t"] is None else float(state["r_t"])
        self._sign_sum = float(state["sign_sum"])
        self._count = int(state["count"])
        self._calls = int(state["calls"])
