"""Fast style transfer: a feed-forward network trained once per style (Johnson et al. 2016).

Johnson, Alahi and Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution": instead of optimising the pixels of every picture (``gatys.py``), train
an image-to-image network with the same content, Gram-matrix style and total-variation
losses over many content crops; afterwards one forward pass stylises any picture. Unlike
Johnson's, the network here predicts what to add to the picture (in logit space) and starts
as the identity, so the content is kept from the first step, as Gatys's optimisation that
starts from the content keeps it; short training on a CPU then goes into the style.

The network is Johnson's shape made narrow for a laptop CPU: a 9 x 9 convolution, two
stride-2 convolutions, residual blocks at a quarter of the resolution, two nearest-neighbour
upsamplings each followed by a convolution (no checkerboard artefacts, Odena et al. 2016)
and a 9 x 9 convolution to RGB, with instance normalisation throughout (Ulyanov et al.
2016, which matters more for stylisation than the width). At width 16 it has ~0.2 M
parameters; a 512 px image takes a fraction of a second on two cores.

Training runs through museforge's one training loop (checkpoints, resume, Ctrl-C), on
random crops of content images: by default the photos that ship with scikit-image.
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

from museforge.core.checkpoints import Pretrained, load_model
from museforge.core.training import RunOptions, TrainConfig, TrainResult, train
from museforge.core.transfer import freeze, lr_scales, scaled_adamw
from museforge.errors import UserError
from museforge.image.style.features import FeatureNet, build_features
from museforge.image.style.gatys import (
    gram_matrix,
    relative_mse,
    resize_long_side,
    total_variation,
)

# Photos that ship with scikit-image, used as content crops when none are given; the
# textures (brick, grass, gravel) are styles, not contents.
DEFAULT_CONTENTS = (
    "skimage:astronaut",
    "skimage:chelsea",
    "skimage:coffee",
    "skimage:rocket",
    "skimage:retina",
    "skimage:hubble_deep_field",
    "skimage:immunohistochemistry",
)


@dataclass
class FastStyleConfig:
    """The transform network; ``style`` and ``features`` record what it was trained on."""

    width: int = 16  # channels of the first layer; Johnson et al. use 32
    res_blocks: int = 5  # Johnson et al.
    style: str = ""  # the style image it was trained on (file name or skimage:NAME)
    features: str = "random-multiscale"  # the loss network it was trained with


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """A convolution after reflection padding, so borders get no dark frame."""
    return nn.Sequential(
        nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride=stride)
    )


def _block(c_in: int, c_out: int, kernel: int, stride: int = 1, up: bool = False) -> list:
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if up else []
    return layers + [
        _conv(c_in, c_out, kernel, stride),
        nn.InstanceNorm2d(c_out, affine=True),
        nn.ReLU(inplace=True),
    ]


class TransformNet(nn.Module, Pretrained):
    """Image ``[N, 3, H, W]`` in 0..1 -> the stylised image, same size, in 0..1."""

    config_class = FastStyleConfig
    model_type = "fast-style"

    def __init__(self, config: FastStyleConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or FastStyleConfig()
        if c.width < 1 or c.res_blocks < 0:
            raise ValueError("width must be at least 1 and res_blocks at least 0")
        w = c.width
        self.net = nn.Sequential(
            *_block(3, w, 9),
            *_block(w, 2 * w, 3, stride=2),
            *_block(2 * w, 4 * w, 3, stride=2),
            *[_Residual(4 * w) for _ in range(c.res_blocks)],
            *_block(4 * w, 2 * w, 3, up=True),
            *_block(2 * w, w, 3, up=True),
            _conv(w, 3, 9),
        )
        last = self.net[-1][1]  # the network starts as the identity and learns what to add
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def transfer_parts(self) -> dict[str, list[nn.Module]]:
        """The parts ``--freeze`` and ``--lr-scale`` name (see ``core/transfer.py``): the
        three downsampling convolutions, the residual blocks, and the upsampling ones with
        the convolution to RGB; each with its instance norms."""
        layers = list(self.net)
        blocks = [i for i, m in enumerate(layers) if isinstance(m, _Residual)]
        first = blocks[0] if blocks else 9  # 3 convolutions of 3 layers each come first
        last = blocks[-1] + 1 if blocks else first
        return {
            "down": layers[:first],
            "residual": layers[first:last],
            "up": layers[last:],
        }

    def forward(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        # two stride-2 steps: pad to a multiple of 4 so the output lines up with the input
        pad_h, pad_w = -h % 4, -w % 4
        x = (image - 0.5) * 2
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        # a residual in logit space: the picture itself plus the style the network adds,
        # which keeps the content from the first step, as Gatys's start from the content does
        base = torch.logit(image.clamp(1 / 512, 1 - 1 / 512))
        return torch.sigmoid(base + self.net(x)[..., :h, :w])


@torch.no_grad()
def stylize_fast(model: nn.Module, image: Tensor, tile: int | None = None) -> Tensor:
    """Stylise ``image`` ``[1, 3, H, W]`` in one forward pass; ``tile`` bounds the memory.

    With ``tile`` (pixels), the image is processed in overlapping tiles whose seams are
    cross-faded, so a 4096 px print needs the memory of a ``tile`` px one. Instance
    normalisation makes each tile's statistics its own, so tiles should not be much smaller
    than the images the network was trained on.
    """
    model.eval()
    h, w = image.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        return model(image)
    overlap = max(16, tile // 8)
    out = torch.zeros(1, 3, h, w)
    weight = torch.zeros(1, 1, h, w)
    for top in _tile_starts(h, tile, overlap):
        for left in _tile_starts(w, tile, overlap):
            piece = image[..., top : top + tile, left : left + tile]
            ramp = _feather(*piece.shape[-2:], overlap)
            out[..., top : top + tile, left : left + tile] += model(piece) * ramp
            weight[..., top : top + tile, left : left + tile] += ramp
    return out / weight


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _feather(h: int, w: int, overlap: int) -> Tensor:
    """A weight that rises linearly over ``overlap`` pixels from each edge: seamless blends."""

    def ramp(n: int) -> Tensor:
        x = torch.arange(n, dtype=torch.float32)
        return ((torch.minimum(x, n - 1 - x) + 1) / overlap).clamp(max=1.0)

    return (ramp(h)[:, None] * ramp(w)[None, :])[None, None]


# --- training -----------------------------------------------------------------------------


REFERENCE_CROPS = 16  # content crops whose own style distance sets the style loss's scale


@dataclass
class FastTrainConfig:
    """How a style's network is trained; the loss weights are those of ``StyleConfig``."""

    net: FastStyleConfig = field(default_factory=FastStyleConfig)
    steps: int = 2000
    batch_size: int = 4  # Johnson et al.
    crop: int = 128  # Johnson et al. train on 256 px crops; 128 is 4x cheaper on a CPU
    content_size: int = 512  # content images are first scaled to this long side
    style_size: int = 256  # the style image's long side: its strokes' size on a crop
    lr: float = 1e-3  # Johnson et al.
    # Against the style term scaled to 1 for untouched content (see ``fast_style_loss``).
    # The optimisation's 0.05 made a network forget the content within 150 steps: it has to
    # learn to keep it, where the optimisation starts from it.
    content_weight: float | None = 0.3
    style_weight: float = 1.0
    tv_weight: float = 2e-4
    features: str = "vgg16"  # Johnson et al.'s perceptual loss: an ImageNet VGG's features
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0


