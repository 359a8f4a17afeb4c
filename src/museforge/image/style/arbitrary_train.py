"""Training the arbitrary-style network (``arbitrary.py``) on pictures that ship offline.

Each step takes a batch of content crops (``fast.ContentCrops``) and one style picture:
one of ``STYLE_PICTURES``, shown at a random size, cropped at random and, half the time,
with its colour channels permuted, so a few dozen pictures become thousands of styles
(Ghiasi et al. 2017 trained on ~80,000 paintings and textures; a CPU has to make do).
The loss is Gatys's: content error plus Gram-matrix error under the loss network, the
style term divided by its value for the untouched crops, as in ``fast.py``. Pictures in
``held_out`` are never shown, so the network can be judged on styles it has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.training import RunOptions, TrainResult, train
from museforge.errors import UserError
from museforge.image.io import load_image
from museforge.image.style.arbitrary import ArbitraryStyleConfig, ArbitraryStyleNet
from museforge.image.style.fast import ContentCrops, loop_config
from museforge.image.style.features import FeatureNet, build_features
from museforge.image.style.gatys import gram_matrix, relative_mse, total_variation

# scikit-image's pictures (public domain or CC0), textures and photos alike: any picture
# is a style
STYLE_PICTURES = (
    "skimage:immunohistochemistry",
    "skimage:hubble_deep_field",
    "skimage:gravel",
    "skimage:grass",
    "skimage:brick",
    "skimage:retina",
    "skimage:coins",
    "skimage:color",
    "skimage:camera",
    "skimage:moon",
    "skimage:text",
    "skimage:page",
    "skimage:coffee",
    "skimage:rocket",
)
HELD_OUT = ("skimage:brick",)  # never trained on: the check that any picture works


@dataclass
class ArbitraryTrainConfig:
    """How the arbitrary-style network is trained."""

    net: ArbitraryStyleConfig = field(default_factory=ArbitraryStyleConfig)
    steps: int = 3000
    batch_size: int = 4  # Johnson et al.
    crop: int = 128  # content crops; the transform sees them at ``internal_scale``
    content_size: int = 512  # content images are first scaled to this long side
    style_sizes: tuple[int, int] = (192, 384)  # a style picture's long side, drawn per step
    style_crop: int = 192  # then a square crop of at most this size
    lr: float = 1e-3  # Johnson et al.
    content_weight: float = 0.3  # fast.py's measured value, against a style term of ~1
    tv_weight: float = 2e-4
    features: str = "mobilenetv2"  # the loss network; its Gram judge is then VGG16
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0


class StylePool:
    """The style picture of step ``k``: a pure function of (seed, k), so resume is exact."""

    def __init__(self, pictures: dict[str, Tensor], config: ArbitraryTrainConfig) -> None:
        if not pictures:
            raise UserError("give at least one style picture to train on")
        self.names, self.images, self.config = list(pictures), list(pictures.values()), config

    def __call__(self, step: int) -> Tensor:
        rng = np.random.default_rng([self.config.seed, step, 7])
        image = self.images[int(rng.integers(len(self.images)))]
        low, high = self.config.style_sizes
        side = int(rng.integers(low, high + 1))
        h, w = image.shape[-2:]
        ratio = side / max(h, w)
        size = (max(16, round(h * ratio)), max(16, round(w * ratio)))
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True).clamp(0, 1)
        ch, cw = min(size[0], self.config.style_crop), min(size[1], self.config.style_crop)
        top = int(rng.integers(0, size[0] - ch + 1))
        left = int(rng.integers(0, size[1] - cw + 1))
        image = image[..., top : top + ch, left : left + cw]
        if rng.random() < 0.5:
            image = image[:, torch.from_numpy(rng.permutation(3))]
        return image.flip(-1) if rng.random() < 0.5 else image


def arbitrary_style_loss(
    net: FeatureNet, pool: StylePool, config: ArbitraryTrainConfig
) -> Callable[[nn.Module, Tensor, int], tuple[Tensor, dict[str, Any]]]:
    """``loss_fn(model, batch, step)``: Gatys's losses against step ``step``'s style."""
    n_content = len(net.content_layers)
    layers = net.content_layers + net.style_layers

    def style_distance(features: Sequence[Tensor], grams: Sequence[Tensor]) -> Tensor:
        return sum(
            w * relative_mse(gram_matrix(f), g.expand(len(f), -1, -1))
            for f, g, w in zip(features, grams, net.style_layer_weights, strict=True)
        )

    def loss_fn(model: nn.Module, batch: Tensor, step: int) -> tuple[Tensor, dict[str, Any]]:
        style = pool(step)
        with torch.no_grad():
            grams = [gram_matrix(f) for f in net(style, net.style_layers)]
            targets = net(batch, layers)
            scale = float(style_distance(targets[n_content:], grams)) or 1.0
        code = model.style_code(net, style)
        out = model(batch, code.expand(len(batch), -1))
        features = net(out, layers)
        content = sum(
            relative_mse(f, t)
            for f, t in zip(features[:n_content], targets[:n_content], strict=True)
        )
        style_term = style_distance(features[n_content:], grams) / scale
        tv = total_variation(out)
        total = config.content_weight * content + style_term + config.tv_weight * tv
        return total, {"content": content.detach(), "style": style_term.detach()}

    return loss_fn


def train_arbitrary_style(
    contents: Sequence[Tensor],
    styles: dict[str, Tensor],
    out_dir: str | Path,
    config: ArbitraryTrainConfig,
    *,
    held_out: Sequence[str] = (),
    resume: bool = False,
    progress: bool = True,
    command: str | None = None,
    options: RunOptions | None = None,
) -> TrainResult:
    """Train on crops of ``contents`` against ``styles`` (name -> ``[1, 3, h, w]``)."""
    net = build_features(config.features)
    if config.net.encoder != config.features:
        raise UserError("the style prediction and the loss share one network here")
    torch.manual_seed(config.seed)
    model = ArbitraryStyleNet(
        replace(config.net, features=config.features, held_out=tuple(held_out))
    )
    crops = ContentCrops(contents, config.crop, config.seed)
    pool = StylePool({k: v for k, v in styles.items() if k not in held_out}, config)
    return train(
        model,
        crops,
        arbitrary_style_loss(net, pool, config),
        loop_config(config),
        out_dir,
        resume=resume,
        progress=progress,
        command=command,
        options=options,
    )


def load_pictures(names: Sequence[str], size: int) -> dict[str, Tensor]:
    """``name -> [1, 3, h, w]``, each scaled to long side ``size``."""
    return {name: load_image(name, size) for name in names}
