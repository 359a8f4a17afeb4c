"""The image data set for GAN training: decode a folder once, cache square crops, load fast.

A source is a folder of PNG, JPEG or WebP images, or ``skimage:lfw_subset`` (the 100
face images of Labeled Faces in the Wild that scikit-image ships, so demos and tests need
no network). When the folder has sub-folders, each is one class, labelled in name order;
otherwise every image has label 0. Each image is decoded safely by ``museforge.image.io``,
cropped to a square (the centre, or around the largest face the LBP cascade of
scikit-image finds) and resized to ``res`` x ``res`` with Lanczos.

Cache. One ``.npz`` of uint8 images ``[N, 3, res, res]``, int64 labels and the label
names as a fixed-width unicode array; it loads with ``allow_pickle=False`` and is written
atomically, so a failed build leaves no file behind. Mirroring (the x-flips ProGAN trains
with) is recorded at build time and applied per batch by ``mirror_batch``, so an item of
the data set is always the same tensor.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from museforge.core.atomic import atomic_path
from museforge.core.progress import track
from museforge.errors import BadInputFile, UserError, require_dir, require_file
from museforge.image.io import SAMPLE_PREFIX, open_image

if TYPE_CHECKING:
    from skimage.feature import Cascade

log = logging.getLogger(__name__)

CACHE_FORMAT = "museforge-images/1"
RESOLUTIONS = (32, 64, 128, 256)
MIN_SIDE = 8  # pixels: a smaller picture, blown up to 32 px, is a few flat squares
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
LFW_SOURCE = f"{SAMPLE_PREFIX}lfw_subset"
LFW_FACES = 100  # lfw_subset.npy holds 100 faces, then 100 crops that are not faces
# The cascade's box spans brow to mouth; 1.5 times its side takes in the hair and chin.
FACE_MARGIN = 1.5
# Faces are searched in a copy this size at most: a 512 px search takes ~0.3 s, a 4000 px
# one minutes, and a face too small to find at 512 px would be a blur at 256 px anyway.
FACE_SEARCH_SIZE = 512
FACE_MIN_SIZE = 24  # pixels: the frontal-face cascade's own window


class ImageDataset(Dataset[Tensor]):
    """The images of a cache file; an item is a float ``[3, res, res]`` tensor in -1..1."""

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        label_names: list[str],
        *,
        mirror: bool,
        source: str,
    ) -> None:
        self.images = images  # uint8 [N, 3, res, res]
        self.labels = labels  # int64 [N]
        self.label_names = label_names
        self.mirror = mirror  # whether training should x-flip batches (``mirror_batch``)
        self.source = source

    @property
    def res(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Tensor:
        return to_float_pixels(self.images[index])


def to_float_pixels(images: Tensor) -> Tensor:
    """uint8 pixels 0..255 as float32 in -1..1; a float tensor is returned as float32."""
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    return images.float()


def mirror_batch(x: Tensor, generator: torch.Generator) -> Tensor:
    """``x`` ``[N, C, H, W]`` with each image flipped left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)


def build_image_dataset(
    source: str | Path,
    out: str | Path,
    res: int,
    *,
    face_crop: bool = False,
    mirror: bool = True,
    progress: bool = True,
    select: slice | None = None,
) -> Path:
    """Decode ``source`` (a folder or ``skimage:lfw_subset``) into an image cache at ``out``.

    ``select`` keeps part of the source's images, in the order they are listed (e.g.
    ``slice(0, 90)``: the first 90, so the rest stay unseen). Files that cannot be decoded
    are skipped with a warning; if no image is left, the error says so and no file is
    written.
    """
    if res not in RESOLUTIONS:
        raise UserError(f"resolution must be one of {', '.join(map(str, RESOLUTIONS))}, not {res}")
    out = Path(out).expanduser()
    if out.is_dir():
        raise UserError(f"{out}: is a directory; --out needs a file name such as faces.npz")
    files, label_names = _list_sources(source)
    if select is not None:
        files = files[select]
    if not files:
        raise UserError(f"{source}: no PNG, JPEG or WebP images found")
    detector = _face_detector() if face_crop else None

    images = np.empty((len(files), 3, res, res), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    kept = 0
    for label, img in _decode_with_progress(files, progress):
        if img is None:
            continue
        box = _face_box(img, detector) if detector is not None else None
        square = _crop_square(img, box or _centre_square(img), res)
        images[kept] = np.asarray(square, dtype=np.uint8).transpose(2, 0, 1)
        labels[kept] = label
        kept += 1
    if kept == 0:
        raise UserError(f"{source}: none of its {len(files)} images could be read")

    arrays = {
        "format": np.array(CACHE_FORMAT),
        "source": np.array(str(source)),
        "images": images[:kept],
        "labels": labels[:kept],
        "label_names": np.array(label_names, dtype=f"<U{max(1, *map(len, label_names))}"),
        "mirror": np.array(mirror),
    }
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return out


def load_image_dataset(path: str | Path) -> ImageDataset:
    """Load a cache written by ``build_image_dataset`` (no pickle: plain arrays only)."""
    path = require_file(path, "image data set")
    if not zipfile.is_zipfile(path):
        raise BadInputFile(path, "not a museforge image data set", "not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BadInputFile(path, "not a museforge image data set", str(exc)) from exc
    fmt = str(arrays.get("format", ""))
    if fmt != CACHE_FORMAT:
        raise BadInputFile(
            path,
            f"image data set format {fmt!r}, expected {CACHE_FORMAT!r}",
            "rebuild it with build_image_dataset",
        )
    return ImageDataset(
        torch.from_numpy(arrays["images"]),
        torch.from_numpy(arrays["labels"]),
        [str(name) for name in arrays["label_names"]],
        mirror=bool(arrays["mirror"]),
        source=str(arrays["source"]),
    )


# An item to decode: a file, or an image of the bundled LFW subset, and its label.
_Item = tuple[Path | Image.Image, int]


def _list_sources(source: str | Path) -> tuple[list[_Item], list[str]]:
    """Every image of ``source`` with its label, and the label names."""
    text = str(source)
    if text.startswith(SAMPLE_PREFIX):
        if text != LFW_SOURCE:
            raise UserError(f"{text}: no such sample data set; choose {LFW_SOURCE}")
        return [(face, 0) for face in _lfw_faces()], ["face"]
    folder = require_dir(source)
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and _image_files(d))
    if not classes:
        return [(f, 0) for f in _image_files(folder)], [folder.name]
    loose = _image_files(folder)
    if loose:
        log.warning(
            "skipped %d images directly in %s: its sub-folders are the classes",
            len(loose),
            folder,
        )
    items = [(f, label) for label, d in enumerate(classes) for f in _image_files(d)]
    return items, [d.name for d in classes]


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )


