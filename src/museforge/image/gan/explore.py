"""Exploring a trained GAN: style mixing, interpolation, variations, projection of a given
picture into the latent space (GAN inversion), and measures of the samples against real
images.

Latents. A StyleGAN's latent here is ``ws`` ``[N, num_ws, w_dim]``, one ``w`` per synthesis
layer after the mapping network and truncation; a DCGAN's is ``z`` ``[N, z_dim]``. A seed's
latent is the one ``sample(model, 1, seed)`` draws, and every image is drawn in a forward
pass of its own: StyleGAN's grouped convolution rounds a batch of one a little differently
from a larger batch, and a seed's image must be the same bytes wherever it appears. Paths
run straight in ``w``, which Karras et al. (2019) find the more linear space, and along
great circles in ``z`` (White 2016). A conditional model draws class 0 throughout.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.core.latent import slerp
from museforge.core.progress import track
from museforge.errors import BadInputFile, UserError
from museforge.image.data import (
    ImageDataset,
    build_image_dataset,
    centre_square,
    load_image_dataset,
    to_float_pixels,
)
from museforge.image.gan.dcgan import DCGAN
from museforge.image.gan.generate import check_truncation, eval_mode, sample, to_pixels
from museforge.image.gan.kid import kid_report
from museforge.image.gan.metrics import (
    ms_ssim_diversity,
    nearest_neighbour_ratio,
    sliced_wasserstein_distance,
    swd_floor,
)
from museforge.image.gan.perceptual import PerceptualDistance
from museforge.image.gan.stylegan import StyleGAN
from museforge.image.io import open_image

COARSE_RES = 8  # Karras et al. 2019, fig. 3: styles of 4-8 px set pose and shape ("coarse")
GIF_FRAME_MS = 80  # 12.5 frames a second; GIF counts time in steps of 10 ms
GIF_MIN_FRAME_MS = 20  # browsers show shorter frames at 100 ms
PROJECT_STEPS = 300  # the paper's 1000 are for LPIPS at 1024 px; MSE at 32-256 px needs fewer
PROJECT_STARTS = 32  # candidate starts: each costs one forward pass
PROJECT_DISTANCES = ("perceptual", "pixel")
PROJECT_LR = 0.1  # Karras et al. 2020's peak Adam step, here decaying to 0 along a cosine
EVAL_SAMPLES = 500  # MS-SSIM and nearest neighbours settle by a few hundred; more costs time


def seed_latents(
    model: DCGAN | StyleGAN, seeds: Sequence[int], truncation_psi: float = 1.0
) -> Tensor:
    """The latents of ``seeds``: ``ws`` for a StyleGAN, ``z`` for a DCGAN (on the CPU)."""
    check_truncation(model, truncation_psi)
    if not seeds:
        raise UserError("give at least one seed")
    z = _seed_z(model, seeds)
    if isinstance(model, DCGAN):
        return z
    device = _device(model)
    with torch.no_grad():  # one at a time: a batch of one multiplies matrices its own way
        ws = [
            model.G_ema.mapping(
                z_one[None].to(device), _class0(model, 1, device), truncation_psi=truncation_psi
            )
            for z_one in z
        ]
    return torch.cat(ws).cpu()


@torch.no_grad()
def render(model: DCGAN | StyleGAN, latents: Tensor) -> np.ndarray:
    """The images of ``latents`` as uint8 ``[N, H, W, 3]``, each drawn on its own."""
    device = _device(model)
    with eval_mode(model):
        images = [_synthesise(model, latent[None].to(device)) for latent in latents]
    return to_pixels(torch.cat(images))


def blend(model: DCGAN | StyleGAN, a: Tensor, b: Tensor, t: Tensor | float) -> Tensor:
    """``a`` moved ``t`` of the way to ``b``: straight in ``w``, along a great circle in ``z``;
    ``a`` and ``b`` bit for bit at ``t`` 0 and 1."""
    if isinstance(model, StyleGAN):
        return torch.lerp(a, b, torch.as_tensor(t, dtype=a.dtype).reshape(-1, 1, 1))
    return slerp(a, b, t)


def coarse_crossover(model: StyleGAN) -> int:
    """The first layer above ``COARSE_RES`` px: the layers before it carry the coarse styles."""
    blocks = model.G_ema.synthesis.blocks  # 4 px, 8 px, 16 px, ...
    return sum(len(convs) for k, convs in enumerate(blocks) if 4 * 2**k <= COARSE_RES)


def mix_grid(
    model: DCGAN | StyleGAN,
    coarse_seeds: Sequence[int],
    fine_seeds: Sequence[int],
    crossover: int | None = None,
    truncation_psi: float = 1.0,
) -> np.ndarray:
    """Style mixing laid out as in Karras et al. 2019 ("A Style-Based Generator
    Architecture for GANs"), figure 3: uint8 cells ``[1 + rows, 1 + cols, H, W, 3]``.

    Row 0 holds the fine seeds' images, column 0 the coarse seeds' ones, and cell [0, 0]
    is white. Cell [i, j] takes the styles of the layers before ``crossover`` (default:
    those up to 8 x 8 px) from coarse seed i - 1 and the rest from fine seed j - 1.
    """
    if not isinstance(model, StyleGAN):
        raise UserError("style mixing needs a StyleGAN; this model is a DCGAN, which has no w")
    check_truncation(model, truncation_psi)
    if not coarse_seeds or not fine_seeds:
        raise UserError("style mixing needs at least one coarse and one fine seed")
    crossover = coarse_crossover(model) if crossover is None else crossover
    device = _device(model)
    z_coarse, z_fine = (_seed_z(model, seeds).to(device) for seeds in (coarse_seeds, fine_seeds))
    cells = torch.cat(
        [
            model.mix(a[None], b[None], crossover, _class0(model, 1, device), truncation_psi)
            for a, b in itertools.product(z_coarse, z_fine)
        ]
    )
    mixed = to_pixels(cells).reshape(len(coarse_seeds), len(fine_seeds), *cells.shape[2:], 3)
    res = model.config.res
    sheet = np.full((len(coarse_seeds) + 1, len(fine_seeds) + 1, res, res, 3), 255, np.uint8)
    sheet[0, 1:] = render(model, seed_latents(model, fine_seeds, truncation_psi))
    sheet[1:, 0] = render(model, seed_latents(model, coarse_seeds, truncation_psi))
    sheet[1:, 1:] = mixed
    return sheet


def interpolate(
    model: DCGAN | StyleGAN, seeds: Sequence[int], frames: int, truncation_psi: float = 1.0
) -> np.ndarray:
    """A walk through the seeds' images: ``frames`` images from each seed towards the next,
    then the last seed's, uint8 ``[frames * (len(seeds) - 1) + 1, H, W, 3]``.

    Image ``k * frames`` is seed ``k``'s own image, the same bytes as ``sample(model, 1,
    seed)``. To close a loop, give the first seed again at the end.
    """
    if len(seeds) < 2:
        raise UserError(f"an interpolation needs at least 2 seeds, got {len(seeds)}")
    if frames < 2:
        raise UserError(
            f"frames must be at least 2 (a seed and a step towards the next), not {frames}"
        )
    latents = seed_latents(model, seeds, truncation_psi)
    t = torch.arange(frames) / frames
    path = [blend(model, a[None], b[None], t) for a, b in itertools.pairwise(latents)]
    return render(model, torch.cat([*path, latents[-1:]]))


def save_gif(frames: np.ndarray, path: str | Path, duration_ms: int = GIF_FRAME_MS) -> Path:
    """uint8 frames ``[n, H, W, 3]`` as an animated GIF that loops forever, written whole.

    Each frame gets its own 256-colour palette. Pillow merges a frame identical to the one
    before into one longer frame.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise UserError(f"a GIF takes uint8 frames [n, H, W, 3], got {frames.dtype} {frames.shape}")
    if duration_ms < GIF_MIN_FRAME_MS:
        raise UserError(f"a frame must last at least {GIF_MIN_FRAME_MS} ms, not {duration_ms}")
    first, *rest = (Image.fromarray(frame, "RGB") for frame in frames)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            first.save(
                tmp, format="GIF", save_all=True, append_images=rest, loop=0, duration=duration_ms
            )
    except OSError as err:
        raise BadInputFile(path, f"cannot be written: {err.strerror or err}") from None
    return path


