"""DCGAN, the baseline GAN for small image sets (Radford, Metz & Chintala 2016).

Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks": G maps ``z`` to a 4 x 4 feature map with a transposed
convolution, then doubles the resolution with stride-2 transposed convolutions, each
followed by batch normalisation and ReLU, and ends in tanh; D mirrors it with stride-2
convolutions and LeakyReLU(0.2), batch normalisation everywhere but in its first layer,
and one logit. All weights start from N(0, 0.02), as in the paper.

Widths follow the paper's 64 px network (1024, 512, 256, 128 channels from 4 x 4 up):
the layer at resolution ``r`` has ``width * res / r`` channels, capped at ``8 * width``,
so a 32 px model has 512, 256, 128 and a 256 px one stays trainable on small data.

With ``num_classes > 0`` the model is conditional: G concatenates a learned embedding of
the label (as wide as ``z``) to ``z``, and D adds the projection term of Miyato & Koyama
2018 ("cGANs with Projection Discriminator"), the inner product of a label embedding with
D's last features. Images are ``[N, C, res, res]`` in -1..1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from museforge.core.checkpoints import Pretrained
from museforge.errors import UserError
from museforge.image.data import RESOLUTIONS

INIT_STD = 0.02  # Radford et al.: every weight from N(0, 0.02)
LEAK = 0.2  # Radford et al.: the slope of D's LeakyReLU
MAX_WIDTH_FACTOR = 8  # channels stop growing at 8 x width (the paper's 64 px net has 16 x)


@dataclass
class DCGANConfig:
    """A DCGAN's shape: G's last hidden layer has ``2 * width`` channels, D's first too."""

    res: int = 32  # output side in pixels: 32, 64, 128 or 256
    z_dim: int = 128  # Radford et al. use 100; a power of two costs nothing
    width: int = 64  # Radford et al.'s 64 px net has 128 channels at 32 x 32, i.e. width 64
    channels: int = 3  # image channels
    num_classes: int = 0  # 0: unconditional

    def __post_init__(self) -> None:
        check_resolution(self.res)
        if min(self.z_dim, self.width, self.channels) < 1 or self.num_classes < 0:
            raise ValueError("z_dim, width and channels must be at least 1, num_classes >= 0")


def check_resolution(res: int) -> None:
    if res not in RESOLUTIONS:
        raise ValueError(f"res must be one of {', '.join(map(str, RESOLUTIONS))}, not {res}")


def check_labels(labels: Tensor | None, num_classes: int, batch: int) -> None:
    """Labels ``[batch]`` of integers in 0..num_classes-1, or None for an unconditional model."""
    if num_classes == 0:
        if labels is not None:
            raise UserError("this model is unconditional: give no labels")
        return
    if labels is None:
        raise UserError(f"this model is conditional: give labels [N] in 0..{num_classes - 1}")
    if labels.shape != (batch,) or labels.is_floating_point() or labels.is_complex():
        raise UserError(
            f"labels must be integers of shape [{batch}], got {labels.dtype} {tuple(labels.shape)}"
        )
    if batch and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"labels must lie in 0..{num_classes - 1}")


def check_latents(z: Tensor, labels: Tensor | None, z_dim: int, num_classes: int) -> None:
    """``z`` ``[N, z_dim]`` and labels fitting ``check_labels``."""
    if z.dim() != 2 or z.shape[1] != z_dim:
        raise UserError(f"z must have shape [N, {z_dim}], got {tuple(z.shape)}")
    check_labels(labels, num_classes, z.shape[0])


def check_images(x: Tensor, channels: int, res: int) -> None:
    if x.dim() != 4 or x.shape[1:] != (channels, res, res):
        raise UserError(f"D takes images [N, {channels}, {res}, {res}], got {tuple(x.shape)}")


