"""Neural style transfer by optimising the pixels (Gatys et al. 2016).

Gatys, Ecker and Bethge 2016, "Image Style Transfer Using Convolutional Neural Networks",
in five steps:

1. start from the content image (or noise, or any image),
2. a content loss: the squared error between the result's and the content's features on
   the content layers,
3. a style loss: the squared error between the Gram matrices (channel correlations) of
   the result's and the style's features, summed over the style layers,
4. a total-variation loss against pixel noise,
5. L-BFGS (as in the paper) or Adam on the pixels.

Extras: several styles blended by weight (their Gram matrices mixed); a style scale
(the style image resized relative to the content); colour preservation by luminance-only
transfer (Gatys et al. 2016b, "Preserving Color in Neural Artistic Style Transfer"); a
mask outside which the content stays untouched; coarse-to-fine scales, each result
upsampled as the next start; and an exponential moving average of the iterates as the
output, as in Katherine Crowson's style-transfer-pytorch, which removes the last steps'
jitter and gives sharper large images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import Tensor

from museforge.errors import UserError
from museforge.image.style.features import FeatureNet, build_features

INIT_CHOICES = ("content", "noise", "palette")
OPTIMIZERS = ("adam", "lbfgs")
PRECISIONS = ("auto", "fp32", "bf16")
# Back-propagating through the feature network keeps every layer's activations: ~5 GB at
# 2048 px for random-vgg, four times that at 4096. Larger prints go through fast mode,
# which works in tiles.
MAX_SIZE = 2048


@dataclass
class StyleConfig:
    """Settings of one style transfer; the defaults are measured on 256-512 px images."""

    # optimiser steps at the coarsest scale: L-BFGS iterations (of ``lbfgs_evaluations``
    # loss evaluations each) or Adam steps; 30 L-BFGS steps at 256 px give VGG16's full
    # texture (checked by eye on astronaut x gravel at 512 px)
    steps: int = 30
    size: int = 512  # long side of the result in pixels
    content_weight: float | None = None  # None: the feature network's own (see features.py)
    # the other weights are relative to it; measured over 5 photos x 3 styles at 512 px
    # (benchmarks/bench_style.py), MobileNetV2's judge: 1 gave 0.358, 2 gave 0.318 with the
    # photo still there by eye (a cat's eyes under bricks); 3 lost the cat to the bricks
    style_weight: float = 2.0
    style_layer_weights: tuple[float, ...] | None = None  # None: the network's own
    tv_weight: float = 2e-4  # enough to stop pixel speckle without blurring strokes
    lr: float = 0.02  # Adam's per-step change of a pixel in 0..1: crowsonkb's value
    # lbfgs as in Gatys et al. and jcjohnson's neural-style (measured: the same loss in a
    # third of Adam's evaluations on VGG16), or adam (its lr is ``lr``; L-BFGS' is 1)
    optimizer: str = "lbfgs"
    lbfgs_evaluations: int = 2
    scales: tuple[int, ...] | None = None  # None: 128, 256, ... doubling up to ``size``
    # finer scales only sharpen: half the steps each (measured on astronaut x gravel and
    # chelsea x brick at 512 px: a fifth left the upsampled layout blurred under a fine
    # grid, MobileNetV2's judge 0.57 and 0.57; half gave crisp stones and bricks, 0.47 and
    # 0.51, for 1.4x the time; all the steps, 0.45 and 0.50 for 2.1x; over 5 x 3 pairs
    # with style weight 2, half gave 0.318 and all 0.316 at style weight 1.5)
    later_steps_fraction: float = 0.5
    # the coarsest automatic scale, where the layout is set: at 128 px the per-evaluation
    # overhead of VGG16 on a CPU made steps nearly as dear as at 256, for a blurrier layout
    min_scale: int = 256
    # Scales whose long side exceeds ``fine_from`` only sharpen what the coarser ones laid
    # out: they match the first ``fine_layers`` style layers, with the deepest of them as
    # the content layer, so the network stops early (VGG16 at 512 px: relu3_1 instead of
    # relu5_1, 2.5x fewer operations). None matches every layer at every scale.
    fine_from: int = 384
    fine_layers: int | None = 3
    ema_decay: float = 0.95  # Adam only: the average of the iterates over the last ~20 steps
    # "auto": bfloat16 for the feature network where the CPU computes it natively (measured:
    # 1.9x faster VGG16 steps at 512 px on two threads, the same picture), else float32
    precision: str = "auto"
    # measured (benchmarks/bench_style.py, judged by networks it did not optimise): VGG16
    # moves furthest towards the style and keeps the content; random-multiscale needs no
    # download, random-vgg paints looser strokes
    features: str = "vgg16"
    seed: int = 0
    # palette: the content with each colour channel's histogram matched to the (most
    # weighted) style's, so the optimisation need not move every colour itself (measured
    # over 5 photos x 3 styles at 512 px, from the content: colour judge 0.66 -> 0.38,
    # MobileNetV2 judge 0.457 -> 0.420); with ``preserve_colors``, the luminance's
    # histogram only. Or content; noise; or an image given to ``stylize``
    init: str = "palette"
    preserve_colors: bool = False

    def resolved_scales(self) -> tuple[int, ...]:
        """The long sides to work at, coarse to fine, ending at ``size``."""
        if self.scales:
            return tuple(self.scales)
        scales = [self.size]
        while scales[0] // 2 >= self.min_scale:
            scales.insert(0, scales[0] // 2)
        return tuple(scales)


@dataclass
class StyleResult:
    """The stylised image ``[1, 3, H, W]`` in 0..1 and the loss terms of every step."""

    image: Tensor
    history: list[dict[str, float]] = field(default_factory=list)


# --- the losses -------------------------------------------------------------------------


def gram_matrix(features: Tensor) -> Tensor:
    """``[N, C, H, W]`` -> ``[N, C, C]``: channel correlations averaged over positions.

    Dividing by H * W makes Gram matrices of different image sizes comparable, so a style
    image need not match the content's size.
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def relative_mse(x: Tensor, target: Tensor) -> Tensor:
    """Squared error relative to the target's energy, so layers of any scale weigh alike."""
    return (x - target).square().sum() / target.square().sum().clamp_min(1e-8)


