"""The GAN image data set: folders become labelled square crops in one cache that loads
without pickle, broken files are skipped by name, and nothing usable is a one-line error."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data
from test_gan_explore import png_claiming_size

from museforge.errors import BadInputFile, UserError
from museforge.image.data import (
    build_image_dataset,
    load_image_dataset,
    mirror_batch,
)


def write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_sub_folders_become_labels_in_name_order(tmp_path):
    write_png(tmp_path / "src" / "dogs" / "a.png", (255, 0, 0))
    write_png(tmp_path / "src" / "dogs" / "b.jpg", (250, 0, 0))
    write_png(tmp_path / "src" / "cats" / "c.png", (0, 0, 255))
    (tmp_path / "src" / "cats" / "notes.txt").write_text("not an image")

    out = build_image_dataset(tmp_path / "src", tmp_path / "out" / "pets.npz", 32, progress=False)
    ds = load_image_dataset(out)

    assert ds.label_names == ["cats", "dogs"]
    assert ds.labels.tolist() == [0, 1, 1]
    assert ds.images.dtype == torch.uint8
    assert ds.images.shape == (3, 3, 32, 32)
    assert ds.res == 32 and len(ds) == 3 and ds.mirror
    cat = ds[0]
    assert cat.shape == (3, 32, 32) and cat.dtype == torch.float32
    assert torch.allclose(cat[:, 16, 16], torch.tensor([-1.0, -1.0, 1.0]))


def test_loose_files_beside_class_folders_are_skipped_with_a_warning(tmp_path, caplog):
    write_png(tmp_path / "src" / "dogs" / "a.png", (255, 0, 0))
    write_png(tmp_path / "src" / "stray.png", (0, 0, 0))
    with caplog.at_level(logging.WARNING):
        out = build_image_dataset(tmp_path / "src", tmp_path / "a.npz", 32, progress=False)
    assert "skipped 1 images directly in" in caplog.text
    assert load_image_dataset(out).label_names == ["dogs"]


def test_loose_files_get_label_zero_and_the_folder_name(tmp_path):
    write_png(tmp_path / "flowers" / "a.png", (0, 255, 0))
    write_png(tmp_path / "flowers" / "b.webp", (0, 200, 0))
    out = build_image_dataset(
        tmp_path / "flowers", tmp_path / "f.npz", 64, mirror=False, progress=False
    )
    ds = load_image_dataset(out)
    assert ds.labels.tolist() == [0, 0]
    assert ds.label_names == ["flowers"]
    assert ds.res == 64 and not ds.mirror


def test_the_centre_square_is_kept(tmp_path):
    img = np.zeros((32, 96, 3), dtype=np.uint8)
    img[:, 32:64] = 255  # the middle third of a wide image is white, its sides black
    Image.fromarray(img).save(tmp_path / "wide.png")
    ds = load_image_dataset(build_image_dataset(tmp_path, tmp_path / "w.npz", 32, progress=False))
    assert ds.images.min() >= 250


def test_the_cache_loads_without_pickle(tmp_path):
    write_png(tmp_path / "src" / "a.png", (1, 2, 3))
    out = build_image_dataset(tmp_path / "src", tmp_path / "a.npz", 32, progress=False)
    with np.load(out, allow_pickle=False) as data:
        assert data["label_names"].dtype.kind == "U"
        assert data["images"].dtype == np.uint8
        assert data["labels"].dtype == np.int64


def test_a_corrupt_file_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    write_png(tmp_path / "src" / "good.png", (9, 9, 9))
    (tmp_path / "src" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with caplog.at_level(logging.WARNING):
        out = build_image_dataset(tmp_path / "src", tmp_path / "a.npz", 32, progress=False)
    assert "broken.png: is not a readable image" in caplog.text
    assert len(load_image_dataset(out)) == 1


def test_an_empty_folder_is_a_one_line_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "a.npz"
    with pytest.raises(UserError, match="no PNG, JPEG or WebP images") as raised:
        build_image_dataset(tmp_path / "empty", out, 32, progress=False)
    assert "\n" not in raised.value.message
    assert not out.exists()


def test_a_folder_of_only_broken_images_is_a_user_error(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(b"garbage")
    out = tmp_path / "a.npz"
    with pytest.raises(UserError, match="none of its 1 images could be read"):
        build_image_dataset(tmp_path / "src", out, 32, progress=False)
    assert not out.exists()


@pytest.mark.parametrize("res", [0, 48, 512])
def test_an_unsupported_resolution_is_a_user_error(tmp_path, res):
    write_png(tmp_path / "a.png", (0, 0, 0))
    with pytest.raises(UserError, match="resolution must be one of 32, 64, 128, 256"):
        build_image_dataset(tmp_path, tmp_path / "a.npz", res, progress=False)


def test_a_file_that_is_not_a_cache_is_refused_by_name(tmp_path):
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(BadInputFile, match="bogus.npz: not a museforge image data set"):
        load_image_dataset(bogus)


def test_lfw_subset_gives_its_hundred_faces(tmp_path):
    out = build_image_dataset("skimage:lfw_subset", tmp_path / "lfw.npz", 32, progress=False)
    ds = load_image_dataset(out)
    assert ds.images.shape == (100, 3, 32, 32)
    assert ds.label_names == ["face"]
    assert torch.equal(ds.images[:, 0], ds.images[:, 1])  # grey faces, as RGB
    item = ds[99]
    assert -1.0 <= float(item.min()) < float(item.max()) <= 1.0


def test_an_unknown_sample_set_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="choose skimage:lfw_subset"):
        build_image_dataset("skimage:astronaut", tmp_path / "a.npz", 32, progress=False)


def test_face_crop_centres_the_face_and_falls_back_to_the_centre(tmp_path):
    (tmp_path / "src").mkdir()
    Image.fromarray(skimage_data.astronaut()).save(tmp_path / "src" / "astronaut.png")
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "src" / "noise.png")
    faces = load_image_dataset(
        build_image_dataset(
            tmp_path / "src", tmp_path / "f.npz", 32, face_crop=True, progress=False
        )
    )
    centres = load_image_dataset(
        build_image_dataset(tmp_path / "src", tmp_path / "c.npz", 32, progress=False)
    )
    # The astronaut's face lies at rows ~70-160, columns ~175-265 of the 512 px photo.
    face_only = Image.fromarray(skimage_data.astronaut()).resize(
        (32, 32), Image.Resampling.LANCZOS, box=(155, 50, 285, 180)
    )
    face_only = torch.from_numpy(np.array(face_only)).permute(2, 0, 1).float()
    assert (faces.images[0].float() - face_only).abs().mean() < 20
    assert (centres.images[0].float() - face_only).abs().mean() > 40
    assert torch.equal(faces.images[1], centres.images[1])  # no face in noise: the centre


def test_mirror_batch_flips_about_half_and_repeats_for_a_seed():
    x = torch.arange(64 * 3 * 2 * 4, dtype=torch.float32).reshape(64, 3, 2, 4)
    first = mirror_batch(x, torch.Generator().manual_seed(7))
    again = mirror_batch(x, torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    flipped = (first != x).flatten(1).any(dim=1)
    assert torch.equal(first[flipped], x[flipped].flip(-1))
    assert 16 <= int(flipped.sum()) <= 48


def _bad_images(folder: Path) -> list[str]:
    """A truncated JPEG, a 30000 x 30000 PNG and a 1 x 1 image; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = folder / "whole.jpg"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(whole, quality=90)
    (folder / "truncated.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    png_claiming_size(folder / "huge.png", 30000, 30000)
    Image.new("RGB", (1, 1), (0, 0, 0)).save(folder / "dot.png")
    return ["truncated.jpg", "huge.png", "dot.png"]


def test_truncated_huge_and_tiny_images_are_skipped_by_name(tmp_path, caplog):
    names = _bad_images(tmp_path / "src")
    write_png(tmp_path / "src" / "good.png", (9, 9, 9))
    with caplog.at_level(logging.WARNING):
        out = build_image_dataset(tmp_path / "src", tmp_path / "a.npz", 32, progress=False)
    assert len(load_image_dataset(out)) == 1
    for name, words in zip(names, ["not a readable image", "too large", "too small"], strict=True):
        assert any(name in r.message and words in r.message for r in caplog.records), name


def test_train_on_nothing_usable_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from museforge.cli import run

    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    _bad_images(tmp_path / "src")
    out = tmp_path / "run"
    assert run(["image", "gan", "train", str(tmp_path / "src"), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == f"error: {tmp_path / 'src'}: none of its 3 images could be read"
    assert not out.exists()


def test_select_keeps_part_of_the_source_in_its_order(tmp_path):
    whole = load_image_dataset(
        build_image_dataset("skimage:lfw_subset", tmp_path / "a.npz", 32, progress=False)
    )
    part = build_image_dataset(
        "skimage:lfw_subset", tmp_path / "b.npz", 32, progress=False, select=slice(90, 100)
    )
    assert torch.equal(load_image_dataset(part).images, whole.images[90:100])
