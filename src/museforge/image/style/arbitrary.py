"""Arbitrary-style fast transfer: one network, any style picture, one forward pass.

Ghiasi, Lee, Kudlur, Dumoulin and Shlens 2017, "Exploring the structure of a real-time,
arbitrary neural artistic stylization network" (Magenta's arbitrary-style model):

- a style prediction network turns a style picture into a small code ``S`` (their 100
  numbers): here the channel means and spreads of a frozen ImageNet network's taps
  (MobileNetV2 by default), mapped linearly to ``bottleneck`` numbers,
- a transform network (Johnson et al. 2016's shape, as in ``fast.py``) whose every
  instance normalisation takes its scale and shift from ``S`` (conditional instance
  normalisation, Dumoulin et al. 2017, "A Learned Representation for Artistic Style"),
- trained end to end with Gatys's content and Gram-matrix style losses over many
  (content crop, style picture) pairs.

Departures, for a laptop CPU: the transform network is narrow and runs at half the
picture's resolution; the picture's own fine detail (what the half-size copy lacks) is
added back to the upsampled result, so edges stay sharp. A model folder keeps one style
code: shipped styles are presets (the code of their style picture, computed once), and any
other picture gets its code from the prediction network at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.checkpoints import Pretrained
from museforge.core.pretrained.taps import TappedNet
from museforge.image.style.features import build_features
from museforge.image.style.gatys import resize_long_side


@dataclass
class ArbitraryStyleConfig:
    """The network's sizes; ``style`` names the preset whose code the folder holds."""

    width: int = 16  # channels of the first layer; Ghiasi et al. use 32 at full resolution
    res_blocks: int = 3  # Ghiasi et al. use 5; three keep a 512 px picture under 50 ms
    bottleneck: int = 64  # the style code's length; Ghiasi et al. use 100
    edge_kernel: int = 5  # first and last convolutions; Johnson et al. use 9
    internal_scale: float = 0.5  # the transform runs at this fraction of the picture's size
    encoder: str = "mobilenetv2"  # the frozen network whose statistics predict the code
    encoder_layers: tuple[str, ...] = ("features.1", "features.3", "features.6", "features.10")
    encoder_channels: tuple[int, ...] = (16, 24, 32, 64)
    style: str = ""  # the preset's style picture; empty: no code stored yet
    features: str = "mobilenetv2"  # the loss network it was trained with
    held_out: tuple[str, ...] = field(default_factory=tuple)  # style pictures never trained on