def _width(config: DCGANConfig, r: int) -> int:
    """Channels of the feature maps at resolution ``r``."""
    return config.width * min(config.res // r, MAX_WIDTH_FACTOR)


def _init_weights(module: nn.Module) -> None:
    """Radford et al.'s initialisation: N(0, 0.02) weights, BatchNorm scales N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """``z`` ``[N, z_dim]`` (and labels ``[N]``) -> images ``[N, channels, res, res]`` in -1..1."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.num_classes, c.z_dim) if c.num_classes else None
        z_in = c.z_dim * (2 if c.num_classes else 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_in, _width(c, 4), 4, 1, 0, bias=False),  # 1x1 -> 4x4
            nn.BatchNorm2d(_width(c, 4)),
            nn.ReLU(inplace=True),
        ]
        r = 4
        while 2 * r < c.res:
            layers += [
                nn.ConvTranspose2d(_width(c, r), _width(c, 2 * r), 4, 2, 1, bias=False),
                nn.BatchNorm2d(_width(c, 2 * r)),
                nn.ReLU(inplace=True),
            ]
            r *= 2
        layers += [nn.ConvTranspose2d(_width(c, r), c.channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.net.apply(_init_weights)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        check_latents(z, labels, self.config.z_dim, self.config.num_classes)
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Images ``[N, channels, res, res]`` (and labels ``[N]``) -> logits ``[N]`` (real > 0)."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = c = config
        r = c.res // 2
        layers: list[nn.Module] = [
            nn.Conv2d(c.channels, _width(c, r), 4, 2, 1),  # no batch norm on the image
            nn.LeakyReLU(LEAK, inplace=True),
        ]
        while r > 4:
            layers += [
                nn.Conv2d(_width(c, r), _width(c, r // 2), 4, 2, 1, bias=False),
                nn.BatchNorm2d(_width(c, r // 2)),
                nn.LeakyReLU(LEAK, inplace=True),
            ]
            r //= 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        features = _width(c, 4) * 4 * 4
        self.out = nn.Linear(features, 1)  # the paper's last 4x4 convolution, as a matrix
        self.embed = nn.Embedding(c.num_classes, features) if c.num_classes else None
        self.apply(_init_weights)
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, INIT_STD)

    def layers(self) -> list[nn.Module]:
        """D's layers from the image inwards (each convolution with what follows it, then
        the last linear layer): what Freeze-D freezes the first of."""
        stages: list[list[nn.Module]] = []
        for layer in self.features:
            if isinstance(layer, nn.Conv2d):
                stages.append([])
            if stages:
                stages[-1].append(layer)
        return [nn.Sequential(*stage) for stage in stages] + [self.out]

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        check_images(x, self.config.channels, self.config.res)
        check_labels(labels, self.config.num_classes, x.shape[0])
        h = self.features(x)
        logits = self.out(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits


class DCGAN(nn.Module, Pretrained):
    """G and D of one DCGAN, saved and loaded together; ``generate`` samples G."""

    config_class = DCGANConfig
    model_type = "dcgan"

    def __init__(self, config: DCGANConfig | None = None) -> None:
        super().__init__()
        self.config = config or DCGANConfig()
        self.G = DCGANGenerator(self.config)
        self.D = DCGANDiscriminator(self.config)

    def transfer_parts(self) -> dict[str, list[nn.Module]]:
        """The parts ``--freeze`` and ``--lr-scale`` name (see ``core/transfer.py``): G, D,
        and D's layers from the image inwards, ``D.0`` first (Freeze-D)."""
        parts: dict[str, list[nn.Module]] = {"G": [self.G], "D": [self.D]}
        return parts | {f"D.{i}": [layer] for i, layer in enumerate(self.D.layers())}

    @torch.no_grad()
    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images ``[N, channels, res, res]`` in -1..1 for ``z`` ``[N, z_dim]``.

        In eval mode (as ``from_pretrained`` returns it) batch norm uses its running
        statistics, so an image depends only on its own ``z``; in train mode it uses the
        batch's and updates the running statistics.
        """
        return self.G(z, labels)
