"""The GAN part of the demo gallery: samples, a mixing grid and a looping GIF that
resolve, at the gallery's enlargement, each kept in the store with its model and seed."""

from __future__ import annotations

import re

import torch
from PIL import Image

from museforge.cli.demo import run_demo
from museforge.core.store import Store
from museforge.image.gan import demo
from museforge.image.gan.stylegan import StyleGAN, StyleGANConfig


def test_gan_section_shows_samples_mixing_and_a_walk(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    torch.manual_seed(0)
    config = StyleGANConfig(
        res=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=512, channel_max=16
    )
    monkeypatch.setattr(demo, "MODEL", str(StyleGAN(config).save_pretrained(tmp_path / "gan")))

    index = run_demo(tmp_path / "gallery", seed=3, demos=["museforge.image.gan.demo:demo_section"])
    page = index.read_text()
    pictures = re.findall(r'src="(files/[^"]+\.(?:png|gif))"', page)
    assert [p.rsplit(".", 1)[1] for p in pictures] == ["png", "png", "gif"], pictures
    scale, cell = demo.SCALE, 32 + 2  # a 32 px image and the grid's 2 px gap
    with Image.open(index.parent / pictures[0]) as samples:
        assert samples.size == (scale * (6 * cell + 2), scale * (4 * cell + 2))
    with Image.open(index.parent / pictures[1]) as mixing:
        cols, rows = len(demo.FINE_SEEDS) + 1, len(demo.COARSE_SEEDS) + 1
        assert mixing.size == (scale * (cols * cell + 2), scale * (rows * cell + 2))
    with Image.open(index.parent / pictures[2]) as walk:
        assert walk.is_animated and walk.size == (32 * scale, 32 * scale)
        assert walk.info.get("loop") == 0
    with Store() as store:
        kept = store.list_artifacts(kind="image")
    assert {a.params["command"] for a in kept} == {"gan sample", "gan mix", "gan interpolate"}
    assert {a.seed for a in kept if a.params["command"] == "gan sample"} == {3}


def test_the_section_quotes_the_shipped_models_measured_figures():
    text = demo._measured()
    assert "KID" in text and "MS-SSIM" in text and "faces against faces" in text