def total_variation(image: Tensor) -> Tensor:
    """Mean squared difference of neighbouring pixels."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.square().mean() + dx.square().mean()


def use_bf16(precision: str) -> bool:
    """Whether ``precision`` asks for bfloat16 features and this CPU computes them natively."""
    if precision == "fp32":
        return False
    return precision == "bf16" or torch.ops.mkldnn._is_mkldnn_bf16_supported()


class StyleLoss(torch.nn.Module):
    """The weighted sum of content, style and total-variation losses against fixed targets."""

    def __init__(
        self,
        net: FeatureNet,
        content: Tensor,
        styles: Sequence[Tensor],
        blend: Sequence[float],
        config: StyleConfig,
        shallow: int | None = None,
    ) -> None:
        """``shallow``: match only the first ``shallow`` style layers, the last of them also
        as the content layer (the fine scales of ``StyleConfig.fine_layers``); ``content``
        is then the coarser scale's result, whose layout is to be kept and sharpened."""
        super().__init__()
        self.net = net
        self.content_weight = (
            net.content_weight if config.content_weight is None else config.content_weight
        )
        self.style_weight, self.tv_weight = config.style_weight, config.tv_weight
        layer_weights = config.style_layer_weights or net.style_layer_weights
        if len(layer_weights) != len(net.style_layers):
            raise UserError(
                f"{len(layer_weights)} style layer weights for "
                f"{len(net.style_layers)} style layers ({', '.join(net.style_layers)})"
            )
        self.content_layers, self.style_layers = net.content_layers, net.style_layers
        self.layer_weights = tuple(layer_weights)
        if shallow is not None and shallow < len(net.style_layers):
            self.style_layers = net.style_layers[:shallow]
            self.content_layers = self.style_layers[-1:]
            self.layer_weights = self.layer_weights[:shallow]
        self.bf16 = use_bf16(config.precision)
        with torch.no_grad():
            self.content_targets = self.features(content, self.content_layers)
            per_style = [
                [gram_matrix(f) for f in self.features(s, self.style_layers)] for s in styles
            ]
            self.gram_targets = [  # the blend of styles: their Gram matrices mixed
                sum(w * g for w, g in zip(blend, grams, strict=True))
                for grams in zip(*per_style, strict=True)
            ]

    def features(self, image: Tensor, layers: Sequence[str]) -> list[Tensor]:
        """The network's feature maps, computed in bfloat16 when asked, returned in float32
        so the Gram matrices and losses keep full precision."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            maps = self.net(image, layers)
        return [f.float() for f in maps]

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        features = self.features(image, self.content_layers + self.style_layers)
        n_content = len(self.content_layers)
        content = sum(
            relative_mse(f, t)
            for f, t in zip(features[:n_content], self.content_targets, strict=True)
        )
        style = sum(
            w * relative_mse(gram_matrix(f), t)
            for f, t, w in zip(
                features[n_content:], self.gram_targets, self.layer_weights, strict=True
            )
        )
        tv = total_variation(image)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"loss": total, "content": content, "style": style, "tv": tv}


# --- colour -------------------------------------------------------------------------------

_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def rgb_to_ycbcr(image: Tensor) -> Tensor:
    """RGB in 0..1 -> YCbCr (ITU-R BT.601, as in JPEG) with Y in 0..1, Cb and Cr around 0."""
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YCBCR, image)


def ycbcr_to_rgb(image: Tensor) -> Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YCBCR), image)


def luminance_only(image: Tensor, like: Tensor | None = None) -> Tensor:
    """The luminance as a grey RGB image; with ``like``, matched to its mean and spread.

    Gatys et al. 2016b match the style's luminance histogram to the content's first
    moments so the style brings texture, not a brightness shift.
    """
    y = rgb_to_ycbcr(image)[:, :1]
    if like is not None:
        ref = rgb_to_ycbcr(like)[:, :1]
        y = (y - y.mean()) / y.std().clamp_min(1e-6) * ref.std() + ref.mean()
    return y.clamp(0, 1).expand(-1, 3, -1, -1)


def keep_colors(result: Tensor, content: Tensor) -> Tensor:
    """The result's luminance with the content's chroma (Cb, Cr)."""
    y = rgb_to_ycbcr(result)[:, :1]
    cbcr = rgb_to_ycbcr(content)[:, 1:]
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0, 1)


# --- the optimisation -------------------------------------------------------------------


def resize_to(image: Tensor, height: int, width: int) -> Tensor:
    """Antialiased bicubic resize of an ``[N, C, H, W]`` tensor, clamped to 0..1."""
    if image.shape[-2:] == (height, width):
        return image
    out = F.interpolate(image, size=(height, width), mode="bicubic", antialias=True)
    return out.clamp(0, 1)


def resize_long_side(image: Tensor, size: int) -> Tensor:
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    return resize_to(image, max(1, round(h * scale)), max(1, round(w * scale)))


def check_blend(n_styles: int, blend: Sequence[float] | None) -> list[float]:
    """Blend weights summing to 1, one per style; equal weights when ``blend`` is None."""
    if n_styles < 1:
        raise UserError("give at least one style image")
    if blend is None:
        return [1 / n_styles] * n_styles
    if len(blend) != n_styles:
        raise UserError(
            f"{len(blend)} blend weights for {n_styles} style images: give one weight per style"
        )
    if any(not (w >= 0) for w in blend) or sum(blend) <= 0:
        raise UserError(f"blend weights must be positive numbers, not {list(blend)}")
    total = sum(blend)
    return [w / total for w in blend]


def stylize(
    content: Tensor,
    styles: Sequence[Tensor],
    config: StyleConfig,
    *,
    blend: Sequence[float] | None = None,
    mask: Tensor | None = None,
    init: Tensor | None = None,
    net: FeatureNet | None = None,
    progress: bool = False,
) -> StyleResult:
    """Paint ``content`` ``[1, 3, H, W]`` in the style of ``styles`` (each ``[1, 3, h, w]``).

    The result has the content's size. Style images are used at the size they are
    given relative to the content, so a style scale is applied by resizing them first.
    ``mask`` (``[1, 1, H, W]``, 1 = stylise) composites the result over the content;
    ``init`` replaces the start image when ``config.init`` is neither content nor noise.
    The same inputs, config and seed give the same pixels.
    """
    weights = check_blend(len(styles), blend)
    if config.optimizer not in OPTIMIZERS:
        raise UserError(f"optimizer {config.optimizer!r}: choose {' or '.join(OPTIMIZERS)}")
    if max(content.shape[-2:]) > MAX_SIZE:
        raise UserError(
            f"the optimisation works up to {MAX_SIZE} px (a {max(content.shape[-2:])} px image "
            "would need more memory than a laptop has); use a fast style (--fast) for "
            "larger prints: it works in tiles"
        )
    if config.precision not in PRECISIONS:
        raise UserError(f"precision {config.precision!r}: choose {', '.join(PRECISIONS)}")
    if config.init not in INIT_CHOICES and init is None:
        raise UserError(f"init {config.init!r}: give an image, or choose content, noise or palette")
    net = net or build_features(config.features, seed=config.seed)
    full_h, full_w = content.shape[-2:]
    if config.preserve_colors:
        styles = [luminance_only(s, like=content) for s in styles]
    scales = config.resolved_scales()
    history: list[dict[str, float]] = []
    image: Tensor | None = None
    with _progress_bar(progress) as report:
        for i, scale in enumerate(scales):
            ratio = scale / max(full_h, full_w)
            h, w = max(1, round(full_h * ratio)), max(1, round(full_w * ratio))
            target = resize_to(content, h, w)
            work = luminance_only(target) if config.preserve_colors else target
            if image is None and config.init == "palette":
                init = match_palette(
                    target, styles[max(range(len(styles)), key=weights.__getitem__)]
                )
            start = _start_image(config, work, image, init, h, w)
            scaled_styles = [resize_to(s, *_scaled(s, ratio)) for s in styles]
            shallow = config.fine_layers if i > 0 and scale > config.fine_from else None
            anchor = start if shallow else work
            loss = StyleLoss(net, anchor, scaled_styles, weights, config, shallow)
            steps = (
                config.steps
                if i == 0
                else max(1, round(config.steps * config.later_steps_fraction))
            )
            label = f"{scale} px ({i + 1}/{len(scales)})"
            image = _optimise(loss, start, steps, config, history, partial(report, label))
    assert image is not None
    image = resize_to(image, full_h, full_w)
    if config.preserve_colors:
        image = keep_colors(image, content)
    if mask is not None:
        image = mask * image + (1 - mask) * content
    return StyleResult(image.detach(), history)


def _scaled(style: Tensor, ratio: float) -> tuple[int, int]:
    h, w = style.shape[-2:]
    return max(1, round(h * ratio)), max(1, round(w * ratio))


def _start_image(
    config: StyleConfig,
    content: Tensor,
    previous: Tensor | None,
    init: Tensor | None,
    h: int,
    w: int,
) -> Tensor:
    """The first scale starts from content, noise or ``init``; later ones from the last result."""
    if previous is not None:
        return resize_to(previous, h, w)
    if config.init == "noise":
        g = torch.Generator().manual_seed(config.seed)
        return torch.rand(content.shape, generator=g)
    if config.init == "content":
        return content.clone()
    assert init is not None  # an image given, or the palette-matched content
    return (
        luminance_only(resize_to(init, h, w)) if config.preserve_colors else resize_to(init, h, w)
    )


def match_palette(image: Tensor, reference: Tensor) -> Tensor:
    """``image`` [1, C, H, W] with each channel's histogram matched to ``reference``'s: every
    pixel takes the reference's value at its own rank (classic histogram specification)."""
    out = torch.empty_like(image)
    for c in range(image.shape[1]):
        source = image[0, c].flatten()
        levels = reference[0, c].flatten().sort().values
        at = torch.linspace(0, len(levels) - 1, len(source)).round().long()
        matched = torch.empty_like(source)
        matched[source.argsort()] = levels[at]
        out[0, c] = matched.view_as(image[0, c])
    return out