def vary(
    model: DCGAN | StyleGAN, seed: int, amount: float, n: int, truncation_psi: float = 1.0
) -> np.ndarray:
    """``n`` variations of seed ``seed``'s image, uint8 ``[n, H, W, 3]``: amount 0 gives the
    image itself, 1 the images of seeds ``seed + 1`` ... ``seed + n``."""
    latent = seed_latents(model, [seed], truncation_psi)
    return vary_latent(model, latent, amount, n, seed, truncation_psi)


def vary_latent(
    model: DCGAN | StyleGAN,
    latent: Tensor,
    amount: float,
    n: int,
    seed: int = 0,
    truncation_psi: float = 1.0,
) -> np.ndarray:
    """``n`` images around ``latent`` ``[1, ...]``: it moved ``amount`` of the way towards
    the latents of seeds ``seed + 1`` ... ``seed + n``, one each."""
    if not 0.0 <= amount <= 1.0:
        raise UserError(f"amount must be between 0 and 1, got {amount}")
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    others = seed_latents(model, range(seed + 1, seed + n + 1), truncation_psi)
    if latent.shape != (1, *others.shape[1:]):
        raise UserError(
            f"the latent must have shape {(1, *others.shape[1:])} for this model, "
            f"got {tuple(latent.shape)}"
        )
    return render(model, blend(model, latent.cpu(), others, amount))


