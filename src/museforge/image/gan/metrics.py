"""Measures of GAN samples that need no pretrained network, so they run offline on CPU.

- Sliced Wasserstein distance (Karras et al. 2018, "Progressive Growing of GANs for
  Improved Quality, Stability, and Variation", appendix D; their ``sliced_wasserstein.py``):
  how far the local patches of the samples lie from those of real images, at each level of
  a Laplacian pyramid. Lower is better; ``swd_floor`` gives the value real images reach
  against other real images, the best a model can hope for with that many images.
- MS-SSIM (Wang, Simoncelli & Bovik 2003, "Multi-scale structural similarity for image
  quality assessment"), used as Odena et al. (2017, AC-GAN) use it: the mean similarity of
  random pairs of samples, which rises when a generator collapses onto few images.
- The nearest-neighbour ratio: how close samples come to their nearest training image,
  against how close training images come to each other; near 0 means copies.

Images are ``[N, 3, H, W]`` tensors, float in -1..1 or uint8 0..255.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from museforge.errors import UserError
from museforge.image.data import to_float_pixels

# Sliced Wasserstein distance, with the reference implementation's settings
SWD_PATCH = 7  # pixels: the side of a patch ("neighbourhood")
SWD_PATCHES_PER_IMAGE = 128
SWD_REPEATS, SWD_DIRECTIONS = 4, 128  # 512 random projections, drawn 128 at a time
SWD_MIN_LEVEL = 16  # pixels: the pyramid stops at the first level below this
SWD_SCALE = 1e3  # the paper reports distances times 10^3
# cv2.pyrDown's binomial kernel, as the reference builds its pyramid with
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0

# MS-SSIM, with Wang et al.'s window, constants and scale weights
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_DATA_RANGE = 2.0  # pixels span -1..1
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DIVERSITY_PAIRS = 1000  # the mean's sampling error shrinks as 1/sqrt(pairs)

NN_CHUNK = 256  # samples compared with the training set at a time, to bound memory


def sliced_wasserstein_distance(fake: Tensor, real: Tensor, *, seed: int = 0) -> dict[str, float]:
    """SWD x 10^3 between two equally large sets of images, per pyramid level and on average.

    Returns ``{"32px": ..., "16px": ..., "mean": ...}`` for 32 px images. As in the
    reference, each set's patches are normalised by that set's own mean and deviation per
    channel, so the distance sees structure, not overall brightness or contrast. Both sets
    take their patches at the same random places, so a set against itself gives exactly 0.
    """
    fake, real = _as_images(fake, "fake"), _as_images(real, "real")
    if fake.shape != real.shape:
        raise UserError(
            f"SWD compares equally large sets of same-sized images; got fake {tuple(fake.shape)}"
            f" and real {tuple(real.shape)}"
        )
    if min(fake.shape[-2:]) < SWD_MIN_LEVEL:
        raise UserError(f"SWD needs images of at least {SWD_MIN_LEVEL} px, got {fake.shape[-1]}")
    generator = torch.Generator().manual_seed(seed)
    levels = _swd_level_count(fake.shape[-1])
    result = {}
    for fake_level, real_level in zip(
        _laplacian_pyramid(fake, levels), _laplacian_pyramid(real, levels), strict=True
    ):
        where = _patch_places(fake_level.shape, generator)
        a = _normalise(_patches(fake_level, *where))
        b = _normalise(_patches(real_level, *where))
        result[f"{fake_level.shape[-1]}px"] = _sliced_wasserstein(a, b, generator) * SWD_SCALE
    result["mean"] = sum(result.values()) / len(result)
    return result


def swd_floor(real: Tensor, seed: int = 0) -> dict[str, float]:
    """SWD between two random halves of ``real``: what real images score against real ones.

    It is measured on half as many images as ``sliced_wasserstein_distance(fake, real)``
    uses, so it sits a little above the true floor for the full set.
    """
    real = _as_images(real, "real")
    half = real.shape[0] // 2
    if half < 1:
        raise UserError(f"the SWD floor needs at least 2 real images, got {real.shape[0]}")
    order = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(seed))
    return sliced_wasserstein_distance(real[order[:half]], real[order[half : 2 * half]], seed=seed)


def ms_ssim(a: Tensor, b: Tensor) -> Tensor:
    """MS-SSIM of each pair ``a[i]``, ``b[i]``: a tensor ``[N]``, 1 for identical images.

    Wang et al. use five scales, each half the size of the last, with an 11 px Gaussian
    window. Here the scales stop where the window no longer fits (two scales at 32 px,
    three at 64, four at 128, five from 176), and the weights of the scales used are
    rescaled to sum to 1; the window stays Wang's so the values mean what they mean in
    the paper. Negative contrast-structure terms are clipped to 0, as ``pytorch_msssim``
    does, so that fractional powers stay real.
    """
    a, b = _as_images(a, "a"), _as_images(b, "b")
    if a.shape != b.shape:
        raise UserError(
            f"MS-SSIM compares images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    scales = _ssim_scale_count(min(a.shape[-2:]))
    if scales == 0:
        raise UserError(f"MS-SSIM needs images of at least {SSIM_WINDOW} px, got {a.shape[-1]}")
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales])
    weights = weights / weights.sum()
    window = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA)
    terms = []
    for scale in range(scales):
        if scale > 0:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        ssim, cs = _ssim_terms(a, b, window)
        terms.append((ssim if scale == scales - 1 else cs).clamp_min(0.0))
    per_channel = torch.prod(torch.stack(terms) ** weights[:, None, None], dim=0)
    return per_channel.mean(dim=1)


def ms_ssim_diversity(samples: Tensor, pairs: int = DIVERSITY_PAIRS, seed: int = 0) -> float:
    """Mean MS-SSIM over ``pairs`` random pairs of different samples (lower = more diverse)."""
    samples = _as_images(samples, "samples")
    n = samples.shape[0]
    if n < 2:
        raise UserError(f"MS-SSIM diversity needs at least 2 samples, got {n}")
    if pairs < 1:
        raise UserError(f"pairs must be at least 1, not {pairs}")
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(n, (pairs,), generator=generator)
    second = (first + torch.randint(1, n, (pairs,), generator=generator)) % n  # never first
    return float(ms_ssim(samples[first], samples[second]).mean())


def nearest_neighbour_ratio(samples: Tensor, train: Tensor) -> dict[str, float]:
    """How close samples come to the training set, against how close it comes to itself.

    ``sample_median``: the median L2 distance (pixels in -1..1) from a sample to its nearest
    training image; ``train_median``: the median distance from a training image to its
    nearest other one; ``ratio``: the first over the second. Near 0, the samples copy
    training images; near 1, they lie as close as training images lie to each other.
    """
    samples, train = _as_images(samples, "samples"), _as_images(train, "train")
    if samples.shape[1:] != train.shape[1:]:
        raise UserError(
            f"samples {tuple(samples.shape[1:])} and training images {tuple(train.shape[1:])}"
            " differ in shape"
        )
    if samples.shape[0] < 1 or train.shape[0] < 2:
        raise UserError("the nearest-neighbour ratio needs a sample and 2 training images")
    flat_train = train.flatten(1)
    sample_median = _nearest_distances(samples.flatten(1), flat_train).median()
    train_median = _nearest_distances(flat_train, flat_train, exclude_self=True).median()
    return {
        "ratio": float(sample_median / train_median.clamp_min(1e-12)),
        "sample_median": float(sample_median),
        "train_median": float(train_median),
    }


def _as_images(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise UserError(f"{name} must be a torch tensor of images, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise UserError(f"{name} must be RGB images [N, 3, H, W], got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise UserError(f"{name} must be uint8 or float images, got {x.dtype}")
    return to_float_pixels(x.detach().cpu())


def _swd_level_count(size: int) -> int:
    levels = 1
    while size // 2**levels >= SWD_MIN_LEVEL:
        levels += 1
    return levels


def _binomial_filter(x: Tensor, gain: float) -> Tensor:
    """The 5x5 binomial blur per channel, with mirrored edges (``scipy.ndimage`` "mirror")."""
    kernel = torch.outer(_BINOMIAL, _BINOMIAL) * gain
    kernel = kernel.expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def _pyr_down(x: Tensor) -> Tensor:
    return _binomial_filter(x, 1.0)[:, :, ::2, ::2]


def _pyr_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    up = x.new_zeros(x.shape[0], x.shape[1], *size)
    up[:, :, ::2, ::2] = x
    return _binomial_filter(up, 4.0)  # a quarter of the pixels are set: gain 4 keeps the mean


def _laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """Band-pass levels, finest first; the last is the remaining low-pass image."""
    pyramid = [x]
    for _ in range(levels - 1):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyr_up(pyramid[-1], pyramid[-2].shape[-2:])
    return pyramid


def _patch_places(shape: torch.Size, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Image index and top-left corner of ``SWD_PATCHES_PER_IMAGE`` patches per image."""
    n, _, height, width = shape
    count = n * SWD_PATCHES_PER_IMAGE
    image = torch.arange(n).repeat_interleave(SWD_PATCHES_PER_IMAGE)
    # Every place where a whole patch fits (the reference leaves out the last row and column).
    top = torch.randint(height - SWD_PATCH + 1, (count,), generator=generator)
    left = torch.randint(width - SWD_PATCH + 1, (count,), generator=generator)
    return image, top, left