def _optimise(
    loss: StyleLoss,
    start: Tensor,
    steps: int,
    config: StyleConfig,
    history: list[dict[str, float]],
    report: Callable[[int, int, float], None],
) -> Tensor:
    """Adam or L-BFGS on the pixels, clamped to 0..1 in the end.

    Adam's iterate is clamped after each step and the result is the bias-corrected average
    of its iterates. L-BFGS optimises the pixels unconstrained: clamping between its
    steps would change the point its curvature pairs describe and send it off course.
    """
    # contiguous: L-BFGS flattens the gradient with a view, which a permuted start refuses
    image = start.clone(memory_format=torch.contiguous_format).requires_grad_(True)
    lbfgs = config.optimizer == "lbfgs"
    if lbfgs:
        optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
            [image], lr=1.0, max_iter=config.lbfgs_evaluations, history_size=20
        )
    else:
        optimizer = torch.optim.Adam([image], lr=config.lr)
    average, total_weight = torch.zeros_like(start), 0.0
    evaluated: list[dict[str, Tensor]] = []  # the loss terms of each evaluation in a step

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        evaluated.append(loss(image))
        evaluated[-1]["loss"].backward()
        return evaluated[-1]["loss"]

    for step in range(1, steps + 1):
        evaluated.clear()
        optimizer.step(closure)
        terms = evaluated[0]  # the loss at the start of this step, as Adam reports it
        if not lbfgs:
            with torch.no_grad():
                image.clamp_(0, 1)
                average.mul_(config.ema_decay).add_(image, alpha=1 - config.ema_decay)
                total_weight = total_weight * config.ema_decay + (1 - config.ema_decay)
        history.append({k: float(v.detach()) for k, v in terms.items()})
        report(step, steps, history[-1]["loss"])
    result = image.detach() if lbfgs else average / total_weight
    return result.clamp(0, 1)


def _progress_bar(enabled: bool) -> AbstractContextManager[Callable[[str, int, int, float], None]]:
    if not enabled:
        return nullcontext(lambda label, step, total, loss: None)
    return _RichBar()


class _RichBar:
    """A rich progress bar on stderr: the scale, steps, loss, elapsed and remaining time."""

    def __enter__(self) -> Callable[[str, int, int, float], None]:
        columns = (
            TextColumn("stylising {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.bar = Progress(*columns, console=Console(stderr=True))
        self.bar.__enter__()
        self.tasks: dict[str, int] = {}
        return self.update

    def update(self, label: str, step: int, total: int, loss: float) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=total, loss="?")
        self.bar.update(self.tasks[label], completed=step, loss=f"{loss:.4g}")

    def __exit__(self, *exc_info: object) -> None:
        self.bar.__exit__(*exc_info)
