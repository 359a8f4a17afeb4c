"""Kernel inception distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

KID is the squared maximum mean discrepancy between the features of generated and real
images under the polynomial kernel ``k(x, y) = (x . y / d + 1) ** 3``, estimated without
bias (so, unlike FID, its expectation does not depend on how many images are used), as
the mean over random subsets, with the spread of those subsets' values as ``kid_std``
(the reference implementation's convention). Lower is better; 0 means the same
distribution, and the estimate can dip just below 0.

The paper uses Inception-v3's pool features; no Inception weights ship offline, so the
features here are ImageNet MobileNetV2's pooled last layer (1280 numbers), the images
upsampled to ``KIDConfig.resolution`` first. Values are comparable with each other, not
with published Inception KIDs; ``real_vs_real`` gives the yardstick on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from museforge.core.pretrained.mobilenet_v2 import load_mobilenet_v2
from museforge.errors import UserError
from museforge.image.data import to_float_pixels


@dataclass(frozen=True)
class KIDConfig:
    resolution: int = 128  # MobileNetV2's smallest ImageNet resolution; 32 px faces upsampled
    subsets: int = 100  # the reference's number of subsets
    subset_size: int = 1000  # the reference's; capped at half the images there are
    batch: int = 64


@torch.no_grad()
def kid_features(images: Tensor, config: KIDConfig = KIDConfig()) -> Tensor:
    """``[N, 1280]`` pooled MobileNetV2 features of ``images`` (-1..1 floats or uint8)."""
    net = load_mobilenet_v2()
    out = []
    for start in range(0, images.shape[0], config.batch):
        x = (to_float_pixels(images[start : start + config.batch]) + 1) / 2  # 0..1
        x = F.interpolate(x, size=config.resolution, mode="bilinear", antialias=True)
        out.append(net(x.clamp(0, 1), ["features.18"])[0].mean(dim=(2, 3)))
    return torch.cat(out).double()


def _polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """The unbiased estimate of MMD^2 between two equally large feature sets."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (
        m * (m - 1)
    )
    return float(within - 2 * k_xy.mean())


def kid(
    fake: Tensor, real: Tensor, config: KIDConfig = KIDConfig(), seed: int = 0
) -> dict[str, float]:
    """``{"kid", "kid_std", "subset_size"}`` between feature sets ``fake`` and ``real``."""
    # at most half the smaller set, so that the subsets differ and their spread means something
    m = min(config.subset_size, max(2, min(fake.shape[0], real.shape[0]) // 2))
    if m < 2:
        raise UserError(
            f"KID needs at least 2 images on each side, got {fake.shape[0]} and {real.shape[0]}"
        )
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor(
        [
            mmd2_unbiased(
                fake[torch.randperm(fake.shape[0], generator=g)[:m]],
                real[torch.randperm(real.shape[0], generator=g)[:m]],
            )
            for _ in range(config.subsets)
        ]
    )
    return {"kid": float(values.mean()), "kid_std": float(values.std()), "subset_size": m}


def kid_report(fake: Tensor, real: Tensor, seed: int = 0, config: KIDConfig = KIDConfig()) -> dict:
    """KID of ``fake`` against ``real`` images, and of one half of ``real`` against the other
    (the value a perfect model would reach with that many real images)."""
    f_fake, f_real = kid_features(fake, config), kid_features(real, config)
    order = torch.randperm(f_real.shape[0], generator=torch.Generator().manual_seed(seed))
    half = f_real.shape[0] // 2
    floor = kid(f_real[order[:half]], f_real[order[half : 2 * half]], config, seed)
    ours = kid(f_fake, f_real, config, seed)
    return {
        "kid": ours["kid"],
        "kid_std": ours["kid_std"],
        "kid_real": floor["kid"],
        "kid_real_std": floor["kid_std"],
        "kid_subset_size": ours["subset_size"],
        "kid_real_subset_size": floor["subset_size"],
    }
