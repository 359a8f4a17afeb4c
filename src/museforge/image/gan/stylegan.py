"""StyleGAN2 in plain PyTorch, sized for small data sets (Karras et al. 2020).

Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (StyleGAN2):

- Mapping network: ``z`` (normalised to unit second moment, with a normalised label
  embedding beside it when conditional) -> ``w`` through fully connected layers that learn
  100 x slower (Karras et al. 2019). ``w_avg``, a moving average of ``w`` kept as a buffer,
  is the centre of the truncation trick: ``w' = w_avg + psi (w - w_avg)``.
- Synthesis network: a learned constant 4 x 4 input, then per resolution two 3 x 3
  convolutions whose weights are modulated by a style (an affine map of that layer's
  ``w``) and demodulated by their norm (the paper's eq. 1-3, one grouped convolution for
  the batch), per-pixel noise with a learned strength, bias and lrelu(0.2) * sqrt(2). Each
  resolution adds an RGB image (a modulated 1 x 1 convolution, "toRGB") to the upsampled
  sum of the ones before it: the skip generator. Each layer takes its own ``w`` from
  ``ws`` ``[N, num_ws, w_dim]``, which is how styles mix.
- Discriminator: residual blocks down to 4 x 4, the minibatch standard deviation
  (Karras et al. 2018), a convolution, a fully connected layer and one logit, plus the
  projection term of Miyato & Koyama 2018 when conditional.
- Equalised learning rate (Karras et al. 2018) everywhere: weights start as N(0, 1) and
  are scaled by 1/sqrt(fan_in) at run time, so Adam's steps mean the same in every layer.

Simplifications: upsampling and downsampling are bilinear and 2 x 2 average pooling where
the paper uses the [1, 3, 3, 1] filter with transposed or strided convolutions, and there
is no path length regularisation or mixed precision.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.checkpoints import Pretrained
from museforge.errors import UserError
from museforge.image.gan.dcgan import check_images, check_labels, check_latents, check_resolution
from museforge.image.gan.projected import ProjectedConfig, ProjectedDiscriminator

LEAK = 0.2  # lrelu slope throughout
ACT_GAIN = math.sqrt(2)  # lrelu(0.2) * sqrt(2) keeps the variance of a unit input
NOISE_MODES = ("const", "random", "none")
DISCRIMINATORS = ("stylegan", "projected")


@dataclass
class StyleGANConfig:
    """A StyleGAN2's shape; the layer at resolution r has min(channel_base / r, channel_max)."""

    res: int = 32  # output side in pixels: 32, 64, 128 or 256
    z_dim: int = 128  # the paper's 512 is for 1024 px faces; small data needs fewer
    w_dim: int = 128
    mapping_layers: int = 4  # the paper uses 8, ADA 2 for its small data sets
    channel_base: int = 8192  # 256 channels up to 32 px, then half per doubling (32 at 256 px)
    channel_max: int = 256  # the paper's 512 is for 1024 px; a quarter of the weights
    num_classes: int = 0  # 0: unconditional
    channels: int = 3  # image channels
    mapping_lr_mult: float = 0.01  # Karras et al. 2019: the mapping network learns 100 x slower
    w_avg_beta: float = 0.995  # Karras et al.: w_avg keeps 99.5 % of itself per training step
    mbstd_group: int = 4  # Karras et al. 2018: the deviation is taken over groups of 4 images
    # D: "stylegan" (residual, on pixels) or "projected" (Sauer et al. 2021, projected.py)
    discriminator: str = "stylegan"
    projected_res: int = 64  # projected D: the side images are resized to for EfficientNet

    def __post_init__(self) -> None:
        check_resolution(self.res)
        if min(self.z_dim, self.w_dim, self.mapping_layers, self.channels, self.mbstd_group) < 1:
            raise ValueError("z_dim, w_dim, mapping_layers, channels, mbstd_group must be >= 1")
        if min(self.channel_base // self.res, self.channel_max) < 1 or self.num_classes < 0:
            raise ValueError("channel_base must be at least res, channel_max and num_classes >= 0")
        if not (self.mapping_lr_mult > 0 and 0 <= self.w_avg_beta < 1):
            raise ValueError("mapping_lr_mult must be positive and w_avg_beta in [0, 1)")
        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {', '.join(DISCRIMINATORS)}")
        if self.discriminator == "projected" and (
            self.num_classes or self.projected_res < 32 or self.projected_res % 32
        ):
            raise ValueError("a projected D is unconditional and needs projected_res 32, 64, ...")


def _channels(config: StyleGANConfig, r: int) -> int:
    return min(config.channel_base // r, config.channel_max)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, LEAK) * ACT_GAIN


def _normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Karras et al.'s "pixel norm" of a vector: unit mean square along dimension 1."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class EqualLinear(nn.Module):
    """A fully connected layer with equalised learning rate (and ``lr_mult`` slower)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias_init: float = 0.0,
        lr_mult: float = 1.0,
        activate: bool = False,
    ) -> None:
        super().__init__()
        # dividing the stored values by lr_mult and multiplying them back at run time makes
        # Adam's steps lr_mult times smaller relative to them
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mult))
        self.weight_gain = lr_mult / math.sqrt(in_features)
        self.lr_mult = lr_mult
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mult)
        return _lrelu(x) if self.activate else x


class EqualConv2d(nn.Module):
    """A convolution with equalised learning rate, after a 2 x 2 average pool if ``down``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        *,
        bias: bool = True,
        activate: bool = True,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.weight_gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.activate, self.down = activate, down

    def forward(self, x: Tensor) -> Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = F.conv2d(
            x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2
        )
        return _lrelu(x) if self.activate else x


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True) -> Tensor:
    """StyleGAN2's eq. 1-3: each image's own convolution, scaled by its ``styles`` per input.

    ``x`` ``[N, in, H, W]``, ``weight`` ``[out, in, k, k]``, ``styles`` ``[N, in]``. With
    ``demodulate``, each output's weights are divided by their L2 norm, which restores unit
    variance for unit inputs in place of StyleGAN's instance normalisation (and its
    droplet artefacts). The batch runs as one grouped convolution with N groups.
    """
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    wt = weight[None] * styles[:, None, :, None, None] / math.sqrt(c_in * k * k)
    if demodulate:
        wt = wt * (wt.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    x = F.conv2d(
        x.reshape(1, n * c_in, h, w),
        wt.reshape(n * c_out, c_in, k, k),
        padding=k // 2,
        groups=n,
    )
    return x.reshape(n, c_out, h, w)


class StyledConv(nn.Module):
    """Modulated 3 x 3 convolution, noise, bias and lrelu; if ``up``, 2 x bilinear upsampling
    first."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, res: int, *, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start at 1: no change
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))  # the paper starts noise at 0
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))
        self.up = up

    def forward(self, x: Tensor, w: Tensor, noise_mode: str) -> Tensor:
        if self.up:
            x = _upsample(x)
        x = modulated_conv2d(x, self.weight, self.affine(w))
        if noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength
        return _lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """A modulated 1 x 1 convolution to image channels, without demodulation or activation."""

    def __init__(self, c_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=False)
        return x + self.bias[None, :, None, None]


class MappingNetwork(nn.Module):
    """``z`` ``[N, z_dim]`` (and labels ``[N]``) -> ``ws`` ``[N, num_ws, w_dim]``, w repeated."""

    def __init__(self, config: StyleGANConfig, num_ws: int) -> None:
        super().__init__()
        self.config = c = config
        self.num_ws = num_ws
        self.embed = nn.Embedding(c.num_classes, c.w_dim) if c.num_classes else None
        dims = [c.z_dim + (c.w_dim if c.num_classes else 0)] + [c.w_dim] * c.mapping_layers
        self.net = nn.Sequential(
            *(
                EqualLinear(a, b, lr_mult=c.mapping_lr_mult, activate=True)
                for a, b in itertools.pairwise(dims)
            )
        )
        self.register_buffer("w_avg", torch.zeros(c.w_dim))

    def forward(
        self,
        z: Tensor,
        labels: Tensor | None = None,
        *,
        truncation_psi: float = 1.0,
        update_w_avg: bool = False,
    ) -> Tensor:
        """``update_w_avg`` (in training steps of G) moves ``w_avg`` toward this batch's mean,
        unless the mapping is frozen (``--freeze mapping``): then ``w`` keeps its source
        distribution and ``w_avg`` its centre."""
        check_latents(z, labels, self.config.z_dim, self.config.num_classes)
        x = _normalize_2nd_moment(z)
        if self.embed is not None:
            x = torch.cat([x, _normalize_2nd_moment(self.embed(labels))], dim=1)
        w = self.net(x)
        if update_w_avg and any(p.requires_grad for p in self.net.parameters()):
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.config.w_avg_beta))
        if truncation_psi != 1.0:
            w = self.w_avg.lerp(w, truncation_psi)
        return w[:, None, :].expand(-1, self.num_ws, -1)


class SynthesisNetwork(nn.Module):
    """``ws`` ``[N, num_ws, w_dim]`` -> images ``[N, channels, res, res]`` (not clamped)."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        c = config
        ch = partial(_channels, c)
        self.const = nn.Parameter(torch.randn(ch(4), 4, 4))
        blocks = [nn.ModuleList([StyledConv(ch(4), ch(4), c.w_dim, 4)])]
        to_rgbs = [ToRGB(ch(4), c.channels, c.w_dim)]
        for r in (2**i for i in range(3, c.res.bit_length())):
            up = StyledConv(ch(r // 2), ch(r), c.w_dim, r, up=True)
            blocks.append(nn.ModuleList([up, StyledConv(ch(r), ch(r), c.w_dim, r)]))
            to_rgbs.append(ToRGB(ch(r), c.channels, c.w_dim))
        self.blocks, self.to_rgbs = nn.ModuleList(blocks), nn.ModuleList(to_rgbs)
        # each convolution takes one w, and each toRGB shares one with the next convolution
        self.num_ws = sum(len(b) for b in blocks) + 1
        self.w_dim = c.w_dim

    def forward(self, ws: Tensor, noise_mode: str = "random") -> Tensor:
        if ws.dim() != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise UserError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise UserError(
                f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}"
            )
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        img, i = None, 0
        for convs, to_rgb in zip(self.blocks, self.to_rgbs, strict=True):
            for conv in convs:
                x = conv(x, ws[:, i], noise_mode)
                i += 1
            rgb = to_rgb(x, ws[:, i])
            img = rgb if img is None else _upsample(img) + rgb
        return img


class StyleGANGenerator(nn.Module):
    """Mapping and synthesis: ``z`` ``[N, z_dim]`` (and labels) -> images ``[N, C, res, res]``.

    The output is not clamped (clamping would stop gradients); ``StyleGAN.generate`` clamps.
    """

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(config, self.num_ws)

    def forward(
        self,
        z: Tensor,
        labels: Tensor | None = None,
        *,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
        update_w_avg: bool = False,
    ) -> Tensor:
        ws = self.mapping(z, labels, truncation_psi=truncation_psi, update_w_avg=update_w_avg)
        return self.synthesis(ws, noise_mode)

    def mix(
        self,
        z1: Tensor,
        z2: Tensor,
        crossover: int,
        labels: Tensor | None = None,
        *,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
    ) -> Tensor:
        """Style mixing: layers before ``crossover`` take ``z1``'s w, the rest ``z2``'s.

        Layer 0 is the 4 x 4 convolution; 0 gives ``z2``'s image, ``num_ws`` ``z1``'s.
        """
        if z1.shape != z2.shape:
            raise UserError(f"z1 and z2 differ in shape: {tuple(z1.shape)}, {tuple(z2.shape)}")
        if not 0 <= crossover <= self.num_ws:
            raise UserError(f"crossover must lie in 0..{self.num_ws}, not {crossover}")
        ws1 = self.mapping(z1, labels, truncation_psi=truncation_psi)
        ws2 = self.mapping(z2, labels, truncation_psi=truncation_psi)
        ws = torch.cat([ws1[:, :crossover], ws2[:, crossover:]], dim=1)
        return self.synthesis(ws, noise_mode)


def minibatch_stddev(x: Tensor, group_size: int) -> Tensor:
    """``x`` with one more channel: the mean standard deviation of the features of its group.

    Karras et al. 2018: it lets D see how varied a batch is, which discourages mode
    collapse. Consecutive images form groups of ``group_size``; the last group is smaller
    when the batch is not a multiple of it, and a lone last image joins the group before.
    """
    n = x.shape[0]
    groups = -(-n // group_size)
    if n > 1 and n % group_size == 1:
        groups -= 1
    group = (torch.arange(n, device=x.device) // group_size).clamp(max=groups - 1)
    member = F.one_hot(group, groups).to(x.dtype)  # [N, groups]
    size = member.sum(dim=0)[:, None]
    flat = x.flatten(1)
    mean = member.T @ flat / size
    var = member.T @ (flat - mean[group]).square() / size
    std = (var + 1e-8).sqrt().mean(dim=1)  # [groups]
    return torch.cat([x, std[group][:, None, None, None].expand(n, 1, *x.shape[2:])], dim=1)


class DiscriminatorBlock(nn.Module):
    """StyleGAN2's residual block: two 3 x 3 convolutions beside a 1 x 1 skip, half the size."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3)
        self.conv1 = EqualConv2d(c_in, c_out, 3, down=True)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False, activate=False, down=True)

    def forward(self, x: Tensor) -> Tensor:
        # the sum of two unit-variance paths, scaled back to unit variance
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class StyleGANDiscriminator(nn.Module):
    """Images ``[N, channels, res, res]`` (and labels ``[N]``) -> logits ``[N]`` (real > 0)."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = c = config
        ch = partial(_channels, c)
        self.from_rgb = EqualConv2d(c.channels, ch(c.res), 1)
        sizes = [2**i for i in range(c.res.bit_length() - 1, 2, -1)]  # res, ..., 8
        self.blocks = nn.Sequential(*(DiscriminatorBlock(ch(r), ch(r // 2)) for r in sizes))
        self.conv = EqualConv2d(ch(4) + 1, ch(4), 3)
        self.fc = EqualLinear(ch(4) * 4 * 4, ch(4), activate=True)
        self.out = EqualLinear(ch(4), 1)
        self.embed = nn.Embedding(c.num_classes, ch(4)) if c.num_classes else None

    def features(self, x: Tensor) -> Tensor:
        """``[N, channels at 4 px]``: what D's last layer reads (its penultimate features)."""
        check_images(x, self.config.channels, self.config.res)
        x = self.blocks(self.from_rgb(x))
        x = self.conv(minibatch_stddev(x, self.config.mbstd_group))
        return self.fc(x.flatten(1))

    def layers(self) -> list[nn.Module]:
        """D's layers from the image inwards: what Freeze-D freezes the first of."""
        return [self.from_rgb, *self.blocks, self.conv, self.fc, self.out]

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        check_labels(labels, self.config.num_classes, x.shape[0])
        h = self.features(x)
        logits = self.out(h).squeeze(1)
        if self.embed is not None:  # equalised: the embedding is N(0, 1), scaled at run time
            logits = logits + (self.embed(labels) * h).sum(dim=1) / math.sqrt(h.shape[1])
        return logits


@torch.no_grad()
def with_mapping_lr_mult(model: StyleGAN, lr_mult: float) -> StyleGAN:
    """The same model (every output unchanged) whose mapping networks learn at ``lr_mult``.

    An equalised layer stores its weights divided by its multiplier, so changing the
    multiplier rescales what is stored; Adam's steps then move the mapping ``lr_mult``
    times as fast as the synthesis layers.
    """
    if not lr_mult > 0:
        raise UserError(f"lr_mult must be positive, not {lr_mult}")
    ratio = model.config.mapping_lr_mult / lr_mult
    out = StyleGAN(replace(model.config, mapping_lr_mult=lr_mult))
    out.load_state_dict(model.state_dict())
    for G in (out.G, out.G_ema):
        for layer in G.mapping.net:
            layer.weight.mul_(ratio)
            layer.bias.mul_(ratio)
    return out.train(model.training)


@torch.no_grad()
def spread_styles(model: StyleGAN, factor: float) -> StyleGAN:
    """The same model whose images at truncation psi 1 are its images at psi ``factor``.

    Every synthesis layer reads ``w`` through an affine map ``A w + b``, so moving each
    ``w`` ``factor`` times as far from ``w_avg`` folds into those maps:
    ``A' = factor A`` and ``b' = b + (1 - factor) A w_avg``. With ``factor`` > 1 this
    widens a mapping network whose outputs lie too close together (it learns 100 x
    slower than the rest, so a short run leaves it near its random start); training
    goes on from there at psi 1.
    """
    if not factor > 0:
        raise UserError(f"factor must be positive, not {factor}")
    out = copy.deepcopy(model)
    for G in (out.G, out.G_ema):
        w_avg = G.mapping.w_avg
        for layer in G.synthesis.modules():
            if isinstance(layer, StyledConv | ToRGB):
                affine = layer.affine
                shift = F.linear(w_avg, affine.weight * affine.weight_gain) / affine.lr_mult
                affine.bias.add_((1 - factor) * shift)
                affine.weight.mul_(factor)
    return out


def make_discriminator(config: StyleGANConfig) -> nn.Module:
    """The D that ``config.discriminator`` names."""
    if config.discriminator == "projected":
        return ProjectedDiscriminator(
            config.channels, config.res, ProjectedConfig(input_res=config.projected_res)
        )
    return StyleGANDiscriminator(config)


class StyleGAN(nn.Module, Pretrained):
    """G, D and ``G_ema`` (G's weights averaged over training), saved and loaded together.

    Samples come from ``G_ema``, as in the paper: the average of G's recent weights makes
    better images than any one of them. The training loop calls ``update_ema`` after each
    step of G; the paper's decay is ``0.5 ** (batch_size / 10_000)`` (a half-life of 10k
    images).
    """

    config_class = StyleGANConfig
    model_type = "stylegan"

    def __init__(self, config: StyleGANConfig | None = None) -> None:
        super().__init__()
        self.config = config or StyleGANConfig()
        self.G = StyleGANGenerator(self.config)
        self.D = make_discriminator(self.config)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)

    def transfer_parts(self) -> dict[str, list[nn.Module]]:
        """The parts ``--freeze`` and ``--lr-scale`` name (see ``core/transfer.py``): G, its
        mapping and synthesis networks, D, and D's layers from the image inwards, ``D.0``
        first (freezing ``D.0`` .. ``D.k-1`` is Freeze-D with k layers)."""
        parts = {
            "G": [self.G],
            "mapping": [self.G.mapping],
            "synthesis": [self.G.synthesis],
            "D": [self.D],
        }
        if isinstance(self.D, StyleGANDiscriminator):
            parts |= {f"D.{i}": [layer] for i, layer in enumerate(self.D.layers())}
        return parts

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """``G_ema = decay * G_ema + (1 - decay) * G``; buffers (``w_avg``, noise) are copied.

        A frozen part of G (no gradient) is not averaged: G_ema keeps its own weights there,
        so a part kept as it is by ``--freeze`` stays as it was in the samples too."""
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], not {decay}")
        for ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            if p.requires_grad:
                ema.lerp_(p, 1.0 - decay)
        for ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            ema.copy_(b)

    @torch.no_grad()
    def generate(
        self,
        z: Tensor,
        labels: Tensor | None = None,
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
    ) -> Tensor:
        """Images ``[N, channels, res, res]`` in -1..1 from ``G_ema``.

        ``truncation_psi`` < 1 trades variety for quality (0: every z gives the average
        image); ``noise_mode`` "const" makes an image a function of ``z`` alone.
        """
        images = self.G_ema(z, labels, truncation_psi=truncation_psi, noise_mode=noise_mode)
        return images.clamp(-1.0, 1.0)

    @torch.no_grad()
    def mix(
        self,
        z1: Tensor,
        z2: Tensor,
        crossover: int,
        labels: Tensor | None = None,
        truncation_psi: float = 1.0,
        noise_mode: str = "const",
    ) -> Tensor:
        """``generate`` with coarse styles (layers before ``crossover``) from z1, fine from z2."""
        images = self.G_ema.mix(
            z1, z2, crossover, labels, truncation_psi=truncation_psi, noise_mode=noise_mode
        )
        return images.clamp(-1.0, 1.0)
