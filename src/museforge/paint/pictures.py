"""Pictures and masks in, safely: Pillow decodes, under a pixel limit checked before decoding.

A picture is a file or ``skimage:NAME`` (a sample photo that ships with scikit-image).
The size in a file's header is checked against ``MAX_PIXELS`` before any pixel is decoded,
Pillow's decompression-bomb check stays on, and any file Pillow cannot read becomes a
``BadInputFile`` naming it. Tensors are ``[1, C, H, W]`` float32 in 0..1.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from museforge.errors import BadInputFile, UserError, require_file

MAX_PIXELS = 40_000_000  # the same cap as every other medium's pictures
SAMPLE_PREFIX = "skimage:"
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def is_sample(source: str | Path) -> bool:
    return str(source).startswith(SAMPLE_PREFIX)


def check_source(source: str | Path) -> None:
    """Fail early, before any work, for a missing file or an unknown sample name."""
    if is_sample(source):
        name = str(source)[len(SAMPLE_PREFIX) :]
        if name not in SAMPLES:
            raise UserError(
                f"{source}: no such sample picture; choose from "
                + ", ".join(SAMPLE_PREFIX + n for n in SAMPLES)
            )
    else:
        require_file(source, "picture file")


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise BadInputFile(
                        path,
                        f"is {width} x {height} pixels, more than the limit of "
                        f"{MAX_PIXELS / 1e6:.0f} MP",
                        "shrink it first",
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadInputFile(
            path, f"has more pixels than the limit of {MAX_PIXELS / 1e6:.0f} MP", str(err)
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BadInputFile(
            path, "is not a readable image", str(err) or type(err).__name__
        ) from None
    if img.mode == "P" or "A" in img.getbands():
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def load_picture(source: str | Path) -> Tensor:
    """A picture as ``[1, 3, H, W]`` in 0..1."""
    check_source(source)
    if is_sample(source):
        import skimage.data

        array = getattr(skimage.data, str(source)[len(SAMPLE_PREFIX) :])()
    else:
        array = np.asarray(_open(Path(source).expanduser()))
    return torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].float() / 255.0


def load_mask(source: str | Path, height: int, width: int) -> Tensor:
    """A mask ``[1, 1, height, width]`` in 0..1: white where the canvas is kept as it is."""
    check_source(source)
    grey = load_picture(source).mean(dim=1, keepdim=True)
    return fit(grey, height, width)


def fit(image: Tensor, height: int, width: int) -> Tensor:
    """``image [1, C, h, w]`` resized to ``height x width`` (antialiased)."""
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(
        image, size=(height, width), mode="bilinear", antialias=True, align_corners=False
    ).clamp(0, 1)


def working_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the longer side ``long_side`` and the picture's proportions."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_image(canvas: Tensor) -> Image.Image:
    """A canvas ``[1, 3, H, W]`` as an 8-bit RGB Pillow image."""
    array = (canvas[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")
