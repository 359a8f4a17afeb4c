"""Files people hand to the studio, checked before anything is kept.

A name is refused if it could name a path (``/``, ``\\``, ``..``, a leading dot, control
characters); the bytes are read only up to the size limit; the type is decided by the
content (PNG and JPEG signatures, ``MThd`` for MIDI), and the name's ending must agree with
it; an image's pixel count is read from its header before any pixel is decoded. Only then
is the file added to the store, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass
from typing import Any

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from museforge.core.store import Artifact, Store
from museforge.errors import UserError

CHUNK = 1 << 16
_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,200}")
KINDS = {  # what a file is -> (signatures, name endings, store kind)
    "png": ((b"\x89PNG\r\n\x1a\n",), (".png",), "image"),
    "jpeg": ((b"\xff\xd8\xff",), (".jpg", ".jpeg"), "image"),
    "midi": ((b"MThd",), (".mid", ".midi"), "melody"),
}


class UploadRefused(UserError):
    """An upload that is not kept; the message names the file and the reason."""

    status = 400


class UploadTooLarge(UploadRefused):
    status = 413


@dataclass(frozen=True)
class Checked:
    name: str
    data: bytes
    kind: str  # png, jpeg or midi


def check_name(name: str | None) -> str:
    """The upload's own name, refused if it could reach outside a folder."""
    name = name or ""
    if not _NAME.fullmatch(name) or name.startswith(".") or ".." in name:
        raise UploadRefused(f"{name!r}: refused file name (no folders, '..' or hidden names)")
    return name


async def read_upload(upload: UploadFile, allowed: tuple[str, ...], max_bytes: int) -> Checked:
    """The upload's bytes, if its name, size and content are what ``allowed`` kinds are."""
    name = check_name(upload.filename)
    chunks, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLarge(f"{name}: larger than the upload limit of {max_bytes >> 20} MB")
        chunks.append(chunk)
    data = b"".join(chunks)
    kind = next(
        (k for k in allowed if any(data.startswith(sig) for sig in KINDS[k][0])),
        None,
    )
    wanted = " or ".join(k.upper() for k in allowed)
    if kind is None:
        raise UploadRefused(f"{name}: its content is not a {wanted} file")
    if not name.lower().endswith(KINDS[kind][1]):
        raise UploadRefused(
            f"{name}: the content is {kind.upper()} but the name ends otherwise; rename it"
        )
    return Checked(name, data, kind)


def check_pixels(checked: Checked, max_pixels: int) -> tuple[int, int]:
    """The image's width and height from its header, refused beyond ``max_pixels``."""
    if checked.kind == "png" and len(checked.data) >= 24:  # IHDR: read before Pillow's check
        width, height = struct.unpack(">II", checked.data[16:24])
        _check_size(checked.name, width, height, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(checked.data)) as img:
                width, height = img.size
                _check_size(checked.name, width, height, max_pixels)
                img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadRefused(f"{checked.name}: too many pixels to open safely ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UploadRefused(f"{checked.name}: not a readable image ({exc})") from None
    return width, height


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise UploadRefused(
            f"{name}: {width} x {height} pixels is more than the limit of "
            f"{max_pixels / 1e6:.0f} MP; shrink it first"
        )


def upload_limits(config: Any) -> dict[str, int]:
    """The studio config's limits, as ``check_upload`` takes them."""
    return {"max_bytes": config.max_upload_bytes, "max_pixels": config.max_upload_pixels}


async def check_upload(
    upload: UploadFile, allowed: tuple[str, ...], *, max_bytes: int, max_pixels: int
) -> Checked:
    """The upload read and checked whole (name, size, content, pixels); nothing kept yet."""
    checked = await read_upload(upload, allowed, max_bytes)
    if checked.kind in ("png", "jpeg"):
        check_pixels(checked, max_pixels)
    return checked


def keep_checked(store: Store, checked: Checked, role: str) -> Artifact:
    """Add a checked upload to the store as material a person gave."""
    return store.add_bytes(
        checked.data,
        KINDS[checked.kind][1][0],
        kind=KINDS[checked.kind][2],
        note=f"uploaded as {role} ({checked.name})",
        params={"uploaded": checked.name, "role": role},
    )