# --- projection ------------------------------------------------------------------------


@dataclass
class Projection:
    """A picture found in a GAN: its latent ``[1, ...]``, the rebuilt image and the target
    (uint8 ``[H, W, 3]`` at the model's size), how close they are in dB, and the loss at
    each step."""

    latent: Tensor
    image: np.ndarray
    target: np.ndarray
    psnr: float
    losses: list[float] = field(default_factory=list)


def project(
    model: DCGAN | StyleGAN,
    target: np.ndarray | Tensor | Image.Image | str | Path,
    steps: int = PROJECT_STEPS,
    seed: int = 0,
    *,
    lr: float = PROJECT_LR,
    starts: int = PROJECT_STARTS,
    distance: str = "perceptual",
    progress: bool = False,
) -> Projection:
    """The latent whose image comes closest to ``target``: GAN inversion as StyleGAN2's
    projector does it (Karras et al. 2020, section 5), Adam on the latent with its step
    decaying along a cosine.

    ``target``: a file, a Pillow image, uint8 pixels ``[H, W, 3]``, or a tensor ``[3, H,
    W]`` (uint8, or float in -1..1); it is centre-cropped and resized to the model's size.

    Where this differs from the paper, small models measured the change: a StyleGAN's
    latent is ``w+``, one ``w`` per layer, which reaches more pictures than one ``w``; the
    start is whichever image is closest to the target, the centre's (``w_avg``, or a
    DCGAN's zero ``z``) or that of a seed ``seed`` ... ``seed + starts - 1``, a random
    restart for one forward pass each that escapes many local minima; the loss is measured
    on the clamped image (a pixel driven past the target's white or black shows right and
    must not pull the latent back): ``distance="perceptual"`` is the paper's LPIPS-style
    VGG16 distance plus the pixel MSE (``perceptual.py``), ``"pixel"`` the MSE alone, which
    needs no pretrained weights; the paper's noise on ``w`` in the first steps is left out,
    as it slowed the fit.
    """
    if steps < 1 or starts < 0:
        raise UserError(f"steps must be at least 1 and starts at least 0, got {steps}, {starts}")
    if distance not in PROJECT_DISTANCES:
        raise UserError(f"distance {distance!r}: choose {' or '.join(PROJECT_DISTANCES)}")
    pixels = _as_target(target, model.config.res)
    device = _device(model)
    goal = to_float_pixels(torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]).to(device)
    latent = _closest_start(model, pixels, seed, starts).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)
    measure = (
        PerceptualDistance(goal).to(device)
        if distance == "perceptual"
        else partial(F.mse_loss, target=goal)
    )
    losses = []
    with eval_mode(model):
        for step in track(range(steps), steps, "projecting", progress):
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            loss = measure(_synthesise(model, latent).clamp(-1.0, 1.0))
            (latent.grad,) = torch.autograd.grad(loss, [latent])  # G's weights need no grads
            optimizer.step()
            losses.append(loss.item())
    latent = latent.detach().cpu()
    image = render(model, latent)[0]
    return Projection(latent, image, pixels, psnr(image, pixels), losses)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf for identical ones)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _closest_start(model: DCGAN | StyleGAN, pixels: np.ndarray, seed: int, starts: int) -> Tensor:
    """Of the centre and the latents of ``starts`` seeds, the one whose image is closest."""
    if isinstance(model, DCGAN):
        candidates = [torch.zeros(1, model.config.z_dim)]
    else:
        mapping = model.G_ema.mapping
        candidates = [mapping.w_avg.detach().cpu()[None, None].repeat(1, mapping.num_ws, 1)]
    if starts:
        candidates.append(seed_latents(model, range(seed, seed + starts)))
    latents = torch.cat(candidates)
    images = render(model, latents).astype(np.float64)
    errors = ((images - pixels) ** 2).mean(axis=(1, 2, 3))
    return latents[int(np.argmin(errors))][None]