class ContentCrops:
    """A virtual data set of random square crops, mirrored at random, of a few images.

    Item ``i`` is a pure function of (seed, i), so the training loop's exact resume holds.
    """

    def __init__(self, images: Sequence[Tensor], crop: int, seed: int, size: int = 100_000):
        small = [im for im in images if min(im.shape[-2:]) < crop]
        if small:
            raise UserError(
                f"content images must be at least {crop} px on each side "
                f"(one is {tuple(small[0].shape[-2:])}); use larger images or a smaller --crop"
            )
        if not images:
            raise UserError("give at least one content image")
        self.images, self.crop, self.seed, self.size = list(images), crop, seed, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> Tensor:
        rng = np.random.default_rng([self.seed, i])
        image = self.images[i % len(self.images)][0]
        h, w = image.shape[-2:]
        top, left = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        piece = image[:, top : top + self.crop, left : left + self.crop]
        return piece.flip(-1) if rng.random() < 0.5 else piece


def fast_style_loss(
    net: FeatureNet, style: Tensor, config: FastTrainConfig, reference: Tensor
) -> Callable[[nn.Module, Tensor, int], tuple[Tensor, dict[str, Any]]]:
    """``loss_fn(model, batch, step)`` for the training loop: Gatys's losses per crop.

    The style term is divided by its value for the ``reference`` crops left untouched, so
    it starts near 1 for every style: a flat grey texture and a busy painting differ in
    Gram energy by four orders of magnitude, and one content weight then serves both.
    """
    content_weight = net.content_weight if config.content_weight is None else config.content_weight
    with torch.no_grad():
        grams = [gram_matrix(f) for f in net(style, net.style_layers)]
    layer_weights = net.style_layer_weights
    n_content = len(net.content_layers)

    def style_distance(features: Sequence[Tensor]) -> Tensor:
        return sum(
            w * relative_mse(gram_matrix(f), g.expand(len(f), -1, -1))
            for f, g, w in zip(features, grams, layer_weights, strict=True)
        )

    with torch.no_grad():
        scale = float(style_distance(net(reference, net.style_layers))) or 1.0

    def loss_fn(model: nn.Module, batch: Tensor, step: int) -> tuple[Tensor, dict[str, Any]]:
        with torch.no_grad():
            targets = net(batch, net.content_layers)
        out = model(batch)
        features = net(out, net.content_layers + net.style_layers)
        content = sum(
            relative_mse(f, t) for f, t in zip(features[:n_content], targets, strict=True)
        )
        style_term = style_distance(features[n_content:]) / scale
        tv = total_variation(out)
        total = content_weight * content + config.style_weight * style_term + config.tv_weight * tv
        return total, {"content": content.detach(), "style": style_term.detach()}

    return loss_fn


