"""`image embed` writes ImageNet features of a folder's pictures; their groups (sub-folders)
are probed, and `map` shows each picture."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from museforge.cli import run
from museforge.core.feature_map import read_features
from museforge.image.io import open_image


@pytest.fixture
def two_kinds(tmp_path):
    """Six crops of the cat photo and six of the rocket photo, in two sub-folders."""
    folder = tmp_path / "pictures"
    for name, sample in (("cats", "skimage:chelsea"), ("rockets", "skimage:rocket")):
        (folder / name).mkdir(parents=True)
        img = open_image(sample)
        w, h = img.size
        for i in range(6):
            box = (i * w // 12, i * h // 24, i * w // 12 + w // 2, i * h // 24 + h // 2)
            img.crop(box).save(folder / name / f"{i}.png")
    (folder / "cats" / "broken.png").write_bytes(b"not a picture")
    return folder


def test_embed_probe_and_map_of_two_kinds_of_picture(two_kinds, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    out = tmp_path / "features"
    assert run(["image", "embed", str(two_kinds), "--out", str(out)]) == 0
    features, items = read_features(out)
    assert features.shape == (12, 1280)  # the broken file skipped
    assert {item.group for item in items} == {"cats", "rockets"}
    assert all(item.picture.startswith("data:image/jpeg;base64,") for item in items)
    probe = json.loads((out / "probe.json").read_text())
    assert probe["accuracy"] >= 0.9 and probe["majority_baseline"] == 0.5
    page = tmp_path / "map.html"
    assert run(["map", str(out), "--out", str(page)]) == 0
    assert page.read_text().count("data:image/jpeg;base64,") == 12


def test_embed_of_a_folder_without_pictures_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "x.gif")
    assert run(["image", "embed", str(tmp_path / "empty"), "--out", str(tmp_path / "f")]) == 2
    assert "no pictures" in capsys.readouterr().err and not (tmp_path / "f").exists()
