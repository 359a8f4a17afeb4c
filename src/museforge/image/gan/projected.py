"""A Projected GAN discriminator (Sauer, Chitta, Müller & Geiger 2021, "Projected GANs
Converge Faster").

D does not look at pixels with weights of its own. The images (upsampled to
``input_res``) go through a frozen ImageNet network, EfficientNet-Lite0 (``core/
pretrained``), and four of its feature maps, at 1/4, 1/8, 1/16 and 1/32 of the input
side, are projected by fixed random layers:

- cross-channel mixing (CCM): a random 1 x 1 convolution per feature map, so that D
  cannot lean on a few strong ImageNet features;
- cross-scale mixing (CSM): from the deepest map up, each mixed map is the sum of its own
  CCM output and the upsampled mixed map below it, through a random 3 x 3 convolution.

Neither is trained (buffers, not parameters: a seed draws them once and the checkpoint
keeps them). One small discriminator per scale, the only trained part, halves its map
down to 4 x 4 or less (convolutions with spectral normalisation, Miyato et al. 2018,
as in the paper) and gives one logit per position; the image's logit is the sum over the
scales of each map's mean.

Simplifications: no batch normalisation in the small discriminators and the logistic
loss of ``losses`` rather than the paper's hinge loss, so the same training step serves
both discriminators. The feature network is loaded on first use and kept outside the
state dict: a saved model holds D's own weights and the random projections alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from museforge.core.pretrained.efficientnet_lite0 import EfficientNetLite0, load_efficientnet_lite0
from museforge.image.gan.dcgan import check_images

# the last block of EfficientNet's stages of 24, 40, 112 and 320 channels, as in the paper
TAPS = ("blocks.2", "blocks.4", "blocks.10", "blocks.15")
TAP_CHANNELS = (24, 40, 112, 320)
TAP_STRIDES = (4, 8, 16, 32)
LEAK = 0.2


@dataclass(frozen=True)
class ProjectedConfig:
    """The sizes of a projected discriminator."""

    input_res: int = 64  # images are resized to this side before the feature network
    mix_channels: int = 64  # CCM and CSM width, every scale
    disc_channels: int = 64  # width of the small discriminators
    seed: int = 0  # draws the random projections


class ProjectedDiscriminator(nn.Module):
    """Images ``[N, channels, res, res]`` in -1..1 -> logits ``[N]`` (real > 0)."""

    def __init__(self, channels: int, res: int, config: ProjectedConfig | None = None) -> None:
        super().__init__()
        self.channels, self.res = channels, res
        self.projected = c = config or ProjectedConfig()
        g = torch.Generator().manual_seed(c.seed)
        for i, cin in enumerate(TAP_CHANNELS):  # fixed random weights, kaiming-scaled
            self.register_buffer(
                f"ccm{i}", torch.randn(c.mix_channels, cin, 1, 1, generator=g) / cin**0.5
            )
            fan = c.mix_channels * 9
            self.register_buffer(
                f"csm{i}", torch.randn(c.mix_channels, c.mix_channels, 3, 3, generator=g) / fan**0.5
            )
        self.discs = nn.ModuleList(
            _scale_discriminator(c.mix_channels, c.disc_channels, c.input_res // s)
            for s in TAP_STRIDES
        )
        self._net: list[EfficientNetLite0] = []  # a list keeps it out of modules and state

    def features(self, images: Tensor) -> list[Tensor]:
        """The four projected feature maps of images in -1..1, finest first."""
        if not self._net:
            self._net.append(load_efficientnet_lite0())
        net = self._net[0].to(images.device)
        x = (images.clamp(-1, 1) + 1) / 2
        if self.channels == 1:
            x = x.expand(-1, 3, -1, -1)
        size = self.projected.input_res
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        maps = net(x, TAPS)
        mixed = [F.conv2d(m, getattr(self, f"ccm{i}")) for i, m in enumerate(maps)]
        out: list[Tensor] = [None] * len(mixed)  # type: ignore[list-item]
        below = None
        for i in reversed(range(len(mixed))):
            x = mixed[i]
            if below is not None:
                x = x + F.interpolate(
                    below, size=x.shape[-2:], mode="bilinear", align_corners=False
                )
            below = out[i] = F.conv2d(x, getattr(self, f"csm{i}"), padding=1)
        return out

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        check_images(x, self.channels, self.res)
        if labels is not None:
            raise ValueError("the projected discriminator is unconditional")
        maps = self.features(x)
        return sum(disc(m).flatten(1).mean(dim=1) for disc, m in zip(self.discs, maps, strict=True))


def _scale_discriminator(cin: int, width: int, size: int) -> nn.Sequential:
    """Strided 4 x 4 convolutions (spectral norm, lrelu) down to 4 x 4 or less, then a
    1 x 1 convolution to one logit per position."""
    layers: list[nn.Module] = []
    c = cin
    while size > 4:
        layers += [spectral_norm(nn.Conv2d(c, width, 4, 2, 1)), nn.LeakyReLU(LEAK)]
        c, size = width, size // 2
    layers += [spectral_norm(nn.Conv2d(c, width, 3, 1, 1)), nn.LeakyReLU(LEAK)]
    layers.append(spectral_norm(nn.Conv2d(width, 1, 1)))
    return nn.Sequential(*layers)
