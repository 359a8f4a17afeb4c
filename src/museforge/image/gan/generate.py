"""Sampling a trained GAN: load it by folder, draw images for a seed, lay them out.

A sample is a function of (model, seed, n, truncation): the latents come from a
generator seeded by ``seed``, DCGAN's batch norm uses its running statistics (eval mode),
and StyleGAN draws from ``G_ema`` with its constant per-pixel noise, so the same call
gives the same bytes every time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from museforge.core.checkpoints import load_model
from museforge.errors import UserError
from museforge.image.gan.dcgan import DCGAN
from museforge.image.gan.stylegan import StyleGAN

CHUNK = 64  # latents per forward pass: bounds memory at 256 px; fixed, so results repeat


def load_gan(name_or_path: str | Path) -> DCGAN | StyleGAN:
    """A GAN model folder (or shipped name) as DCGAN or StyleGAN, by its config's model_type."""
    return load_model(name_or_path, (DCGAN, StyleGAN), "a GAN")


@torch.no_grad()
def sample(model: DCGAN | StyleGAN, n: int, seed: int, truncation_psi: float = 1.0) -> np.ndarray:
    """``n`` images as uint8 ``[n, H, W, 3]``, the same bytes for the same arguments.

    ``truncation_psi`` < 1 (StyleGAN only) pulls each ``w`` toward the average: more
    typical images, less variety; 0 gives the average image for every seed. A conditional
    model gets labels 0, 1, 2, ... in turn.
    """
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    check_truncation(model, truncation_psi)
    z = torch.randn(n, model.config.z_dim, generator=torch.Generator().manual_seed(seed))
    labels = class_labels(model, n)
    device = next(model.parameters()).device
    with eval_mode(model):
        chunks = []
        for start in range(0, n, CHUNK):
            part = slice(start, start + CHUNK)
            z_part = z[part].to(device)
            y_part = None if labels is None else labels[part].to(device)
            if isinstance(model, StyleGAN):
                images = model.generate(z_part, y_part, truncation_psi=truncation_psi)
            else:
                images = model.generate(z_part, y_part)
            chunks.append(images.cpu())
    return to_pixels(torch.cat(chunks))


def check_truncation(model: DCGAN | StyleGAN, truncation_psi: float) -> None:
    if isinstance(model, DCGAN) and truncation_psi != 1.0:
        raise UserError("truncation works on StyleGAN's w; a DCGAN samples with psi 1 only")


def class_labels(model: DCGAN | StyleGAN, n: int) -> Tensor | None:
    """Labels 0, 1, 2, ... in turn for a conditional model; None for an unconditional one."""
    num_classes = model.config.num_classes
    return torch.arange(n) % num_classes if num_classes else None


@contextmanager
def eval_mode(model: DCGAN | StyleGAN) -> Iterator[None]:
    """DCGAN's batch norm on its running statistics, so an image depends on its z only;
    the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def to_pixels(images: Tensor) -> np.ndarray:
    """Images ``[N, 3, H, W]`` in -1..1 as uint8 ``[N, H, W, 3]``."""
    pixels = ((images.detach().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def grid(images: np.ndarray, cols: int | None = None, gap: int = 2) -> Image.Image:
    """uint8 images ``[n, H, W, 3]`` in rows of ``cols`` (default: a near square), on white
    with ``gap`` pixels between them."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise UserError(f"grid takes uint8 images [n, H, W, 3], got {images.dtype} {images.shape}")
    n, h, w, _ = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    if cols < 1:
        raise UserError(f"cols must be at least 1, got {cols}")
    rows = math.ceil(n / cols)
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        top, left = gap + (i // cols) * (h + gap), gap + (i % cols) * (w + gap)
        sheet[top : top + h, left : left + w] = image
    return Image.fromarray(sheet, "RGB")
