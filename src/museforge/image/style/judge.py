"""Judges of a style-transfer result that no method optimises, so none grades itself.

- ``style_scores``: how far the result's style is from the style image, by three judges,
  each divided by its distance from the untouched content to the style (1.0 = no style
  moved, 0.0 = the style's statistics exactly): the Gram matrices of a feature network
  (pass one the result was *not* optimised with: ``judge_for``), a joint 8 x 8 x 8
  colour histogram (total-variation distance), and the Gram matrices of oriented
  luminance gradients at three scales.
- ``edge_correlation``: how much of the content's structure is kept, as the correlation
  of the two images' Sobel edge maps (1.0 = every edge kept).
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F
from torch import Tensor

from museforge.image.style.features import FeatureNet
from museforge.image.style.gatys import gram_matrix, relative_mse, rgb_to_ycbcr

JUDGE_SEED = 1000  # any seed but the optimised networks' 0: a judge must not share weights


def luminance(image: Tensor) -> Tensor:
    return rgb_to_ycbcr(image)[:, :1]


def sobel_magnitude(image: Tensor) -> Tensor:
    """``[1, 1, H, W]`` edge strength of the luminance."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kx, kx.T]).unsqueeze(1)
    grad = F.conv2d(F.pad(luminance(image), (1, 1, 1, 1), mode="replicate"), kernels)
    return grad.square().sum(1, keepdim=True).sqrt()


def edge_correlation(result: Tensor, content: Tensor) -> float:
    """Pearson correlation of the two images' Sobel magnitudes."""
    a, b = sobel_magnitude(result).flatten(), sobel_magnitude(content).flatten()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def colour_histogram(image: Tensor, bins: int = 8) -> Tensor:
    """The joint RGB histogram, ``bins`` per channel, as frequencies summing to 1."""
    q = (image[0].clamp(0, 1) * (bins - 1e-6)).long().flatten(1)
    index = (q[0] * bins + q[1]) * bins + q[2]
    return torch.bincount(index, minlength=bins**3).float() / index.numel()


def colour_distance(a: Tensor, b: Tensor) -> float:
    """Total-variation distance of the colour histograms: 0 same palette, 1 disjoint."""
    return float((colour_histogram(a) - colour_histogram(b)).abs().sum() / 2)


def gradient_grams(image: Tensor, levels: int = 3) -> list[Tensor]:
    """Gram matrices of 8 half-wave-rectified oriented derivatives per pyramid level."""
    d = torch.tensor([-1.0, 0.0, 1.0]) / 2
    kernels = torch.zeros(4, 1, 3, 3)
    kernels[0, 0, 1], kernels[1, 0, :, 1] = d, d  # horizontal, vertical
    kernels[2, 0] = torch.diag(d)  # the two diagonals
    kernels[3, 0] = torch.diag(d).flip(1)
    y, grams = luminance(image), []
    for _ in range(levels):
        g = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernels)
        grams.append(gram_matrix(torch.cat([F.relu(g), F.relu(-g)], dim=1)))
        y = F.avg_pool2d(y, 2)
    return grams


def gradient_distance(a: Tensor, b: Tensor) -> float:
    pairs = zip(gradient_grams(a), gradient_grams(b), strict=True)
    return statistics.fmean(float(relative_mse(x, t)) for x, t in pairs)


def gram_distance(net: FeatureNet, a: Tensor, b: Tensor) -> float:
    """Gatys' style loss under ``net``: relative Gram error, mean over its style layers."""
    fa, fb = net(a, net.style_layers), net(b, net.style_layers)
    errors = [
        float(relative_mse(gram_matrix(x), gram_matrix(t))) for x, t in zip(fa, fb, strict=True)
    ]
    return statistics.fmean(errors)


def judge_for(network: str) -> str:
    """The network a result optimised with ``network`` is graded by: never its own.

    ImageNet networks judge each other (VGG16 by MobileNetV2, the others by VGG16); the
    random families judge each other, with another seed.
    """
    if network == "vgg16":
        return "mobilenetv2"
    if network in ("mobilenetv2", "efficientnet-lite0"):
        return "vgg16"
    return "random-multiscale" if network == "random-vgg" else "random-vgg"


@torch.no_grad()
def style_scores(judge: FeatureNet, result: Tensor, content: Tensor, style: Tensor) -> dict:
    """Each judge's distance result -> style, relative to its distance content -> style."""
    raw = {
        "network": lambda x: gram_distance(judge, x, style),
        "colour": lambda x: colour_distance(x, style),
        "gradient": lambda x: gradient_distance(x, style),
    }
    return {name: fn(result) / max(fn(content), 1e-12) for name, fn in raw.items()}
