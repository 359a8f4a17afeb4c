"""Images in and out, safely: Pillow decodes, torch computes, PNGs are written atomically.

Loading never trusts a file: Pillow's decompression-bomb check stays on, our own pixel cap
(``MAX_PIXELS``) is lower still, and anything Pillow cannot decode becomes a
``BadInputFile`` naming the file. Images are turned upright by their EXIF orientation and
converted to RGB (transparent pixels over white). Tensors are ``[1, 3, H, W]`` float32 in
0..1. ``skimage:NAME`` names one of scikit-image's sample images, which ship with the
package, so demos and tests need no network.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError
from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.errors import BadInputFile, UserError, require_file

# 40 MP: a 7700 x 5200 photo fits; beyond it one float32 copy alone takes ~0.5 GB.
MAX_PIXELS = 40_000_000

SAMPLE_PREFIX = "skimage:"
# scikit-image sample name -> its file in skimage/data (public domain or CC0)
SAMPLES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "coins": "coins.png",
    "color": "color.png",
    "camera": "camera.png",
    "moon": "moon.png",
    "text": "text.png",
    "page": "page.png",
}


def resolve_source(source: str | Path) -> Path:
    """The file behind ``source``: a path, or ``skimage:NAME`` for a sample image."""
    text = str(source)
    if not text.startswith(SAMPLE_PREFIX):
        return require_file(source, "image file")
    name = text[len(SAMPLE_PREFIX) :]
    if name not in SAMPLES:
        raise UserError(
            f"{text}: no such sample image; choose from "
            + ", ".join(SAMPLE_PREFIX + n for n in SAMPLES)
        )
    path = Path(str(resources.files("skimage.data").joinpath(SAMPLES[name])))
    return require_file(path, "sample image (is scikit-image installed completely?)")


def open_image(source: str | Path, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image file (or ``skimage:NAME``) to an upright RGB Pillow image."""
    path = resolve_source(source)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; a warning is a refusal here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise _too_big(path, width, height, max_pixels)
                img.load()
                img = ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadInputFile(
            path, "is too large to open safely (a decompression bomb?)", str(err)
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BadInputFile(
            path, "is not a readable image", str(err) or type(err).__name__
        ) from None
    return _to_rgb(img)


def _too_big(path: Path, width: int, height: int, max_pixels: int) -> BadInputFile:
    return BadInputFile(
        path,
        f"is {width} x {height} pixels, more than the limit of {max_pixels / 1e6:.0f} MP",
        "shrink it first",
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over white (what a viewer shows)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit and float greyscale
        array = np.asarray(img, dtype=np.float64)
        span = max(float(array.max() - array.min()), 1e-12)
        img = Image.fromarray(np.round((array - array.min()) / span * 255).astype(np.uint8))
    if img.mode == "P" or "A" in img.getbands():
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def resize_long_side(img: Image.Image, size: int) -> Image.Image:
    """Scale ``img`` so its longer side is ``size`` pixels (Lanczos, so it is antialiased)."""
    if size < 1:
        raise UserError(f"image size must be at least 1 pixel, not {size}")
    width, height = img.size
    scale = size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new == img.size:
        return img
    return img.resize(new, Image.Resampling.LANCZOS)


def image_to_tensor(img: Image.Image) -> Tensor:
    """An RGB Pillow image as a ``[1, 3, H, W]`` float32 tensor in 0..1."""
    array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(tensor: Tensor) -> Image.Image:
    """A ``[1, 3, H, W]`` or ``[3, H, W]`` tensor in 0..1 as an 8-bit RGB Pillow image."""
    t = tensor.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    array = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")


def load_image(
    source: str | Path, size: int | None = None, *, max_pixels: int = MAX_PIXELS
) -> Tensor:
    """Read an image as a ``[1, 3, H, W]`` tensor in 0..1, its long side ``size`` if given."""
    img = open_image(source, max_pixels=max_pixels)
    if size is not None:
        img = resize_long_side(img, size)
    return image_to_tensor(img)


def load_mask(
    source: str | Path, height: int, width: int, *, max_pixels: int = MAX_PIXELS
) -> Tensor:
    """A greyscale mask as a ``[1, 1, H, W]`` tensor in 0..1 (white = 1), resized to fit."""
    img = open_image(source, max_pixels=max_pixels).convert("L")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None, None]


def save_png(image: Image.Image | Tensor, path: str | Path) -> Path:
    """Write ``image`` as a PNG atomically: a crash leaves the old file or none, never half."""
    img = tensor_to_image(image) if isinstance(image, Tensor) else image
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            img.save(tmp, format="PNG")
    except OSError as err:
        raise BadInputFile(path, f"cannot be written: {err.strerror or err}") from None
    return path


def labelled_grid(
    rows: Sequence[Sequence[tuple[Image.Image | None, str]]],
    tile: int,
    *,
    gap: int = 8,
    label_height: int = 20,
) -> Image.Image:
    """A contact sheet: each cell an image fitted into a ``tile`` square, its label below.

    A ``None`` image leaves its cell blank (only the label is drawn). The sheet is
    ``columns * (tile + gap) + gap`` wide and ``rows * (tile + label_height + gap) + gap``
    high, white, with the images centred in their cells.
    """
    columns = max(len(row) for row in rows)
    cell_h = tile + label_height
    sheet = Image.new(
        "RGB",
        (columns * (tile + gap) + gap, len(rows) * (cell_h + gap) + gap),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, row in enumerate(rows):
        for c, (img, label) in enumerate(row):
            x, y = gap + c * (tile + gap), gap + r * (cell_h + gap)
            if img is not None:
                fitted = resize_long_side(img, tile)
                sheet.paste(
                    fitted, (x + (tile - fitted.width) // 2, y + (tile - fitted.height) // 2)
                )
            text = _fit_text(draw, label, font, tile)
            draw.text((x, y + tile + 4), text, fill=(0, 0, 0), font=font)
    return sheet


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text``, shortened with an ellipsis at the front until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("..." + text, font=font) > width:
        text = text[1:]
    return "..." + text
