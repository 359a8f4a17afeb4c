"""Pictures to paint: square crops of images that ship with scikit-image, kept in two sets.

Training crops come from scikit-image's sample photos and the first 90 faces of
``lfw_subset``; the held-out set (crops of ``chelsea`` and faces 90-99) never appears in
training, so an agent is measured on pictures it has not seen. Crops are ``[N, 3, S, S]``
uint8 tensors, a pure function of the seed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

TRAIN_PHOTOS = (
    "astronaut",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
HELD_OUT_PHOTOS = ("chelsea",)
TRAIN_FACES = range(0, 90)
HELD_OUT_FACES = range(90, 100)


def _photo(name: str) -> Tensor:
    import skimage.data

    array = getattr(skimage.data, name)()
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0


def _faces(indices: range) -> list[Tensor]:
    import skimage.data

    faces = skimage.data.lfw_subset()[list(indices)]
    return [torch.from_numpy(f).float().expand(3, -1, -1) for f in faces]


def _resize(image: Tensor, size: int) -> Tensor:
    return F.interpolate(
        image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[0]


def _crops(photos: list[Tensor], count: int, size: int, gen: torch.Generator) -> list[Tensor]:
    """``count`` square crops from random photos, each between a quarter and all of the
    photo's shorter side, resized to ``size``."""
    out = []
    for _ in range(count):
        photo = photos[int(torch.randint(len(photos), (1,), generator=gen))]
        _, h, w = photo.shape
        short = min(h, w)
        side = int(torch.randint(short // 4, short + 1, (1,), generator=gen))
        top = int(torch.randint(h - side + 1, (1,), generator=gen))
        left = int(torch.randint(w - side + 1, (1,), generator=gen))
        out.append(_resize(photo[:, top : top + side, left : left + side], size))
    return out


def _to_uint8(images: list[Tensor]) -> Tensor:
    return (torch.stack(images).clamp(0, 1) * 255).round().to(torch.uint8)


def training_pictures(count: int, size: int = 64, seed: int = 0) -> Tensor:
    """``count`` training crops: three in four from the photos, one in four a face."""
    gen = torch.Generator().manual_seed(seed)
    photos = [_photo(n) for n in TRAIN_PHOTOS]
    faces = [_resize(f, size) for f in _faces(TRAIN_FACES)]
    n_faces = count // 4
    picked = torch.randint(len(faces), (n_faces,), generator=gen).tolist()
    return _to_uint8(_crops(photos, count - n_faces, size, gen) + [faces[i] for i in picked])


def held_out_pictures(size: int = 64, crops: int = 6, seed: int = 1) -> Tensor:
    """The pictures agents are measured on: crops of chelsea, then faces 90-99."""
    gen = torch.Generator().manual_seed(seed)
    photos = [_photo(n) for n in HELD_OUT_PHOTOS]
    faces = [_resize(f, size) for f in _faces(HELD_OUT_FACES)]
    return _to_uint8(_crops(photos, crops, size, gen) + faces)


def as_float(pictures: Tensor) -> Tensor:
    """uint8 ``[N, 3, S, S]`` as float32 in 0..1."""
    return pictures.float() / 255.0