def _lfw_faces() -> list[Image.Image]:
    path = Path(str(resources.files("skimage.data").joinpath("lfw_subset.npy")))
    path = require_file(path, "sample data set (is scikit-image installed completely?)")
    faces = np.load(path, allow_pickle=False)[:LFW_FACES]  # grey, 0..1
    pixels = np.round(np.clip(faces, 0.0, 1.0) * 255).astype(np.uint8)
    return [Image.fromarray(face, "L").convert("RGB") for face in pixels]


def _decode_with_progress(
    items: list[_Item], progress: bool
) -> Iterator[tuple[int, Image.Image | None]]:
    """Each item's label and decoded RGB image, or None (and a warning) if it cannot be read."""
    for source, label in track(items, len(items), "reading images", progress):
        yield label, _decode(source)


def _decode(source: Path | Image.Image) -> Image.Image | None:
    if isinstance(source, Image.Image):
        return source
    try:
        img = open_image(source)
    except UserError as err:  # the message starts with the file's path
        log.warning("skipped %s", err)
        return None
    if min(img.size) < MIN_SIDE:
        log.warning(
            "skipped %s: is %d x %d pixels, too small to learn from (at least %d a side)",
            source,
            *img.size,
            MIN_SIDE,
        )
        return None
    return img


def centre_square(img: Image.Image, res: int) -> Image.Image:
    """The centre square of ``img`` resized to ``res`` x ``res``, as a cache without face
    crops holds it."""
    return _crop_square(img, _centre_square(img), res)


def _centre_square(img: Image.Image) -> tuple[float, float, float, float]:
    side = min(img.size)
    left, top = (img.width - side) / 2, (img.height - side) / 2
    return left, top, left + side, top + side


def _crop_square(img: Image.Image, box: tuple[float, float, float, float], res: int) -> Image.Image:
    return img.resize((res, res), Image.Resampling.LANCZOS, box=box)


def _face_detector() -> Cascade:
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def _face_box(img: Image.Image, detector: Cascade) -> tuple[float, float, float, float] | None:
    """A square around the largest face, ``FACE_MARGIN`` times its side, inside the image."""
    scale = min(1.0, FACE_SEARCH_SIZE / max(img.size))
    small = img.convert("L")
    if scale < 1.0:
        small = small.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.LANCZOS,
        )
    if min(small.size) < FACE_MIN_SIZE:
        return None
    faces = detector.detect_multi_scale(
        img=np.asarray(small, dtype=np.float64) / 255.0,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(FACE_MIN_SIZE, FACE_MIN_SIZE),
        max_size=small.size[::-1],
    )
    if not faces:
        return None
    face = max(faces, key=lambda f: f["width"] * f["height"])
    side = min(max(face["width"], face["height"]) * FACE_MARGIN / scale, *img.size)
    centre_x = (face["c"] + face["width"] / 2) / scale
    centre_y = (face["r"] + face["height"] / 2) / scale
    left = min(max(centre_x - side / 2, 0.0), img.width - side)
    top = min(max(centre_y - side / 2, 0.0), img.height - side)
    return left, top, left + side, top + side
