"""A perceptual distance between images for GAN projection.

Zhang et al. 2018 ("The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", LPIPS) compare ImageNet VGG16 features, each position's channel vector scaled to
unit length, summed over layers. Their learned per-channel weights do not ship offline;
the paper's own figures show the unweighted, normalised distance close behind. Small
images are upsampled first so that VGG16's deeper layers still see a picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.pretrained.vgg16 import load_vgg16


@dataclass(frozen=True)
class PerceptualConfig:
    layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # LPIPS' first four
    resolution: int = 64  # pixels: a 32 px face doubled, so relu4_3 still sees 8 x 8 places
    pixel_weight: float = 1.0  # the MSE stays: colours the features barely see stay right


class PerceptualDistance(nn.Module):
    """``distance(x, target)`` for images in -1..1: pixel MSE plus the normalised VGG16
    feature distance, one number per batch."""

    def __init__(self, target: Tensor, config: PerceptualConfig = PerceptualConfig()) -> None:
        super().__init__()
        self.config = config
        self.net = load_vgg16()
        self.target = target
        self.target_features = [f.detach() for f in self._features(target)]

    def _features(self, image: Tensor) -> list[Tensor]:
        x = F.interpolate((image + 1) / 2, size=self.config.resolution, mode="bilinear")
        return [F.normalize(f, dim=1) for f in self.net(x, self.config.layers)]

    def forward(self, image: Tensor) -> Tensor:
        features = self._features(image)
        perceptual = sum(
            (a - b).square().sum(1).mean()
            for a, b in zip(features, self.target_features, strict=True)
        )
        return self.config.pixel_weight * F.mse_loss(image, self.target) + perceptual