def _patches(x: Tensor, image: Tensor, top: Tensor, left: Tensor) -> Tensor:
    """The patches ``[count, 3, SWD_PATCH, SWD_PATCH]`` at the given places."""
    offsets = torch.arange(SWD_PATCH)
    rows = (top[:, None] + offsets)[:, None, :, None]
    cols = (left[:, None] + offsets)[:, None, None, :]
    channels = torch.arange(x.shape[1])[None, :, None, None]
    return x[image[:, None, None, None], channels, rows, cols]


def _normalise(patches: Tensor) -> Tensor:
    """Zero mean and unit deviation per channel over all patches, flattened to descriptors."""
    mean = patches.mean(dim=(0, 2, 3), keepdim=True)
    std = patches.std(dim=(0, 2, 3), keepdim=True, correction=0).clamp_min(1e-8)
    return ((patches - mean) / std).flatten(1)


def _sliced_wasserstein(a: Tensor, b: Tensor, generator: torch.Generator) -> float:
    """Mean 1-d Wasserstein distance of ``a`` and ``b`` along random unit directions."""
    distances = []
    for _ in range(SWD_REPEATS):
        directions = torch.randn(a.shape[1], SWD_DIRECTIONS, generator=generator)
        directions = directions / directions.norm(dim=0, keepdim=True)
        projected_a = (a @ directions).sort(dim=0).values
        projected_b = (b @ directions).sort(dim=0).values
        distances.append((projected_a - projected_b).abs().mean())
    return float(torch.stack(distances).mean())


