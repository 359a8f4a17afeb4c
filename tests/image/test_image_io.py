"""Image loading refuses bombs and broken files by name, turns photos upright, and saves
PNGs whole or not at all."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from museforge.errors import BadInputFile, MissingFile, UserError
from museforge.image.io import (
    SAMPLES,
    image_to_tensor,
    labelled_grid,
    load_image,
    load_mask,
    open_image,
    resize_long_side,
    save_png,
    tensor_to_image,
)


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 16)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_header_is_refused_naming_the_file(tmp_path):
    bomb = png_claiming(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(BadInputFile, match="bomb.png.*too large"):
        open_image(bomb)


def test_image_over_our_pixel_cap_is_refused(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(BadInputFile, match=r"big.png: is 300 x 200 pixels"):
        open_image(path, max_pixels=50_000)


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadInputFile, match="broken.jpg: is not a readable image"):
        open_image(broken)
    truncated = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(BadInputFile, match="cut.png"):
        open_image(truncated)
    with pytest.raises(MissingFile, match="nope.png"):
        open_image(tmp_path / "nope.png")


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    upright = open_image(path)
    assert upright.size == (20, 40)
    top = upright.getpixel((10, 5))
    assert top[2] > 200 and top[0] < 60  # the blue half is on top after the rotation


def test_transparency_goes_over_white_and_grey_becomes_rgb(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert open_image(path).getpixel((3, 3)) == (255, 255, 255)
    grey = tmp_path / "grey.png"
    Image.new("L", (8, 8), 77).save(grey)
    assert open_image(grey).mode == "RGB"


def test_samples_load_without_network():
    for name in ("astronaut", "gravel", "immunohistochemistry"):
        t = load_image(f"skimage:{name}", size=32)
        assert t.shape[0:2] == (1, 3) and max(t.shape[-2:]) == 32
    assert len(SAMPLES) == 16
    with pytest.raises(UserError, match="skimage:lena: no such sample"):
        load_image("skimage:lena")


def test_resize_keeps_aspect_and_tensor_round_trip_is_exact():
    img = Image.new("RGB", (300, 150), (12, 34, 56))
    small = resize_long_side(img, 64)
    assert small.size == (64, 32)
    t = image_to_tensor(small)
    assert t.shape == (1, 3, 32, 64) and t.dtype == torch.float32
    assert t.min() >= 0 and t.max() <= 1
    assert tensor_to_image(t).tobytes() == small.tobytes()


def test_mask_is_resized_to_the_content(tmp_path):
    path = tmp_path / "mask.png"
    Image.new("L", (20, 10), 255).save(path)
    mask = load_mask(path, 32, 64)
    assert mask.shape == (1, 1, 32, 64) and torch.allclose(mask, torch.ones_like(mask))


def test_save_png_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_png(torch.rand(1, 3, 8, 8), target)
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(BadInputFile, match="out.png: cannot be written"):
        save_png(torch.rand(1, 3, 8, 8), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_labelled_grid_size():
    img = Image.new("RGB", (50, 25), (200, 0, 0))
    sheet = labelled_grid([[(img, "a"), (img, "b"), (img, "c")], [(None, ""), (img, "d")]], 40)
    assert sheet.size == (3 * (40 + 8) + 8, 2 * (40 + 20 + 8) + 8)