def _as_target(target: np.ndarray | Tensor | Image.Image | str | Path, res: int) -> np.ndarray:
    if isinstance(target, str | Path):
        target = open_image(target)  # Pillow's pixel limit on: a bomb is refused, not decoded
    if isinstance(target, Tensor):
        if target.dim() == 3:
            target = target[None]
        if target.dim() != 4 or target.shape[:2] != (1, 3):
            raise UserError(f"a target tensor must be [3, H, W], got {tuple(target.shape)}")
        target = to_pixels(to_float_pixels(target))[0]
    if isinstance(target, np.ndarray):
        if target.dtype != np.uint8 or target.ndim != 3 or target.shape[-1] != 3:
            raise UserError(f"a target must be uint8 [H, W, 3], got {target.dtype} {target.shape}")
        target = Image.fromarray(target, "RGB")
    if not isinstance(target, Image.Image):
        raise UserError(f"cannot project a {type(target).__name__}; give an image")
    image = target.convert("RGB")
    if image.size != (res, res):
        image = centre_square(image, res)
    return np.asarray(image, dtype=np.uint8)


# --- evaluation ------------------------------------------------------------------------


def evaluate(
    model: DCGAN | StyleGAN,
    data: ImageDataset | str | Path,
    n_samples: int = EVAL_SAMPLES,
    seed: int = 0,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure ``n_samples`` samples against the images the model learnt from.

    ``data``: an image cache (.npz) at the model's size, a loaded one, or a folder or
    ``skimage:lfw_subset``, read into a temporary cache. See ``evaluate_images``.
    """
    if n_samples < 2:
        raise UserError(f"evaluation needs at least 2 samples, got {n_samples}")
    real = _real_images(data, model.config.res, progress)
    fake = torch.from_numpy(sample(model, n_samples, seed)).permute(0, 3, 1, 2)
    return evaluate_images(fake, real, seed)


def evaluate_images(fake: Tensor, real: Tensor, seed: int = 0) -> dict[str, Any]:
    """How ``fake`` images ``[N, 3, H, W]`` compare with ``real`` ones (see ``metrics``).

    ``swd``: the sliced Wasserstein distance x 10^3 between ``n`` samples and ``n`` real
    images, ``n`` at most half the real ones, so that ``swd_floor`` measures real against
    other real images at the same ``n``: a model can hardly do better (lower is better).
    ``ms_ssim``: the mean MS-SSIM of pairs of samples, to read beside ``ms_ssim_real``, the
    real images' own (well above it: the samples are too alike). ``nn_ratio``: how close
    samples come to their nearest real image against how close real images come to each
    other (near 0: copies). ``kid`` and ``kid_std``: the kernel inception distance on
    ImageNet MobileNetV2 features (``kid.py``), beside ``kid_real``, one half of the real
    images against the other.
    """
    if fake.shape[0] < 2 or real.shape[0] < 2:
        raise UserError(
            f"evaluation needs at least 2 samples and 2 real images, got {fake.shape[0]} "
            f"and {real.shape[0]}"
        )
    n = min(fake.shape[0], real.shape[0] // 2)
    order = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(seed))
    swd = sliced_wasserstein_distance(fake[:n], real[order[:n]], seed=seed)
    floor = swd_floor(real[order[: 2 * n]], seed=seed)
    nearest = nearest_neighbour_ratio(fake, real)
    return {
        "swd": swd.pop("mean"),
        "swd_floor": floor.pop("mean"),
        **kid_report(fake, real, seed),
        "ms_ssim": ms_ssim_diversity(fake, seed=seed),
        "nn_ratio": nearest["ratio"],
        "swd_levels": swd,
        "swd_floor_levels": floor,
        "swd_images": n,
        "ms_ssim_real": ms_ssim_diversity(real, seed=seed),
        "nn_sample_median": nearest["sample_median"],
        "nn_real_median": nearest["train_median"],
        "samples": int(fake.shape[0]),
        "real_images": int(real.shape[0]),
    }


def _real_images(data: ImageDataset | str | Path, res: int, progress: bool) -> Tensor:
    """The uint8 images of a data set at ``res`` px, read into a temporary cache if need be."""
    if isinstance(data, ImageDataset):
        dataset = data
    elif str(data).endswith(".npz") or Path(data).expanduser().is_file():
        dataset = load_image_dataset(data)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            cache = build_image_dataset(data, Path(scratch) / "images.npz", res, progress=progress)
            dataset = load_image_dataset(cache)
    if dataset.res != res:
        raise UserError(
            f"{dataset.source}: the cache holds {dataset.res} px images and the model makes "
            f"{res} px ones; give the image folder, or a cache built at {res} px"
        )
    return dataset.images


# --- shared ----------------------------------------------------------------------------


def _device(model: DCGAN | StyleGAN) -> torch.device:
    return next(model.parameters()).device


def _class0(model: DCGAN | StyleGAN, n: int, device: torch.device) -> Tensor | None:
    return torch.zeros(n, dtype=torch.long, device=device) if model.config.num_classes else None


def _seed_z(model: DCGAN | StyleGAN, seeds: Sequence[int]) -> Tensor:
    return torch.cat(
        [
            torch.randn(1, model.config.z_dim, generator=torch.Generator().manual_seed(seed))
            for seed in seeds
        ]
    )


def _synthesise(model: DCGAN | StyleGAN, latent: Tensor) -> Tensor:
    """Images ``[N, 3, H, W]`` of latents on the model's device, not clamped."""
    if isinstance(model, StyleGAN):
        return model.G_ema.synthesis(latent, noise_mode="const")
    return model.G(latent, _class0(model, latent.shape[0], latent.device))