class _CondNorm(nn.Module):
    """Instance normalisation whose scale and shift are given per call (Dumoulin et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
        x = F.instance_norm(x)
        return x * scale[..., None, None] + shift[..., None, None]


def _pad_conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride=stride)
    )


class ArbitraryStyleNet(nn.Module, Pretrained):
    """Image ``[N, 3, H, W]`` in 0..1 and a style code ``[N, bottleneck]`` -> stylised image."""

    config_class = ArbitraryStyleConfig
    model_type = "arbitrary-style"

    def __init__(self, config: ArbitraryStyleConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ArbitraryStyleConfig()
        w, k = c.width, c.edge_kernel
        # (convolution, upsample first) in order; each is followed by a conditional norm
        specs = [(_pad_conv(3, w, k), False), (_pad_conv(w, 2 * w, 3, 2), False)]
        specs += [(_pad_conv(2 * w, 4 * w, 3, 2), False)]
        specs += [(_pad_conv(4 * w, 4 * w, 3), False) for _ in range(2 * c.res_blocks)]
        specs += [(_pad_conv(4 * w, 2 * w, 3), True), (_pad_conv(2 * w, w, 3), True)]
        self.convs = nn.ModuleList(conv for conv, _ in specs)
        self.up = [up for _, up in specs]
        self.norms = nn.ModuleList(_CondNorm(conv[1].out_channels) for conv, _ in specs)
        self.out = _pad_conv(w, 3, k)
        nn.init.zeros_(self.out[1].weight)  # starts as the identity, as fast.py's network
        nn.init.zeros_(self.out[1].bias)
        stats = 2 * sum(c.encoder_channels)
        self.predict = nn.Linear(stats, c.bottleneck)  # style prediction (Ghiasi et al.)
        total = sum(n.channels for n in self.norms)
        self.to_norms = nn.Linear(c.bottleneck, 2 * total)
        nn.init.normal_(self.to_norms.weight, std=0.01)
        nn.init.zeros_(self.to_norms.bias)
        self.register_buffer("code", torch.zeros(1, c.bottleneck))

    def transfer_parts(self) -> dict[str, list[nn.Module]]:
        """The parts ``--freeze`` and ``--lr-scale`` name (see ``core/transfer.py``): the
        downsampling convolutions, the residual blocks' convolutions, the upsampling ones
        with the convolution to RGB, the map from the style code to the norms' scales and
        shifts, and the style prediction network."""
        first, last = 3, 3 + 2 * self.config.res_blocks
        convs = list(self.convs)
        return {
            "down": convs[:first],
            "residual": convs[first:last],
            "up": [*convs[last:], self.out],
            "norms": [self.to_norms],
            "predict": [self.predict],
        }

    # --- the style code ------------------------------------------------------------------

    def style_code(self, encoder: TappedNet, style: Tensor) -> Tensor:
        """``[N, bottleneck]``: the code of style pictures ``[N, 3, h, w]`` in 0..1."""
        with torch.no_grad():
            maps = encoder(style, self.config.encoder_layers)
        stats = [torch.cat([m.mean((2, 3)), m.std((2, 3))], 1) for m in maps]
        return self.predict(torch.cat(stats, 1))

    @torch.no_grad()
    def keep_style(self, encoder: TappedNet, style: Tensor, name: str) -> None:
        """Store ``style``'s code as this folder's preset."""
        self.code.copy_(self.style_code(encoder, style))
        self.config.style = name

    # --- the transform --------------------------------------------------------------------

    def transform(self, image: Tensor, code: Tensor) -> Tensor:
        """The stylised ``image`` at the same size; ``code`` ``[1 or N, bottleneck]``."""
        scale, shift = (self.to_norms(code) + _one_then_zero(self.norms)).chunk(2, dim=1)
        x = (image - 0.5) * 2
        h, w = image.shape[-2:]
        pad_h, pad_w = -h % 4, -w % 4  # two stride-2 steps
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        skip, start = None, 0
        for i, (conv, norm, up) in enumerate(zip(self.convs, self.norms, self.up, strict=True)):
            if up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            n = norm.channels
            y = norm(conv(x), scale[:, start : start + n], shift[:, start : start + n])
            start += n
            res = i - 3  # residual blocks: convolutions 3, 4 / 5, 6 / ...
            if 0 <= res < 2 * self.config.res_blocks:
                if res % 2 == 0:
                    skip, x = x, F.relu(y)
                else:
                    x = skip + y
            else:
                x = F.relu(y)
        base = torch.logit(image.clamp(1 / 512, 1 - 1 / 512))
        return torch.sigmoid(base + self.out(x)[..., :h, :w])

    def forward(self, image: Tensor, code: Tensor | None = None) -> Tensor:
        """Stylise at ``internal_scale``, then add back the detail the small copy lacks."""
        code = self.code if code is None else code
        s = self.config.internal_scale
        if s >= 1:
            return self.transform(image, code)
        h, w = image.shape[-2:]
        small_size = (max(8, round(h * s)), max(8, round(w * s)))
        small = F.interpolate(image, size=small_size, mode="bilinear", antialias=True)
        styled = self.transform(small, code)
        detail = image - F.interpolate(small, size=(h, w), mode="bilinear")
        return (F.interpolate(styled, size=(h, w), mode="bilinear") + detail).clamp(0, 1)


def _one_then_zero(norms: Sequence[_CondNorm]) -> Tensor:
    """The norms' default scales (1) then shifts (0), as one row."""
    total = sum(n.channels for n in norms)
    return torch.cat([torch.ones(total), torch.zeros(total)])


STYLE_SIZE = 256  # the style picture's long side when its code is predicted


@torch.no_grad()
def stylize_any(
    model: ArbitraryStyleNet, image: Tensor, style: Tensor, encoder: TappedNet | None = None
) -> Tensor:
    """Stylise ``image`` ``[1, 3, H, W]`` after any style picture ``[1, 3, h, w]``.

    ``encoder`` is the network ``model.config.encoder`` names, when the caller has it.
    """
    encoder = encoder or build_features(model.config.encoder)
    code = model.style_code(encoder, resize_long_side(style, STYLE_SIZE))
    return model.eval()(image, code)