def loop_config(config: Any) -> TrainConfig:
    """The shared training loop's settings for a fast-style recipe (per-style or arbitrary):
    cosine learning rate down to a tenth, no gradient clipping."""
    return TrainConfig(
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        lr_schedule="cosine",
        min_lr=config.lr / 10,
        grad_clip=None,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
        seed=config.seed,
    )


@dataclass
class FastTransfer:
    """How a style run starts from a trained fast style network (``core/transfer.py``).

    ``init``: a model folder from ``image style train`` or a shipped style (``style-...``,
    an arbitrary-style network whose preset code becomes the new style picture's code, as
    its prediction network reads it; the prediction network then stays as it is).
    """

    init: str | Path | None = None
    freeze: tuple[str, ...] = ()  # parts kept as they are (the network's transfer_parts)
    lr_scale: dict[str, float] = field(default_factory=dict)  # part -> learning-rate factor


def train_fast_style(
    style: Tensor,
    contents: Sequence[Tensor],
    out_dir: str | Path,
    config: FastTrainConfig,
    *,
    style_name: str = "",
    net: FeatureNet | None = None,
    resume: bool = False,
    progress: bool = True,
    command: str | None = None,
    options: RunOptions | None = None,
    transfer: FastTransfer | None = None,
) -> TrainResult:
    """Train a transform network for ``style`` ``[1, 3, h, w]`` on crops of ``contents``.

    ``net`` is the loss network ``config.features`` names, when the caller has built it.
    ``transfer`` starts from a trained network, freezes parts of it and scales parts'
    learning rates (``FastTransfer``).
    """
    transfer = transfer or FastTransfer()
    net = net or build_features(config.features, seed=config.seed)
    torch.manual_seed(config.seed)
    if transfer.init is not None:
        model = start_from(transfer.init, style, style_name, config.features)
    else:
        if transfer.freeze:
            raise UserError("freeze needs init: the trained network to keep parts of")
        model_config = replace(config.net, style=style_name, features=config.features)
        model = TransformNet(model_config)
    freeze(model, list(transfer.freeze))
    scales = lr_scales(model, transfer.lr_scale)
    crops = ContentCrops(contents, config.crop, config.seed)
    reference = torch.stack([crops[i] for i in range(REFERENCE_CROPS)])
    return train(
        model,
        crops,
        fast_style_loss(net, style, config, reference),
        loop_config(config),
        out_dir,
        resume=resume,
        progress=progress,
        command=command,
        options=options,
        make_optimizer=scaled_adamw(scales),
    )


def start_from(init: str | Path, style: Tensor, style_name: str, features: str) -> nn.Module:
    """A trained fast style network to fine-tune for ``style``, in training mode.

    A shipped arbitrary-style preset takes the new picture's code from its own prediction
    network (then frozen: the code is fixed for the run), so it starts by painting after
    the new picture as well as it can without training.
    """
    from museforge.image.style.arbitrary import STYLE_SIZE, ArbitraryStyleNet

    model = load_fast_style(init).train()
    if isinstance(model, ArbitraryStyleNet):
        encoder = build_features(model.config.encoder)
        model.keep_style(encoder, resize_long_side(style, STYLE_SIZE), style_name)
        model.predict.requires_grad_(False)
    model.config = replace(model.config, style=style_name, features=features)
    return model


def load_fast_style(name_or_path: str | Path) -> nn.Module:
    """A shipped style by name (``style-...``: a preset of the arbitrary-style network) or a
    model folder from ``image style train`` (a per-style network)."""
    from museforge.image.style.arbitrary import ArbitraryStyleNet

    return load_model(name_or_path, [TransformNet, ArbitraryStyleNet], "a fast style")