def _ssim_scale_count(size: int) -> int:
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and size // 2**scales >= SSIM_WINDOW:
        scales += 1
    return scales


def _gaussian_window(size: int, sigma: float) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_terms(a: Tensor, b: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
    """SSIM and its contrast-structure term, per image and channel ``[N, C]``."""
    c1, c2 = (SSIM_K1 * SSIM_DATA_RANGE) ** 2, (SSIM_K2 * SSIM_DATA_RANGE) ** 2

    def blur(x: Tensor) -> Tensor:  # separable Gaussian, "valid": no padded edges
        channels = x.shape[1]
        x = F.conv2d(x, window.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
        return F.conv2d(x, window.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    luminance = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return (luminance * cs).mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def _nearest_distances(x: Tensor, y: Tensor, *, exclude_self: bool = False) -> Tensor:
    """For each row of ``x`` the L2 distance to its nearest row of ``y``.

    ``torch.cdist`` finds the neighbour fast through a matrix product, whose rounding
    would leave a copy a small distance away; the distance is then measured exactly.
    """
    nearest = []
    for start in range(0, x.shape[0], NN_CHUNK):
        chunk = x[start : start + NN_CHUNK]
        distances = torch.cdist(chunk, y)
        if exclude_self:
            rows = torch.arange(chunk.shape[0])
            distances[rows, rows + start] = float("inf")
        nearest.append((chunk - y[distances.argmin(dim=1)]).norm(dim=1))
    return torch.cat(nearest)
