"""Image features a person can use: each picture of a folder as ImageNet features.

A picture's feature is MobileNetV2's global-average-pooled last feature map (1,280 numbers;
``core/pretrained``), read at ``SIZE`` px on the short side, centre-cropped square: the
representation a classifier trained on ImageNet reads its labels from. Items carry a small
thumbnail for ``museforge map``; a picture in a sub-folder is grouped by that sub-folder's
name (so a folder of folders maps and probes its classes).
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import torch

from museforge.core.feature_map import FeatureItem
from museforge.core.pretrained.mobilenet_v2 import load_mobilenet_v2
from museforge.core.progress import track
from museforge.errors import BadInputFile, UserError, require_dir
from museforge.image.data import IMAGE_SUFFIXES, centre_square
from museforge.image.io import image_to_tensor, open_image

log = logging.getLogger(__name__)
SIZE = 224  # MobileNetV2's ImageNet input
THUMB = 64  # thumbnail side in the map, px
LAYER = "features.18"  # the last feature map, 1,280 channels
MAX_IMAGES = 20_000


def image_files(folder: str | Path) -> list[Path]:
    """The pictures in ``folder`` and its sub-folders, sorted."""
    folder = require_dir(folder)
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise UserError(f"{folder}: no pictures (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(files) > MAX_IMAGES:
        raise UserError(f"{folder}: {len(files)} pictures, more than {MAX_IMAGES} at once")
    return files


@torch.no_grad()
def embed_images(
    folder: str | Path, progress: bool = True
) -> tuple[torch.Tensor, list[FeatureItem]]:
    """Features [N, 1280] of every readable picture under ``folder``; unreadable ones are
    skipped with a warning."""
    root = Path(folder)
    files = image_files(root)
    net = load_mobilenet_v2()
    features, items = [], []
    for path in track(files, len(files), "embedding pictures", progress):
        try:
            square = centre_square(open_image(path), SIZE)
        except BadInputFile as err:
            log.warning("skipped %s: %s", path, err)
            continue
        (fmap,) = net(image_to_tensor(square), [LAYER])
        features.append(fmap.mean(dim=(2, 3))[0])
        relative = path.relative_to(root)
        group = relative.parts[0] if len(relative.parts) > 1 else ""
        items.append(FeatureItem(relative.as_posix(), path.name, group, picture=_thumbnail(square)))
    if not items:
        raise UserError(f"{folder}: none of its {len(files)} pictures could be read")
    return torch.stack(features), items


def _thumbnail(img) -> str:  # noqa: ANN001 (a PIL image)
    small = img.resize((THUMB, THUMB))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
